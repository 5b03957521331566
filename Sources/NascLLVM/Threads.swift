import COpenBLAS

/// OpenBLAS's thread count for the GEMMs inside kernels.
public enum BLASThreads {
    public static func set(_ n: Int) { openblas_set_num_threads(Int32(n)) }
    public static var current: Int { Int(openblas_get_num_threads()) }
}
