// swift-tools-version:5.9
import PackageDescription

// Debian's llvm-dev (LLVM 14) keeps the C API headers outside the default
// include path; every target that imports CLLVM needs this flag.
let llvmInclude: [SwiftSetting] = [.unsafeFlags(["-Xcc", "-I/usr/include/llvm-c-14"])]

let package = Package(
    name: "nasc",
    products: [
        .executable(name: "nasc", targets: ["nasc"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // The PostgreSQL client for stores that many machines share.
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.81.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.5.3"),
        // HTML for `nasc report`.
        .package(url: "https://github.com/JohnSundell/Plot.git", from: "0.14.0"),
        // ONNX's protobuf messages for `nasc export-onnx` (code generated once, committed).
        .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.39.0"),
    ],
    targets: [
        // System libraries: the LLVM C API and OpenBLAS's CBLAS.
        .systemLibrary(name: "CLLVM", path: "Sources/CLLVM"),
        .systemLibrary(name: "COpenBLAS", path: "Sources/COpenBLAS"),
        .systemLibrary(name: "CZlib", path: "Sources/CZlib"),
        .systemLibrary(name: "CSQLite", path: "Sources/CSQLite"),

        // The typed graph IR: types, op registry, parser, printer, verifier, hash.
        .target(name: "NascIR"),

        // The reference interpreter: every op's meaning in plain loops (the oracle),
        // training steps and gradient checks on top of it.
        .target(name: "NascInterpreter", dependencies: ["NascIR", "NascPasses"]),

        // Graph-to-graph passes: autodiff, running statistics, optimizer updates.
        .target(name: "NascPasses", dependencies: ["NascIR"]),

        // Datasets: IDX (MNIST, Fashion-MNIST), CIFAR-10 binary batches, Penn Treebank.
        .target(name: "NascData", dependencies: ["NascIR", "CZlib"]),

        // Training: the trainer, learning-rate schedules, checkpoints, progress.
        .target(name: "NascTraining", dependencies: ["NascIR", "NascPasses", "NascInterpreter", "NascLLVM", "NascRuntime", "NascData"],
                swiftSettings: llvmInclude),

        // The search: the NAS-RL space, the REINFORCE controller (compiled by nasc),
        // regularized evolution, random search, the trial store.
        .target(name: "NascSearch", dependencies: ["NascIR", "NascPasses", "NascInterpreter", "NascLLVM", "NascRuntime", "NascData", "NascTraining", "NascCEmitter", "CSQLite"],
                swiftSettings: llvmInclude),

        // The search store on a PostgreSQL server (`--storage postgresql://...`).
        .target(name: "NascPostgres", dependencies: [
            "NascSearch",
            "NascTraining",
            .product(name: "PostgresNIO", package: "postgres-nio"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),

        // Seeing searches and graphs: `nasc report` (HTML with inline SVG) and `nasc dot` (Graphviz).
        .target(name: "NascReport", dependencies: ["NascIR", "NascPasses", "NascSearch", .product(name: "Plot", package: "Plot")],
                swiftSettings: llvmInclude),

        // A trained architecture for other tools: ONNX (checked by ONNX Runtime)
        // and a torch.nn.Module with safetensors weights.
        .target(name: "NascExport", dependencies: ["NascIR", "NascPasses", .product(name: "SwiftProtobuf", package: "swift-protobuf")]),

        // Standalone C99 inference code for a trained architecture.
        .target(name: "NascCEmitter", dependencies: ["NascIR", "NascPasses"]),

        // The LLVM backend: fused kernels lowered to LLVM IR and turned into
        // machine code (JIT, kernel cache in memory and on disk).
        .target(name: "NascLLVM", dependencies: ["CLLVM", "COpenBLAS", "NascIR", "NascPasses"], swiftSettings: llvmInclude),

        // The runtime: compiled graphs with their memory (arena, parameters,
        // workspaces), the executor, batch chunks on threads.
        .target(name: "NascRuntime", dependencies: ["COpenBLAS", "NascIR", "NascPasses", "NascLLVM"], swiftSettings: llvmInclude),

        // The command-line tool.
        .executableTarget(
            name: "nasc",
            dependencies: [
                "NascIR", "NascInterpreter", "NascPasses", "NascLLVM", "NascRuntime", "NascData", "NascTraining", "NascSearch", "NascPostgres", "NascReport", "NascCEmitter", "NascExport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: llvmInclude),

        // Fuzz targets: a libFuzzer binary under `make fuzz`, a replayer otherwise.
        .executableTarget(name: "nasc-fuzz",
                          dependencies: ["NascIR", "NascPasses", "NascInterpreter", "NascLLVM", "NascRuntime", "NascData", "NascTraining"],
                          path: "Sources/NascFuzz", swiftSettings: llvmInclude),

        .testTarget(name: "NascIRTests", dependencies: ["NascIR"]),
        // Shared by test targets: the random NAS-style graph generator.
        .target(name: "NascTestSupport", dependencies: ["NascIR", "NascInterpreter"], path: "Tests/Support"),
        .testTarget(name: "NascInterpreterTests", dependencies: ["NascIR", "NascInterpreter", "NascPasses", "NascTestSupport"]),
        .testTarget(name: "NascDataTests", dependencies: ["NascData", "NascIR"]),
        .testTarget(name: "NascCEmitterTests", dependencies: ["NascIR", "NascPasses", "NascInterpreter", "NascLLVM", "NascRuntime", "NascData", "NascTraining", "NascCEmitter", "NascTestSupport"],
                    swiftSettings: llvmInclude),
        .testTarget(name: "NascSearchTests", dependencies: ["NascIR", "NascPasses", "NascInterpreter", "NascData", "NascSearch", "NascTraining", "NascRuntime"],
                    swiftSettings: llvmInclude),
        .testTarget(name: "NascTrainingTests", dependencies: ["NascIR", "NascPasses", "NascLLVM", "NascRuntime", "NascData", "NascTraining", "NascTestSupport"],
                    swiftSettings: llvmInclude),
        .testTarget(name: "NascLLVMTests", dependencies: ["NascIR", "NascInterpreter", "NascPasses", "NascLLVM", "NascRuntime", "NascTestSupport"],
                    swiftSettings: llvmInclude),
        // The search store's contract on SQLite and on PostgreSQL.
        .testTarget(name: "NascStoreTests", dependencies: ["NascSearch", "NascPostgres"], swiftSettings: llvmInclude),
        // Runs every spec under ir-specs/ through the built `nasc` binary.
        .testTarget(name: "IRSpecTests", dependencies: ["nasc", "NascIR", "NascExport"]),
        // Reports and drawings, rendered in headless Chromium.
        .testTarget(name: "NascReportTests", dependencies: ["NascReport", "NascSearch", "NascIR", "NascPasses", "NascData", "NascTestSupport"], swiftSettings: llvmInclude),
    ]
)
