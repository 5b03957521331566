import Foundation

/// The most memory nasc allocates for one compiled graph, one interpreter
/// run or one dataset: sizes are checked against it before allocating, so
/// a graph or a batch that cannot fit is an error that says what it needs,
/// not an abort inside the allocator.
///
/// The limit is the smallest of the bounds that apply to this process
/// (`bounds()`): 80% of the machine's physical memory, or
/// `NASC_MEMORY_LIMIT` instead of that share (bytes, or a number with K, M,
/// G or T: `NASC_MEMORY_LIMIT=4G`); 80% of its cgroup's memory limit (v2
/// `memory.max`, v1 `memory.limit_in_bytes`: how containers, Kubernetes and
/// systemd limit a worker); and what its address-space and data limits
/// (`ulimit -v`, RLIMIT_AS and RLIMIT_DATA) leave above what it has mapped
/// already. `nasc version` prints them and says which is in force.
public enum MemoryLimit {
    public static let variable = "NASC_MEMORY_LIMIT"

    /// One bound on the memory a graph may take, and where it comes from.
    public struct Bound: Equatable, Sendable {
        public var bytes: Int
        public var source: String
        public init(bytes: Int, source: String) { (self.bytes, self.source) = (bytes, source) }
    }

    /// The bound in force: the smallest.
    public static var inForce: Bound {
        bounds().min { $0.bytes < $1.bytes }!
    }

    public static var bytes: Int { inForce.bytes }

    /// Every bound that applies now. `root` prefixes /proc and /sys (tests
    /// give a folder of fixture files); `limits` reads an rlimit (nil:
    /// none) and `mapped` what the process has mapped for it.
    public static func bounds(environment: [String: String] = ProcessInfo.processInfo.environment, root: String = "",
                              physical: Int = Int(clamping: ProcessInfo.processInfo.physicalMemory),
                              limits: (Resource) -> Int? = Resource.current, mapped: (Resource) -> Int = Resource.mapped) -> [Bound] {
        var out: [Bound] = []
        if let text = environment[variable], let parsed = parse(text) {
            out.append(Bound(bytes: parsed, source: "set by \(variable)"))
            out.append(Bound(bytes: physical, source: "this machine's physical memory"))
        } else {
            out.append(Bound(bytes: Int(Double(physical) * 0.8), source: "80% of this machine's \(human(physical)); \(variable) sets another"))
        }
        if let group = root.isEmpty ? ownCgroupLimit : cgroupLimit(root: root) {
            out.append(Bound(bytes: Int(Double(group.bytes) * 0.8), source: "80% of the \(human(group.bytes)) memory limit of this process's cgroup (\(group.file))"))
        }
        for resource in Resource.allCases {
            guard let limit = limits(resource) else { continue }
            let used = mapped(resource)
            out.append(Bound(bytes: max(0, limit - used),
                             source: "\(resource.name) of \(human(limit)) (\(resource.setBy)) less the \(human(used)) this process has mapped"))
        }
        return out
    }

    /// The per-process limits that count allocations.
    public enum Resource: CaseIterable, Hashable, Sendable {
        case addressSpace, data

        var name: String { self == .addressSpace ? "the address-space limit" : "the data-segment limit" }
        var setBy: String { self == .addressSpace ? "RLIMIT_AS, ulimit -v" : "RLIMIT_DATA, ulimit -d" }

        /// The soft limit in bytes; nil when unlimited.
        public static func current(_ r: Resource) -> Int? {
            var limit = rlimit()
            #if os(Linux)
            let which = r == .addressSpace ? __rlimit_resource_t(RLIMIT_AS.rawValue) : __rlimit_resource_t(RLIMIT_DATA.rawValue)
            #else
            let which = r == .addressSpace ? RLIMIT_AS : RLIMIT_DATA
            #endif
            guard getrlimit(which, &limit) == 0, limit.rlim_cur != rlim_t.max else { return nil }
            return Int(clamping: limit.rlim_cur)
        }

