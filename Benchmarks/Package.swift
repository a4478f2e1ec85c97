// swift-tools-version: 6.1
// Micro-benchmarks of Tollgate's Core (JWT verification, the token cache, route matching) with
// ordo-one/benchmark. A package of its own so that building the root package (CI) never pays for
// the benchmark harness. Run from this directory:
//
//     swift package --scratch-path .build-bench benchmark
//
// or ./run.sh, which also runs `openssl speed` for the same algorithms. See docs/benchmarks.md.
import PackageDescription

let package = Package(
    name: "TollgateBenchmarks",
    platforms: [.macOS(.v14)],
    dependencies: [
        // The root package (only its `Core` library is built).
        .package(name: "Tollgate", path: ".."),
        // Only the MallocInterposer trait: the default traits also ask for swift-runtime-interposer,
        // which this machine's package mirror does not have.
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        // The benchmark plugin finds executable targets in Benchmarks/<TargetName>.
        .executableTarget(
            name: "TollgateMicro",
            dependencies: [
                .product(name: "Core", package: "Tollgate"),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/TollgateMicro",
            // Swift 5 mode: the benchmark closures are @Sendable and capture the per-thread,
            // non-Sendable SignatureVerifier and TokenCache (each benchmark runs on one thread).
            swiftSettings: [.swiftLanguageMode(.v5)],
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]),
    ]
)
