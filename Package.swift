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
    ],
    targets: [
        // System libraries: the LLVM C API and OpenBLAS's CBLAS.
        .systemLibrary(name: "CLLVM", path: "Sources/CLLVM"),
        .systemLibrary(name: "COpenBLAS", path: "Sources/COpenBLAS"),

        // The typed graph IR: types, op registry, parser, printer, verifier, hash.
        .target(name: "NascIR"),

        // The reference interpreter: every op's meaning in plain loops (the oracle),
        // training steps and gradient checks on top of it.
        .target(name: "NascInterpreter", dependencies: ["NascIR", "NascPasses"]),

        // Graph-to-graph passes: autodiff, running statistics, optimizer updates.
        .target(name: "NascPasses", dependencies: ["NascIR"]),

        // The LLVM backend (host target description so far).
        .target(name: "NascLLVM", dependencies: ["CLLVM", "COpenBLAS", "NascIR", "NascPasses"], swiftSettings: llvmInclude),

        // The command-line tool.
        .executableTarget(
            name: "nasc",
            dependencies: [
                "NascIR", "NascInterpreter", "NascPasses", "NascLLVM",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: llvmInclude),

        .testTarget(name: "NascIRTests", dependencies: ["NascIR"]),
        // Shared by test targets: the random NAS-style graph generator.
        .target(name: "NascTestSupport", dependencies: ["NascIR", "NascInterpreter"], path: "Tests/Support"),
        .testTarget(name: "NascInterpreterTests", dependencies: ["NascIR", "NascInterpreter", "NascPasses", "NascTestSupport"]),
        .testTarget(name: "NascLLVMTests", dependencies: ["NascIR", "NascInterpreter", "NascPasses", "NascLLVM", "NascTestSupport"],
                    swiftSettings: llvmInclude),
        // Runs every spec under ir-specs/ through the built `nasc` binary.
        .testTarget(name: "IRSpecTests", dependencies: ["nasc"]),
    ]
)
