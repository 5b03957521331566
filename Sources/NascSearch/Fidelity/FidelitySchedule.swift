import Foundation

/// How much a search trains each child, and which children train on: the
/// multi-fidelity schedule (Optuna's pruners play this part). A child
/// starts at rung 0; the schedule says what each rung trains and which of a
/// rung's results go on to the next, from their checkpoints. No schedule
/// (nil in `Search.Options`) trains every child `--epochs` once.
public protocol FidelitySchedule: Sendable {
    /// Rungs 0 ..< rungs.
    var rungs: Int { get }
    /// Training images a child has seen once it finishes rung `r`.
    func budget(_ r: Int) -> Int
    /// Of the results at one rung, best first (each child once), those to
    /// promote to the next rung once it is known they deserve it.
    func promoted<T>(fromRanked results: [T]) -> ArraySlice<T>
    /// The settings a run records (search.json, the store), and its flags.
    var json: [String: Any] { get }
    var flags: String { get }
    var description: String { get }
}

extension FidelitySchedule {
    /// Images to train at rung `r`, on from rung r - 1.
    public func increment(_ r: Int) -> Int { r == 0 ? budget(0) : budget(r) - budget(r - 1) }
}

/// The schedule a run recorded, if any (nil: every child trained alike).
public func fidelitySchedule(json: [String: Any]) -> (any FidelitySchedule)? {
    Fidelity(json: json)
}

/// The flags of a schedule, or of none, for messages.
public func fidelityFlags(_ f: (any FidelitySchedule)?) -> String { f?.flags ?? "--fidelity none" }
