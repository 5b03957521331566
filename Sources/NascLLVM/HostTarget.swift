import CLLVM
import COpenBLAS

/// What the JIT will compile for: the host CPU as LLVM names it, its feature
/// string, and the BLAS library the kernels call.
///
/// LLVM 14 names some new CPUs after their nearest older sibling (Zen 4 is
/// "znver3"), so the feature string, not the name, is what enables AVX-512.
public struct HostTarget: Sendable {
    public let triple: String
    public let cpu: String
    public let features: String
    public let llvmVersion: String
    public let blasConfig: String
    public let blasThreads: Int

    public static func detect() -> HostTarget {
        func take(_ p: UnsafeMutablePointer<CChar>?) -> String {
            guard let p else { return "" }
            defer { LLVMDisposeMessage(p) }
            return String(cString: p)
        }
        return HostTarget(
            triple: take(LLVMGetDefaultTargetTriple()),
            cpu: take(LLVMGetHostCPUName()),
            features: take(LLVMGetHostCPUFeatures()),
            // LLVMGetVersion arrived in LLVM 16; the module map links libLLVM-14.
            llvmVersion: "14",
            blasConfig: String(cString: openblas_get_config()),
            blasThreads: Int(openblas_get_num_threads()))
    }

    /// The enabled vector extensions worth showing a user (from the feature string).
    public var vectorFeatures: [String] {
        let interesting = ["sse4.2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512vnni", "avx512bf16"]
        let enabled = Set(features.split(separator: ",").filter { $0.hasPrefix("+") }.map { String($0.dropFirst()) })
        return interesting.filter(enabled.contains)
    }
}
