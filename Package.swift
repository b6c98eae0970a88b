// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "mirrorsync",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "mirrorsync", targets: ["mirrorsync"]),
        .executable(name: "mirrorsync-bench", targets: ["MirrorBench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.1.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.5.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.0.0"),
        .package(url: "https://github.com/swiftlang/swift-subprocess", from: "1.0.0"),
        // TLS for the agents' API: the server's (HummingbirdTLS) and the clients' (AsyncHTTPClient), both over NIOSSL.
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.80.0"),
        // Imported directly, not only through the packages above: the API's HTTP status types, and FilePath for
        // swift-subprocess's working directories where the platform has no System module.
        .package(url: "https://github.com/apple/swift-http-types", from: "1.0.0"),
        .package(url: "https://github.com/apple/swift-system", from: "1.4.0"),
        // NIOHTTPTypes: the request and response parts the API's connection guard sees (Hummingbird's own).
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.24.0"),
    ],
    targets: [
        // libyaml from Debian's libyaml-dev; named CLibYAML because Yams owns CYaml.
        .systemLibrary(
            name: "CLibYAML",
            pkgConfig: "yaml-0.1",
            providers: [.apt(["libyaml-dev"])]
        ),
        .target(
            name: "MirrorCore",
            dependencies: ["CLibYAML"]
        ),
        // The one HTTP client of the agents' API: the reconciler's and the agents' calls to each other, and the TLS
        // both sides use.
        .target(
            name: "MirrorHTTP",
            dependencies: [
                "MirrorCore",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ]
        ),
        // What the agent shows people and other sites: the status page's HTML, mirrorz.json and tunasync's jobs, the
        // alert metrics' text, the public's view without the token. Pure functions of the core's values.
        .target(
            name: "MirrorPresentation",
            dependencies: ["MirrorCore"]
        ),
        // Child processes' groups: stopped as a whole, and what a killed parent left behind.
        .target(
            name: "MirrorProcess"
        ),
        .target(
            name: "MirrorAgent",
            dependencies: [
                "MirrorCore",
                "MirrorProcess",
                "MirrorHTTP",
                "MirrorPresentation",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .target(
            name: "MirrorReconciler",
            dependencies: [
                "MirrorCore",
                "MirrorHTTP",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]
        ),
        // `mirrorsync init` and `up`: a starter mirrors.d, and a whole site on one machine as child processes.
        .target(
            name: "MirrorSite",
            dependencies: [
                "MirrorCore",
                "MirrorProcess",
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .target(
            name: "MirrorCLI",
            dependencies: [
                "MirrorCore",
                "MirrorAgent",
                "MirrorHTTP",
                "MirrorReconciler",
                "MirrorSite",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "mirrorsync",
            dependencies: ["MirrorCLI"]
        ),
        // The floor under any libyaml-based loader: parse and discard events, in C.
        .target(
            name: "YAMLScanFloor",
            dependencies: ["CLibYAML"],
            path: "Benchmarks/YAMLScanFloor"
        ),
        .executableTarget(
            name: "MirrorBench",
            dependencies: [
                "MirrorCore", "MirrorAgent", "MirrorReconciler", "MirrorTestSupport", "YAMLScanFloor",
                .product(name: "Logging", package: "swift-log"),
                // The `fanout1000` stand-in: one NIO server bound to a port per slave.
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                // The status benchmark writes a master's history of runs straight into its store.
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            path: "Benchmarks/MirrorBench"
        ),
        .testTarget(
            name: "MirrorCoreTests",
            dependencies: ["MirrorCore", "MirrorTestSupport"],
            exclude: ["Fixtures", "schema_check.py"]
        ),
        // Helpers the tests and benchmarks share: scratch directories, generated trees, a real rsync daemon, free ports.
        .target(
            name: "MirrorTestSupport",
            dependencies: ["MirrorCore", .product(name: "Logging", package: "swift-log")],
            path: "Tests/MirrorTestSupport"
        ),
        .testTarget(
            name: "MirrorPresentationTests",
            dependencies: ["MirrorPresentation", "MirrorCore"]
        ),
        .testTarget(
            name: "MirrorAgentTests",
            dependencies: [
                "MirrorAgent", "MirrorCore", "MirrorHTTP", "MirrorPresentation", "MirrorTestSupport",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The heavy suite: the built binary as separate processes, signals, large trees.
        .testTarget(
            name: "EndToEndTests",
            dependencies: ["MirrorCore", "MirrorPresentation", "MirrorTestSupport", "mirrorsync"]
        ),
        .testTarget(
            name: "MirrorReconcilerTests",
            dependencies: [
                "MirrorReconciler", "MirrorAgent", "MirrorCore", "MirrorHTTP", "MirrorTestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // The fault suite: the site on hosts of its own (network namespaces), partitions, full disks, kill -9 rounds.
        .testTarget(
            name: "FaultTests",
            dependencies: ["MirrorCore", "MirrorTestSupport", "mirrorsync"]
        ),
        .testTarget(
            name: "MirrorSiteTests",
            dependencies: [
                "MirrorSite", "MirrorCore", "MirrorTestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .testTarget(
            name: "MirrorCLITests",
            dependencies: [
                "MirrorCLI", "MirrorAgent", "MirrorCore", "MirrorReconciler", "MirrorTestSupport", "mirrorsync",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
    ]
)
