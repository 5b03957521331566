import Foundation
import NascSearch

/// One search as a report draws it: its settings, trials and updates, and
/// the figures derived from them.
public struct RunData {
    public let name: String
    public let settings: [String: Any]
    /// In the order they finished.
    public let trials: [TrialStore.Trial]
    public let updates: [TrialStore.Update]
    public let shape: ChildShape?
    /// Best first; children without a finite reward last.
    public let leaderboard: [TrialStore.Trial]
    /// What a multi-objective search traded off (accuracy alone otherwise).
    public let objectives: [Objective]
    /// A multi-objective search's Pareto front (TrialStore.front), cheapest first; empty otherwise.
    public let front: [ParetoFront.Member]

    /// `promoted`: jobs whose child multi-fidelity trained on (their trials
    /// are superseded by the promotion's).
    public init(name: String, settings: [String: Any], trials: [TrialStore.Trial], updates: [TrialStore.Update], promoted: Set<Int> = [],
                reevaluated: [Int: Double] = [:]) {
        self.name = name
        objectives = (settings["objectives"] as? String).flatMap { try? Objective.parse($0) } ?? [.accuracy]
        front = objectives.count > 1 ? ParetoFront.of(trials, reevaluated: reevaluated, objectives: objectives) : []
        self.settings = settings
        self.trials = trials.sorted { $0.id < $1.id }
        self.updates = updates
        shape = ChildShape(json: settings)
        leaderboard = TrialStore.ranked(self.trials, promoted: promoted)
    }

    /// Reads a run's store.
    public init(name: String, store: TrialStore) throws {
        // Proposals refused over the cost limit never ran: not the search's children.
        self.init(name: name, settings: try store.settings() ?? [:], trials: try store.all().filter { !$0.isOverLimit }, updates: try store.updates(),
                  promoted: try store.promotedJobs(), reevaluated: try store.reevaluations())
    }

    public var strategy: String { settings["strategy"] as? String ?? trials.first?.strategy ?? "?" }
    /// Images each reward was measured on (search.json's validation_images).
    public var validationImages: Int { settings["validation_images"] as? Int ?? 0 }
    public var succeeded: [TrialStore.Trial] { trials.filter { $0.succeeded && $0.reward.isFinite } }

    /// The `k` best children that trained (the ones a report draws).
    public func best(_ k: Int) -> ArraySlice<TrialStore.Trial> {
        leaderboard.filter { $0.succeeded && $0.reward.isFinite }.prefix(k)
    }

    /// The best reward after each child, in the order children finished.
    public var bestSoFar: [(index: Int, reward: Double)] {
        var best = -Double.infinity
        return trials.enumerated().compactMap { i, t in
            if t.succeeded && t.reward.isFinite { best = max(best, t.reward) }
            return best.isFinite ? (i + 1, best) : nil
        }
    }

    /// Of `trials` (children that trained), those no other beats on both
    /// accuracy and cost (`cost`: FLOPs or parameters), cheapest first.
    public static func paretoFront(_ trials: [TrialStore.Trial], cost: (TrialStore.Trial) -> Int) -> [TrialStore.Trial] {
        var front: [TrialStore.Trial] = []
        var best = -Double.infinity
        for t in trials.sorted(by: { cost($0) != cost($1) ? cost($0) < cost($1) : $0.validationAccuracy > $1.validationAccuracy })
        where t.validationAccuracy.isFinite && t.validationAccuracy > best {
            front.append(t)
            best = t.validationAccuracy
        }
        return front
    }

    /// Seconds from "YYYY-MM-DD HH:MM:SS" (UTC) timestamps.
    static func seconds(_ text: String) -> Double? { stampFormat.date(from: text)?.timeIntervalSince1970 }

    private static let stampFormat: DateFormatter = {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyy-MM-dd HH:mm:ss"
        return f
    }()

    /// Where the time went: compile and train summed over children, the
    /// wall clock from the first child's record to the last, and the share
    /// of the workers' time that was spent on children.
    public var time: (compile: Double, train: Double, evaluate: Double, wall: Double, workers: Int, busy: Double) {
        let compile = trials.map(\.compileSeconds).filter(\.isFinite).reduce(0, +)
        let train = trials.map(\.trainSeconds).filter(\.isFinite).reduce(0, +)
        let evaluate = trials.map(\.evaluateSeconds).filter(\.isFinite).reduce(0, +)
        let stamps = trials.compactMap { RunData.seconds($0.created) }
        // The first child's own time counts: its record comes when it ends.
        let first = trials.first.map { $0.compileSeconds + $0.trainSeconds + $0.evaluateSeconds } ?? 0
        let wall = (stamps.max() ?? 0) - (stamps.min() ?? 0) + first
        let workers = max(1, settings["workers"] as? Int ?? 1)
        let busy = wall > 0 ? min(1, (compile + train + evaluate) / (wall * Double(workers))) : 0
        return (compile, train, evaluate, wall, workers, busy)
    }

    /// Population size of evolution (as Search sets it).
    public var population: Int { max((settings["children"] as? Int ?? trials.count) / 4, 4) }
}
