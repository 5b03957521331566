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