        /// What the process has mapped that counts against the limit: its
        /// whole address space (VmSize), or its private writable memory
        /// (VmData), from /proc/self/status.
        public static func mapped(_ r: Resource) -> Int {
            guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
            let key = r == .addressSpace ? "VmSize:" : "VmData:"
            guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix(key) }),
                  let kib = Int(line.dropFirst(key.count).split(whereSeparator: { $0 == " " || $0 == "\t" }).first ?? "") else { return 0 }
            return kib * 1024
        }
    }

    /// This process's cgroup limit, read once: sizes are checked on every
    /// compile and interpreter run, and a process does not change groups.
    static let ownCgroupLimit = cgroupLimit()

    /// The memory limit of this process's cgroup, the smallest on its path
    /// to the root (v2: `memory.max`; v1: the hierarchical limit in
    /// `memory.stat`, else `memory.limit_in_bytes`); nil when none is set.
    /// Limits of 2^62 bytes and more mean none (v1 writes 2^63 - 4096).
    public static func cgroupLimit(root: String = "") -> (bytes: Int, file: String)? {
        guard let membership = try? String(contentsOfFile: root + "/proc/self/cgroup", encoding: .utf8) else { return nil }
        var found: [(bytes: Int, file: String)] = []
        func read(_ file: String, key: String? = nil) {
            guard let text = try? String(contentsOfFile: root + file, encoding: .utf8) else { return }
            var value = text.trimmingCharacters(in: .whitespacesAndNewlines)
            if let key {
                guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix(key + " ") }) else { return }
                value = String(line.dropFirst(key.count + 1))
            }
            if let bytes = Int(value), bytes > 0, bytes < 1 << 62 { found.append((bytes, file)) }
        }
        for line in membership.split(separator: "\n") {
            let fields = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count == 3 else { continue }
            let path = fields[2].split(separator: "/").map(String.init)
            if fields[0] == "0" && fields[1].isEmpty {
                // v2: each ancestor's memory.max applies too; where the
                // group's own folder is not visible (a namespaced mount),
                // the mount's root is the group.
                // (Hybrid systems mount v2 at /sys/fs/cgroup/unified.)
                for mount in ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"] {
                    for depth in 0...path.count { read(mount + path.prefix(depth).map { "/" + $0 }.joined() + "/memory.max") }
                }
            } else if fields[1].split(separator: ",").contains("memory") {
                let mount = "/sys/fs/cgroup/memory"
                let folder = mount + path.map { "/" + $0 }.joined()
                let own = FileManager.default.fileExists(atPath: root + folder + "/memory.stat") ? folder : mount
                read(own + "/memory.stat", key: "hierarchical_memory_limit")
                read(own + "/memory.limit_in_bytes")
            }
        }
        return found.min { $0.bytes < $1.bytes }
    }

    /// "1048576", "512M", "1.5G": a byte count, or nil when it is not one.
    public static func parse(_ text: String) -> Int? {
        let units: [Character: Double] = ["K": 1024, "M": 1048576, "G": 1073741824, "T": 1099511627776]
        var digits = text.trimmingCharacters(in: .whitespaces).uppercased()
        if digits.hasSuffix("B") { digits.removeLast() }
        var scale = 1.0
        if let last = digits.last, let u = units[last] { scale = u; digits.removeLast() }
        guard let value = Double(digits), value.isFinite, value > 0, value * scale < 9.0e18 else { return nil }
        return Int(value * scale)
    }

    /// Adds sizes; nil when any is unknown (overflowed) or the sum overflows.
    public static func sum(_ sizes: [Int?]) -> Int? {
        var total = 0
        for s in sizes {
            guard let s, s >= 0 else { return nil }
            let (t, overflow) = total.addingReportingOverflow(s)
            if overflow { return nil }
            total = t
        }
        return total
    }

    /// Throws when `needed` bytes (nil: more than an Int can count) exceed
    /// the limit. `what` names the allocation, `advice` says what to change.
    public static func check(_ needed: Int?, for what: String, advice: String) throws(MemoryLimitError) {
        let limit = inForce
        guard let needed, needed <= limit.bytes else {
            throw MemoryLimitError(message: "\(what) needs \(needed.map(human) ?? "more than 8 EiB") of memory, "
                + "more than the limit of \(human(limit.bytes)) (\(limit.source)); \(advice)")
        }
    }

    /// "512 B", "1.5 KiB", "216.41 MiB", "1.02 TiB".
    public static func human(_ bytes: Int) -> String {
        if bytes < 1 << 10 { return "\(bytes) B" }
        if bytes < 1 << 20 { return String(format: "%.1f KiB", Double(bytes) / 1024) }
        let units = ["MiB", "GiB", "TiB", "PiB", "EiB"]
        var v = Double(bytes) / Double(1 << 20), u = 0
        while v >= 1024 && u < units.count - 1 { v /= 1024; u += 1 }
        return String(format: "%.2f ", v) + units[u]
    }
}

public struct MemoryLimitError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

extension TensorType {
    /// Elements with N bound to `batch`, or nil when the count overflows.
    public func elements(batch: Int) -> Int? {
        guard let per = elementsPerExample else { return nil }
        guard hasBatch else { return per }
        let (n, overflow) = per.multipliedReportingOverflow(by: batch)
        return overflow ? nil : n
    }

    /// Bytes with N bound to `batch` (at `bytesPerElement`, default the
    /// dtype's own size), or nil when the count overflows.
    public func bytes(batch: Int, bytesPerElement: Int? = nil) -> Int? {
        guard let n = elements(batch: batch) else { return nil }
        let (b, overflow) = n.multipliedReportingOverflow(by: bytesPerElement ?? dtype.byteSize)
        return overflow ? nil : b
    }
}
