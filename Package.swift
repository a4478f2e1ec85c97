// swift-tools-version: 6.2
// Tollgate: rate-limit and auth sidecar (tollgate-proxy) and its control plane (tollgate-control).
// Only the package versions listed in the machine notes resolve here; keep to those.
import PackageDescription

// Our targets build without warnings, and CI keeps it so (dependencies are not affected).
let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .treatAllWarnings(as: .error),
]

let package = Package(
    name: "Tollgate",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "tollgate-proxy", targets: ["tollgate-proxy"]),
        .executable(name: "tollgate-control", targets: ["tollgate-control"]),
        // Bench and test tool: TollgateLoop as a bare L4 forwarder (bench/run-proxy-bench.sh, issue 16).
        .executable(name: "tollgate-loop-l4", targets: ["tollgate-loop-l4"]),
        .library(name: "Core", targets: ["Core"]),
    ],
    dependencies: [
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        // The control plane: HTTP on Hummingbird, SQLite (embedded default) and PostgreSQL drivers.
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/vapor/sqlite-nio.git", from: "1.13.2"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        // The /v1 API's generated types and routing (Sources/Control/Generated) need these at run time;
        // the generator itself is not a dependency (scripts/generate-openapi).
        .package(url: "https://github.com/apple/swift-openapi-runtime.git", from: "1.13.4"),
        .package(url: "https://github.com/hummingbird-project/swift-openapi-hummingbird.git", from: "2.1.0"),
        // The control plane's /metrics: swift-metrics' API (also what Hummingbird's MetricsMiddleware
        // records through) over a swift-prometheus registry. The sidecar keeps its own shards.
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
    ],
    targets: [
        // System libraries: each is a module map over a shim header, found with pkg-config.
        .systemLibrary(
            name: "COpenSSL", path: "Sources/COpenSSL", pkgConfig: "openssl",
            providers: [.apt(["libssl-dev"])]),
        // hiredis.pc carries -D_FILE_OFFSET_BITS=64, which SwiftPM drops with a warning on every
        // build; Debian installs the headers under /usr/include/hiredis, on the default search path,
        // so the shim includes <hiredis/hiredis.h> and pkg-config is not needed.
        .systemLibrary(
            name: "CHiredis", path: "Sources/CHiredis",
            providers: [.apt(["libhiredis-dev"])]),
        .systemLibrary(
            name: "CPCRE2", path: "Sources/CPCRE2", pkgConfig: "libpcre2-8",
            providers: [.apt(["libpcre2-dev"])]),

        // The data path's own event loop (issue 16, docs/architecture.md): epoll, timer wheel, slab
        // pool, over Glibc and a small C shim; no NIO. Release builds skip dynamic exclusivity checks
        // as the proxy does (its state lives in class properties touched on every event).
        .target(name: "CEventLoopShim", path: "Sources/CEventLoopShim"),
        .target(
            name: "TollgateLoop", dependencies: ["CEventLoopShim"], path: "Sources/Loop",
            swiftSettings: strict + [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]),
        // Redis on the loop: hiredis's reader and formatter over a non-blocking TollgateLoop socket.
        // Core for `RedisBuckets`' transport protocol and `RedisEndpoint` (LoopRedisTransport); the
        // loop itself (TollgateLoop) stays free of Core and NIO.
        .target(
            name: "TollgateLoopRedis", dependencies: ["TollgateLoop", "CHiredis", "Core"], path: "Sources/LoopRedis",
            swiftSettings: strict),
        // Needs only TollgateLoop, so it adds seconds to a build, not minutes.
        .executableTarget(
            name: "tollgate-loop-l4", dependencies: ["TollgateLoop"], path: "Sources/LoopL4Forwarder",
            swiftSettings: strict),

        .target(
            name: "Core",
            dependencies: [
                "COpenSSL", "CHiredis", "CPCRE2",
                .product(name: "Yams", package: "Yams"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Sources/Core",
            // The head parser, splicer and body framing run on every request: release builds skip
            // dynamic exclusivity checks here as in the proxy target (1-2% of CPU in profiles).
            swiftSettings: strict + [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]),
        // The command-line conventions both binaries share: exit codes 0 / 1 / 2, TOLLGATE_<OPTION>
        // environment fallbacks, the operational log's format.
        .target(
            name: "CLI",
            dependencies: [
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Sources/CLI",
            swiftSettings: strict),
        .executableTarget(
            name: "tollgate-proxy",
            dependencies: [
                "Core", "CLI", "TollgateLoop", "TollgateLoopRedis", "CEventLoopShim",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                // An event loop the caller drives: `test` and `explain` run the phases without sockets.
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "NIOExtras", package: "swift-nio-extras"),
            ],
            path: "Sources/Proxy",
            // Release builds skip dynamic exclusivity checks on the request path (1-3% of CPU in
            // profiles); debug builds, which the tests run, keep them.
            swiftSettings: strict + [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]),
        .executableTarget(
            name: "tollgate-control",
            dependencies: [
                "Core", "CLI",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "SQLiteNIO", package: "sqlite-nio"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "OpenAPIRuntime", package: "swift-openapi-runtime"),
                .product(name: "OpenAPIHummingbird", package: "swift-openapi-hummingbird"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            path: "Sources/Control",
            exclude: ["openapi-generator-config.yaml"],
            // The API's one declaration, compiled in: `GET /openapi.json` serves it converted to JSON.
            resources: [.embedInCode("openapi.yaml")],
            swiftSettings: strict),

        // NIOHTTP1 and NIOEmbedded: SwiftNIO's llhttp decoder is the oracle of the head parser's
        // differential tests (Tests/CoreTests/HTTP/Differential).
        .testTarget(
            name: "CoreTests",
            dependencies: [
                "Core", "TestSupport",
                .product(name: "NIOHTTP1", package: "swift-nio"), .product(name: "NIOEmbedded", package: "swift-nio"),
            ],
            path: "Tests/CoreTests",
            swiftSettings: strict),
        // Helpers the test targets share (running the built binaries, …).
        .target(
            name: "TestSupport",
            dependencies: [
                "Core",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            path: "Tests/TestSupport", swiftSettings: strict),
        // The binaries are dependencies so `swift test` builds them before the tests run them.
        .testTarget(
            name: "ProxyTests", dependencies: ["tollgate-proxy", "Core", "CLI", "TestSupport"], path: "Tests/ProxyTests",
            swiftSettings: strict),
        // The loop's tests; the leak test runs the built tollgate-loop-l4 in its own process, the
        // Redis tests a real redis-server (TestSupport).
        .testTarget(
            name: "LoopTests",
            dependencies: [
                "TollgateLoop", "TollgateLoopRedis", "CEventLoopShim", "tollgate-loop-l4", "TestSupport", "Core",
                // The NIO side of the RedisBuckets conformance test (same takes over both transports).
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Tests/LoopTests",
            swiftSettings: strict),
        .testTarget(
            name: "ControlTests",
            dependencies: [
                "tollgate-control", "Core", "CLI", "TestSupport", .product(name: "Logging", package: "swift-log"),
                .product(name: "Hummingbird", package: "hummingbird"), .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "Yams", package: "Yams"),
            ],
            path: "Tests/ControlTests",
            swiftSettings: strict),
    ],
    swiftLanguageModes: [.v6]
)
