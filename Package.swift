// swift-tools-version:6.1
// Ventriq: an edge inference runtime that reads a 12-lead ECG and estimates what a cardiac MRI
// would have measured. Targets follow the data flow (docs/ARCHITECTURE.md):
//   VentriqIO (readers) -> VentriqSignal (conditioning) -> VentriqEngine (arena, graph, kernels)
//   -> Ventriq (scoring pipeline, results) -> ventriq (command line); ventriq-embed (examples/embed)
//   is what a program embedding the library looks like.
// VentriqModel holds the file format, the config and integrity; CVentriqKernels the C inner loops.
import PackageDescription

let package = Package(
    name: "Ventriq",
    products: [
        .library(name: "Ventriq", targets: ["Ventriq"]),
        .executable(name: "ventriq", targets: ["VentriqCLI"]),
        .executable(name: "ventriq-quantize", targets: ["VentriqQuantizeTool"]),
        // What an embedding program links: the `Ventriq` library and nothing else (examples/embed).
        .executable(name: "ventriq-embed", targets: ["VentriqEmbed"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-atomics", from: "1.3.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
    ],
    targets: [
        // C inner loops (float32 GEMM, LayerNorm, softmax, GELU): a portable scalar reference for
        // every kernel plus SIMD versions picked once at run time. `vq_` prefix, no stable API.
        .target(
            name: "CVentriqKernels",
            cSettings: [.unsafeFlags(["-O3", "-fno-fast-math", "-ffp-contract=off"])]
        ),
        // Counts heap allocations of the whole process (glibc malloc interposition) so that tests
        // and `ventriq bench` can prove the per-window path allocates nothing.
        .target(name: "CVentriqAllocationCounter"),
        // The model file: safetensors reader (memory-mapped, validated), config, SHA-256.
        .target(
            name: "VentriqModel",
            dependencies: [
                "VentriqSignal",
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // Signal conditioning: lead names, limb-lead derivation, resampling, the trainer's
        // filter chain, per-lead quality.
        .target(name: "VentriqSignal"),
        // ECG readers: WFDB, CSV, NPY.
        .target(name: "VentriqIO"),
        // The fixed-memory engine: op graph of the encoder, arena planner, interpreter.
        .target(name: "VentriqEngine", dependencies: ["CVentriqKernels", "VentriqModel"]),
        // The scoring pipeline (record -> windows -> estimates) and result writers.
        .target(name: "Ventriq", dependencies: ["VentriqIO", "VentriqSignal", "VentriqModel", "VentriqEngine"]),
        // The quantizer: calibration, int8 model building, sensitivity, accuracy report and gate.
        .target(
            name: "VentriqQuant",
            dependencies: ["Ventriq", "CVentriqKernels", .product(name: "Crypto", package: "swift-crypto")]
        ),
        // `ventriq-quantize`'s command, shared by quantize/ and `ventriq quantize`.
        .target(
            name: "VentriqQuantCLI",
            dependencies: ["VentriqQuant", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .executableTarget(name: "VentriqQuantizeTool", dependencies: ["VentriqQuantCLI"], path: "quantize"),
        // libasound2 (ALSA capture), through pkg-config `alsa`.
        .systemLibrary(
            name: "CAlsa",
            pkgConfig: "alsa",
            providers: [.apt(["libasound2-dev"])]
        ),
        // Firmware profiles: one TOML file per device (rates, lead map, gain, window/hop, budgets).
        .target(name: "VentriqProfiles", dependencies: ["VentriqModel", "VentriqSignal", .product(name: "TOMLKit", package: "TOMLKit")]),
        // Streaming: sources (ALSA, file descriptor, replay), the lock-free ring, the window
        // scheduler and the stream results.
        .target(
            name: "VentriqStream",
            dependencies: [
                "Ventriq", "VentriqProfiles", "CAlsa",
                .product(name: "Atomics", package: "swift-atomics"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),
        // A program that embeds the runtime as a daemon or a cart would: scores a recording or raw
        // frames from stdin and reports its peak RSS against model + arena + 8 MiB (`make bench-rss`).
        .executableTarget(name: "VentriqEmbed", dependencies: ["Ventriq"], path: "examples/embed"),
        .executableTarget(
            name: "VentriqCLI",
            dependencies: [
                "Ventriq", "VentriqQuantCLI", "VentriqStream", "VentriqProfiles", "CVentriqAllocationCounter",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        .target(name: "VentriqTestSupport", path: "Tests/VentriqTestSupport"),
        .testTarget(name: "VentriqKernelsTests", dependencies: ["CVentriqKernels", "VentriqTestSupport"]),
        .testTarget(name: "VentriqModelTests", dependencies: ["VentriqModel", "VentriqTestSupport"]),
        .testTarget(
            name: "VentriqSignalTests",
            dependencies: ["VentriqSignal", "CVentriqAllocationCounter", "VentriqTestSupport"]
        ),
        .testTarget(name: "VentriqIOTests", dependencies: ["VentriqIO", "VentriqTestSupport"]),
        .testTarget(
            name: "VentriqEngineTests",
            dependencies: ["VentriqEngine", "CVentriqAllocationCounter", "VentriqTestSupport"]
        ),
        .testTarget(
            name: "VentriqTests",
            dependencies: ["Ventriq", "CVentriqAllocationCounter", "VentriqTestSupport"]
        ),
        .testTarget(name: "VentriqProfilesTests", dependencies: ["VentriqProfiles", "VentriqTestSupport"]),
        .testTarget(
            name: "VentriqStreamTests",
            dependencies: ["VentriqStream", "CVentriqAllocationCounter", "VentriqTestSupport",
                           .product(name: "MetricsTestKit", package: "swift-metrics")]
        ),
        .testTarget(name: "VentriqQuantTests", dependencies: ["VentriqQuant", "CVentriqAllocationCounter", "VentriqTestSupport"]),
    ]
)
