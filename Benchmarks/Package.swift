// swift-tools-version: 6.1
// Micro-benchmarks of Tollgate's Core (JWT verification, the token cache, route matching) with
// ordo-one/benchmark, speed-loop, which measures signature checks the way `openssl speed` does, and
// l4-forwarder, the SwiftNIO TCP forwarder bench/run-proxy-bench.sh uses as a ceiling.
// A package of its own, so that building the root package (CI) never pays for the benchmark harness.
// From this directory:
//
//     swift package --scratch-path .build-bench benchmark
//     ./run.sh          # both, plus `openssl speed` for the same algorithms, and the ratios
//
// See docs/benchmarks.md, "JWT verification and route matching (micro)".
import PackageDescription

let package = Package(
    name: "TollgateBenchmarks",
    platforms: [.macOS(.v14)],
    dependencies: [
        // The root package; only its `Core` library is built.
        .package(name: "Tollgate", path: ".."),
        // Only the MallocInterposer trait: the default traits also ask for swift-runtime-interposer,
        // which this machine's package mirror does not have.
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
        // The L4 forwarder's dependency, and NIO's HTTP/1 decoder as the head parser benchmark's comparison.
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
    ],
    targets: [
        // Fixtures (tokens, keys, policy sets from the repository) shared by both executables.
        .target(
            name: "BenchSupport",
            dependencies: [.product(name: "Core", package: "Tollgate")],
            path: "Sources/BenchSupport"),
        // The benchmark plugin runs the executable targets found in Benchmarks/<TargetName>.
        .executableTarget(
            name: "TollgateMicro",
            dependencies: [
                "BenchSupport",
                .product(name: "Core", package: "Tollgate"),
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            path: "Benchmarks/TollgateMicro",
            // Swift 5 mode: the benchmark closures are @Sendable and capture the per-thread,
            // non-Sendable SignatureVerifier (each benchmark runs on one thread).
            swiftSettings: [.swiftLanguageMode(.v5)],
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]),
        // OpenSSL libcrypto for speed-loop --direct (named apart from the root package's COpenSSL).
        .systemLibrary(name: "CBenchOpenSSL", path: "Sources/CBenchOpenSSL", pkgConfig: "openssl"),
        .executableTarget(
            name: "speed-loop",
            dependencies: ["BenchSupport", "CBenchOpenSSL", .product(name: "Core", package: "Tollgate")],
            path: "Sources/speed-loop"),
        // A minimal SwiftNIO TCP forwarder, no HTTP work: the NIO ceiling bench/run-proxy-bench.sh
        // measures the sidecar against (issue 15). Needs NIO only, not the root package.
        .executableTarget(
            name: "l4-forwarder",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Sources/l4-forwarder",
            swiftSettings: [.enableUpcomingFeature("ExistentialAny"), .unsafeFlags(["-warnings-as-errors"])]),
    ]
)
