import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The process's resident memory from /proc/self/status, and its peak
/// (VmHWM), which writing 5 to /proc/self/clear_refs resets (Linux 4.0 on):
/// how `nasc bench` and Tests/Benchmarks/peer.py measure what a training
/// step really holds in RAM, the same way for nasc and for PyTorch.
enum ResidentMemory {
    /// Bytes resident now (VmRSS), or nil where /proc has no such field.
    static func current() -> Int? { field("VmRSS:") }

    /// The peak of resident bytes since the last `resetPeak` (VmHWM).
    static func peak() -> Int? { field("VmHWM:") }

    /// Starts a new peak from what is resident now; false if the kernel
    /// refused. Heap freed earlier goes back to the system first
    /// (malloc_trim), or a step reusing it would go uncounted.
    @discardableResult
    static func resetPeak() -> Bool {
        trimHeap()
        guard let handle = FileHandle(forWritingAtPath: "/proc/self/clear_refs") else { return false }
        defer { try? handle.close() }
        return (try? handle.write(contentsOf: Data("5".utf8))) != nil
    }

    /// glibc's malloc_trim(0), found at run time (Swift's Glibc module does
    /// not declare malloc.h).
    private static func trimHeap() {
        typealias Trim = @convention(c) (Int) -> Int32
        guard let symbol = dlsym(nil, "malloc_trim") else { return }
        _ = unsafeBitCast(symbol, to: Trim.self)(0)
    }

    private static func field(_ name: String) -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix(name) }),
              let kB = Int(line.dropFirst(name.count).trimmingCharacters(in: .whitespaces).split(separator: " ").first ?? "") else { return nil }
        return kB * 1024
    }
}
