import Foundation

/// What a multi-objective search trades off (`--objectives
/// accuracy,latency`): accuracy is maximised, the costs minimised. A
/// child's value of each is read from its trial, so every strategy, the
/// front and the report see the same numbers.
public enum Objective: String, CaseIterable, Sendable {
    /// Validation accuracy (the re-evaluated one once the child has it).
    case accuracy
    /// Measured inference latency at batch 1 on one thread, in ms (see ChildLatency).
    case latency
    /// Parameters.
    case params
    /// MFLOP per image.
    case mflops

    /// Whether more is better.
    public var maximised: Bool {
        switch self {
        case .accuracy: return true
        case .latency, .params, .mflops: return false
        }
    }

    /// Its unit, for tables.
    public var unit: String {
        switch self {
        case .accuracy: return ""
        case .latency: return "ms"
        case .params: return "parameters"
        case .mflops: return "MFLOP"
        }
    }

    /// The trial's value of this objective (nil: not known, e.g. a latency
    /// a worker could not measure); `accuracy` overrides the trial's own.
    public func value(of trial: TrialStore.Trial, accuracy: Double? = nil) -> Double? {
        switch self {
        case .accuracy: return accuracy ?? trial.validationAccuracy
        case .latency: return trial.latencyMs
        case .params: return Double(trial.parameters)
        case .mflops: return Double(trial.flops) / 1e6
        }
    }

    /// A value of this objective for a table: accuracy to 4 places, a
    /// parameter count whole, the others to 3.
    public func format(_ value: Double) -> String {
        switch self {
        case .accuracy: return String(format: "%.4f", value)
        case .params: return String(Int(value))
        case .latency, .mflops: return String(format: "%.3f", value)
        }
    }

    /// The value as a cost to minimise (accuracy negated).
    public func cost(_ value: Double) -> Double { maximised ? -value : value }

    /// Parses "accuracy,latency": at least accuracy and one cost, each once.
    public static func parse(_ text: String) throws -> [Objective] {
        let names = text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        var out: [Objective] = []
        for name in names {
            guard let o = Objective(rawValue: name.lowercased()) else {
                throw SearchError(message: "--objectives: unknown objective '\(name)' (choose from \(allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            guard !out.contains(o) else { throw SearchError(message: "--objectives: '\(name)' is given twice") }
            out.append(o)
        }
        guard out.contains(.accuracy) else {
            throw SearchError(message: "--objectives: include accuracy (a front of costs alone is the empty network)")
        }
        return out
    }
}

extension Array where Element == Objective {
    /// The trial's costs (every objective as a value to minimise); nil if one is unknown.
    public func costs(of trial: TrialStore.Trial, accuracy: Double? = nil) -> [Double]? {
        var out: [Double] = []
        for o in self {
            guard let v = o.value(of: trial, accuracy: accuracy), v.isFinite else { return nil }
            out.append(o.cost(v))
        }
        return out
    }

    /// "accuracy,latency", as the flag takes it.
    public var flag: String { map(\.rawValue).joined(separator: ",") }
}
