import Foundation

/// Compiled kernels by their LLVM IR text and target, so a child whose
/// layers share shapes with an earlier child's reuses their machine code
/// (tinygrad's idea: the kernel's own text is the key). The cache keeps the
/// most recently used `capacity` kernels alive; a graph keeps alive the
/// kernels it uses; code nobody keeps is freed. With a `directory`, each
/// compiled kernel's object file is also kept there, so a later process
/// links it instead of compiling it (KernelCacheDisk.swift). A `library` is
/// a folder of kernels compiled ahead of time (`nasc cache --build-library`),
/// read like `directory` but never written.
public final class KernelCache: @unchecked Sendable {
    public struct Entry {
        public let address: UnsafeRawPointer
        public let module: CompiledModule
    }

    /// The process's cache, on disk where `defaultDirectory` says, with the
    /// library `defaultLibrary` finds.
    public static let shared = KernelCache(directory: KernelCache.defaultDirectory(), library: KernelCache.defaultLibrary())

    /// Where object files persist between processes; nil: memory only.
    public let directory: URL?
    /// Kernels compiled ahead of time, linked when `directory` lacks them.
    public let library: URL?
    /// Whether a failure to write `directory` was reported (once), under `diskLock`.
    let diskLock = NSLock()
    var diskWarningShown = false

    public init(directory: URL? = nil, library: URL? = nil) {
        self.directory = directory
        self.library = library
    }

    private var entries: [String: Entry] = [:]
    private var recency: [String: Int] = [:]
    private var clock = 0
    private let lock = NSLock()
    public var capacity = 4096
    public private(set) var hits = 0
    public private(set) var misses = 0

    public func lookup(_ key: String) -> Entry? {
        lock.lock()
        defer { lock.unlock() }
        clock += 1
        if let e = entries[key] {
            hits += 1
            recency[key] = clock
            return e
        }
        misses += 1
        return nil
    }

    public func insert(_ key: String, _ entry: Entry) {
        lock.lock()
        defer { lock.unlock() }
        clock += 1
        entries[key] = entry
        recency[key] = clock
        while entries.count > capacity, let oldest = recency.min(by: { $0.value < $1.value })?.key {
            entries[oldest] = nil
            recency[oldest] = nil
        }
    }

    public func removeAll() {
        lock.lock()
        defer { lock.unlock() }
        entries = [:]
        recency = [:]
    }

    public var count: Int { lock.lock(); defer { lock.unlock() }; return entries.count }
}
