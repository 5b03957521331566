import Foundation

/// Multi-fidelity evaluation, asynchronous successive halving (ASHA; Li et
/// al., 2020): every child first trains on the smallest budget (rung 0);
/// whenever a child is in the best 1/eta of the results at its rung, it is
/// promoted: trained on from its checkpoint to the next rung's budget,
/// eta times larger, up to the largest. Budgets count training images, so
/// a child at rung r has seen min(minBudget * eta^r, maxBudget) images. No
/// rung waits for another: a worker that asks for work gets a promotion if
/// one is due, otherwise a new child.
public struct Fidelity: FidelitySchedule, Equatable {
    public var eta = 3
    public var minBudget = 1000
    public var maxBudget = 9000

    public init(eta: Int = 3, minBudget: Int = 1000, maxBudget: Int = 9000) {
        (self.eta, self.minBudget, self.maxBudget) = (eta, minBudget, maxBudget)
    }

    /// Training images a child has seen once it finishes rung `r`.
    public func budget(_ r: Int) -> Int {
        var b = minBudget
        for _ in 0..<r { b = b > maxBudget / eta ? maxBudget : b * eta }
        return min(b, maxBudget)
    }

    /// Rungs 0 ..< rungs: the last is the first whose budget is the largest.
    public var rungs: Int {
        var r = 0
        while budget(r) < maxBudget { r += 1 }
        return r + 1
    }

    /// ASHA's rule: the best ⌊n / eta⌋ of a rung's n results.
    public func promoted<T>(fromRanked results: [T]) -> ArraySlice<T> { results.prefix(results.count / eta) }

    public var flags: String { "--fidelity asha --eta \(eta) --min-budget \(minBudget) --max-budget \(maxBudget)" }

    public var json: [String: Any] { ["fidelity": "asha", "eta": eta, "min_budget": minBudget, "max_budget": maxBudget] }

    public init?(json: [String: Any]) {
        guard json["fidelity"] as? String == "asha" else { return nil }
        self.init(eta: json["eta"] as? Int ?? 3, minBudget: json["min_budget"] as? Int ?? 1000, maxBudget: json["max_budget"] as? Int ?? 9000)
    }

    public var description: String {
        "ASHA, eta \(eta), rungs of " + (0..<rungs).map { String(budget($0)) }.joined(separator: ", ") + " images"
    }
}
