import Foundation

/// Independent jobs on a few threads, each thread taking the next job: how
/// the backend lowers kernels and compiles their modules in parallel.
enum SideBySide {
    /// The threads `count` jobs use when `threads` are allowed.
    static func workers(_ count: Int, threads: Int) -> Int { max(1, min(threads, count)) }

    /// `body(job, worker)` for every job in `0..<count`, on `workers(count,
    /// threads:)` threads (`worker` numbers the thread, for state it owns).
    /// The results come in job order; the first failing job in that order
    /// is the error thrown.
    static func map<T>(_ count: Int, threads: Int, _ body: (_ job: Int, _ worker: Int) throws -> T) throws -> [T] {
        var results = [Result<T, Error>?](repeating: nil, count: count)
        let next = NSLock()
        var taken = 0
        results.withUnsafeMutableBufferPointer { results in
            DispatchQueue.concurrentPerform(iterations: workers(count, threads: threads)) { w in
                while true {
                    next.lock()
                    let i = taken
                    taken += 1
                    next.unlock()
                    guard i < count else { return }
                    results[i] = Result { try body(i, w) }
                }
            }
        }
        return try results.map { try $0!.get() }
    }
}
