/// An attribute value as written in the IR: `3`, `1e-05`, `true`, `[1, 1]`, `same`.
public enum AttrValue: Hashable, Sendable, CustomStringConvertible {
    case int(Int)
    case float(Double)
    case bool(Bool)
    case ints([Int])
    case symbol(String)

    /// Canonical text. Floats use Swift's shortest round-tripping form,
    /// so printing and parsing back gives the identical `Double`.
    public var description: String {
        switch self {
        case .int(let v): return String(v)
        case .float(let v): return v.description
        case .bool(let v): return v ? "true" : "false"
        case .ints(let vs): return "[" + vs.map(String.init).joined(separator: ", ") + "]"
        case .symbol(let s): return s
        }
    }

    public var intValue: Int? { if case .int(let v) = self { return v }; return nil }
    public var floatValue: Double? { if case .float(let v) = self { return v }; return nil }
    public var boolValue: Bool? { if case .bool(let v) = self { return v }; return nil }
    public var intsValue: [Int]? { if case .ints(let v) = self { return v }; return nil }
    public var symbolValue: String? { if case .symbol(let v) = self { return v }; return nil }
}

/// What an attribute accepts.
public enum AttrKind: Sendable, Equatable {
    case int(min: Int)
    case float
    case bool
    case ints(count: Int, min: Int)
    case symbol([String])

    var expectation: String {
        switch self {
        case .int(let min): return "an integer from \(min) to \(Limits.maxDim)"
        case .float: return "a number"
        case .bool: return "true or false"
        case .ints(let count, let min): return "a list of \(count) integers from \(min) to \(Limits.maxDim)"
        case .symbol(let options): return "one of " + options.joined(separator: ", ")
        }
    }

    /// Checks a parsed value, converting where the text is unambiguous
    /// (an integer literal given for a float attribute). Returns nil if it does not fit.
    func accept(_ value: AttrValue) -> AttrValue? {
        switch (self, value) {
        case (.int(let min), .int(let v)) where v >= min && v <= Limits.maxDim: return value
        case (.float, .float): return value
        case (.float, .int(let v)): return .float(Double(v))
        case (.bool, .bool): return value
        case (.ints(let count, let min), .ints(let vs)) where vs.count == count && vs.allSatisfy({ $0 >= min && $0 <= Limits.maxDim }):
            return value
        case (.symbol(let options), .symbol(let s)) where options.contains(s): return value
        default: return nil
        }
    }
}

/// One attribute an op takes. With a default, the attribute may be omitted in
/// the text and is always printed; without one it is required, unless `optional`.
public struct AttrSpec: Sendable {
    public let name: String
    public let kind: AttrKind
    public let defaultValue: AttrValue?
    public let optional: Bool

    public static func required(_ name: String, _ kind: AttrKind) -> AttrSpec {
        AttrSpec(name: name, kind: kind, defaultValue: nil, optional: false)
    }
    public static func defaulted(_ name: String, _ kind: AttrKind, _ value: AttrValue) -> AttrSpec {
        AttrSpec(name: name, kind: kind, defaultValue: value, optional: false)
    }
    public static func optional(_ name: String, _ kind: AttrKind) -> AttrSpec {
        AttrSpec(name: name, kind: kind, defaultValue: nil, optional: true)
    }
}

/// An op's attributes in the op's declared order (the canonical print order).
public struct Attributes: Hashable, Sendable {
    public private(set) var entries: [(name: String, value: AttrValue)] = []

    public init() {}

    public init(_ pairs: [(String, AttrValue)]) {
        for (k, v) in pairs { self[k] = v }
    }

    public subscript(name: String) -> AttrValue? {
        get { entries.first(where: { $0.name == name })?.value }
        set {
            if let i = entries.firstIndex(where: { $0.name == name }) {
                if let v = newValue { entries[i].value = v } else { entries.remove(at: i) }
            } else if let v = newValue {
                entries.append((name, v))
            }
        }
    }

    public var isEmpty: Bool { entries.isEmpty }

    // Typed look-ups for code that reads a verified node, whose attributes
    // the verifier has checked and completed with their defaults: a missing
    // or misspelt name, or a value of another kind, is a bug in that code,
    // and stops it here, naming the attribute, instead of reading as 0.
    public func int(_ name: String) -> Int { required(name, \.intValue, "an integer") }
    public func float(_ name: String) -> Double { required(name, \.floatValue, "a number") }
    public func bool(_ name: String) -> Bool { required(name, \.boolValue, "a bool") }
    public func ints(_ name: String) -> [Int] { required(name, \.intsValue, "a list of integers") }
    public func symbol(_ name: String) -> String { required(name, \.symbolValue, "a symbol") }

    private func required<T>(_ name: String, _ read: KeyPath<AttrValue, T?>, _ kind: String) -> T {
        guard let value = self[name] else {
            preconditionFailure("internal: no attribute '\(name)' (the node has: \(entries.map(\.name).joined(separator: ", ")))")
        }
        guard let typed = value[keyPath: read] else { preconditionFailure("internal: attribute '\(name)' is \(value), not \(kind)") }
        return typed
    }

    public static func == (a: Attributes, b: Attributes) -> Bool {
        a.entries.count == b.entries.count
            && zip(a.entries, b.entries).allSatisfy { $0.name == $1.name && $0.value == $1.value }
    }

    public func hash(into h: inout Hasher) {
        for e in entries { h.combine(e.name); h.combine(e.value) }
    }
}
