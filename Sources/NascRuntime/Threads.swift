import COpenBLAS
import Foundation
import NascIR

/// How compiled code runs, chosen by the caller and handed to
/// `CompiledGraph.compile` (no process-wide setting). Kernels that treat
/// every example on its own (BatchSplit) run as `threads` batch chunks at
/// once, each calling a one-thread OpenBLAS (in a graph without a batch,
/// kernels that work row by row run as ranges of rows: RowSplit); the
/// other kernels see the whole batch and give OpenBLAS all the threads
/// for their GEMMs. One figure for
/// both, so the two never oversubscribe the cores; compiling uses as many
/// threads for LLVM.
public struct ExecutionSettings: Sendable, Equatable {
    public var threads: Int

    public init(threads: Int = ProcessInfo.processInfo.activeProcessorCount) {
        self.threads = max(threads, 1)
    }
}

/// OpenBLAS's thread count, which only the library itself holds (one per
/// process): the executor sets it around each kernel to what that kernel's
/// settings ask for.
enum BLASThreads {
    private static let lock = NSLock()
    /// OpenBLAS's own setting right now (it changes around batch chunks).
    nonisolated(unsafe) private static var blas = -1

    /// The matrix product a kernel's anchor computes, by its size.
    /// OpenBLAS splits a product over all its threads from a small size on,
    /// where waking them costs more than they save: on this machine one
    /// thread wins below about 30 million multiply-adds (a language model's
    /// 20x200x800 recurrent products: 0.13 ms on one thread, 0.26 ms on
    /// two) and two win from about 100 million (700x200x800: 3.2 ms, 1.9 ms).
    struct Product {
        static let smallWork = 32_000_000
        /// Multiply-adds: `fixed` times the batch to the power `batchFactors`
        /// (dims of the result and the summed axis that are N).
        let fixed: Int, batchFactors: Int

        init?(_ members: [Node], types: [String: TensorType]) {
            guard let m = members.first, m.op == .matmul, let a = types[m.operands[0]], let out = m.type else { return nil }
            let dims = out.dims + [a.dims[m.attrs.bool("transpose_a") ? 0 : 1]]
            fixed = dims.compactMap(\.staticValue).reduce(1, *)
            batchFactors = dims.filter { $0 == .batch }.count
        }

        func threads(batch: Int, available: Int) -> Int {
            var work = fixed
            for _ in 0..<batchFactors where work < Self.smallWork { work *= batch }
            return work < Self.smallWork ? 1 : available
        }
    }

    static func setBLAS(_ n: Int) {
        lock.lock()
        defer { lock.unlock() }
        guard n != blas else { return }
        openblas_set_num_threads(Int32(n))
        blas = n
    }
}

/// What OpenBLAS reaches on this machine, as the yardstick for a step's
/// FLOP rate (`nasc bench`).
public enum BLASPeak {
    /// GFLOP/s of square single-precision GEMMs of `size` on the configured
    /// threads: the median of `repeats` after one warm-up.
    public static func sgemm(threads: Int, size: Int = 1024, repeats: Int = 5) -> Double {
        BLASThreads.setBLAS(threads)
        let count = size * size
        var a = [Float](repeating: 0, count: count), b = a, c = a
        for i in 0..<count { a[i] = Float(i % 7) * 0.1; b[i] = Float(i % 5) * 0.1 }
        var times: [Double] = []
        for run in 0...repeats {
            let start = DispatchTime.now().uptimeNanoseconds
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(size), Int32(size), Int32(size),
                        1, &a, Int32(size), &b, Int32(size), 0, &c, Int32(size))
            if run > 0 { times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9) }
        }
        times.sort()
        return 2 * Double(size * size * size) / times[times.count / 2] / 1e9
    }
}
