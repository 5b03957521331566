import Foundation

/// The most memory nasc allocates for one compiled graph, one interpreter
/// run or one dataset: sizes are checked against it before allocating, so
/// a graph or a batch that cannot fit is an error that says what it needs,
/// not an abort inside the allocator. The default is 80% of the machine's
/// physical memory; `NASC_MEMORY_LIMIT` overrides it (bytes, or a number
/// with K, M, G or T: `NASC_MEMORY_LIMIT=4G`).
public enum MemoryLimit {
    public static let variable = "NASC_MEMORY_LIMIT"

    /// Where the limit comes from, for messages.
    static var source: String {
        ProcessInfo.processInfo.environment[variable].flatMap(parse) != nil ? "set by \(variable)" : "80% of this machine's memory; \(variable) sets another"
    }

    public static var bytes: Int {
        if let text = ProcessInfo.processInfo.environment[variable], let parsed = parse(text) { return parsed }
        return Int(Double(ProcessInfo.processInfo.physicalMemory) * 0.8)
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
        let limit = bytes
        guard let needed, needed <= limit else {
            throw MemoryLimitError(message: "\(what) needs \(needed.map(human) ?? "more than 8 EiB") of memory, "
                + "more than the limit of \(human(limit)) (\(source)); \(advice)")
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
