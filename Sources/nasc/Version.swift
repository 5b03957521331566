import ArgumentParser
import NascLLVM
import NascRuntime

enum NascVersion {
    static let string = "0.1.0"
}

struct Version: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print nasc's version and the target it compiles for.",
        discussion: """
            Shows the LLVM version nasc links, the host CPU and vector \
            features LLVM detects (the JIT compiles for exactly these), and \
            the OpenBLAS build used for convolutions and matrix products.
            """)

    func run() {
        let host = HostTarget.detect()
        print("nasc \(NascVersion.string)")
        print("LLVM \(host.llvmVersion), target \(host.triple), cpu \(host.cpu)")
        print("vector features: \(host.vectorFeatures.isEmpty ? "(none)" : host.vectorFeatures.joined(separator: " "))")
        print("OpenBLAS: \(host.blasConfig) (\(host.blasThreads) threads)")
    }
}
