import COpenBLAS
import Foundation

/// The threads a compiled step uses. Kernels that treat every example on
/// its own (BatchSplit) run as that many batch chunks at once, each calling
/// a one-thread OpenBLAS; the other kernels see the whole batch and give
/// OpenBLAS all the threads for their GEMMs. One setting for both, so the
/// two never oversubscribe the cores.
public enum BLASThreads {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var configured = ProcessInfo.processInfo.activeProcessorCount
    /// OpenBLAS's own setting right now (it changes around batch chunks).
    nonisolated(unsafe) private static var blas = -1

    public static func set(_ n: Int) {
        lock.lock()
        defer { lock.unlock() }
        configured = max(n, 1)
        setBLAS(configured)
    }

    public static var current: Int {
        lock.lock()
        defer { lock.unlock() }
        return configured
    }

    /// OpenBLAS threads for the next GEMMs: 1 inside batch chunks, else `current`.
    static func setBLAS(_ n: Int) {
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
    public static func sgemm(size: Int = 1024, repeats: Int = 5) -> Double {
        BLASThreads.setBLAS(BLASThreads.current)
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
