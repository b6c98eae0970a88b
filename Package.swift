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
        .target(
            name: "MirrorCLI",
            dependencies: [
                "MirrorCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
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
            dependencies: ["MirrorCore", "YAMLScanFloor"],
            path: "Benchmarks/MirrorBench"
        ),
        .testTarget(
            name: "MirrorCoreTests",
            dependencies: ["MirrorCore"],
            exclude: ["Fixtures", "schema_check.py"]
        ),
        .testTarget(
            name: "MirrorCLITests",
            dependencies: ["MirrorCLI", "mirrorsync"]
        ),
    ]
)
