import ArgumentParser
import NascIR
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
            the OpenBLAS build used for convolutions and matrix products, and \
            the memory limit that graphs, batches and datasets are sized \
            against: the smallest of 80% of physical memory (or \
            NASC_MEMORY_LIMIT), 80% of the process's cgroup limit, and what \
            `ulimit -v` / `ulimit -d` leave.
            """)

    func run() {
        let host = HostTarget.detect()
        print("nasc \(NascVersion.string)")
        print("LLVM \(host.llvmVersion), target \(host.triple), cpu \(host.cpu)")
        print("vector features: \(host.vectorFeatures.isEmpty ? "(none)" : host.vectorFeatures.joined(separator: " "))")
        print("OpenBLAS: \(host.blasConfig) (\(host.blasThreads) threads)")
        let bounds = MemoryLimit.bounds(), limit = MemoryLimit.inForce
        print("memory limit: \(MemoryLimit.human(limit.bytes)), \(limit.source)")
        for b in bounds where b != limit { print("  (also bounded by \(MemoryLimit.human(b.bytes)): \(b.source))") }
    }
}
