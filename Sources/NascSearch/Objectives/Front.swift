import Foundation

/// The result of a multi-objective search: its children that no other
/// child beats on every objective at once.
public enum ParetoFront {
    /// A child of the front.
    public struct Member: Sendable {
        public var trial: TrialStore.Trial
        /// Its accuracy: the re-evaluated one when it has one.
        public var accuracy: Double
        public var reevaluated: Bool
        /// Its objectives' values, in the order of the objectives.
        public var values: [Double]
    }

    /// One trial per child: of a child trained at several rungs (ASHA),
    /// its highest; cached twins, failures and refusals left out.
    static func children(_ trials: [TrialStore.Trial]) -> [TrialStore.Trial] {
        var best: [String: TrialStore.Trial] = [:]
        for t in trials where t.status == "ok" && !t.hash.isEmpty {
            if let seen = best[t.hash], seen.rung >= t.rung { continue }
            best[t.hash] = t
        }
        return best.values.sorted { $0.id < $1.id }
    }

    /// The children best first as NSGA-II ranks them (front, then the less
    /// crowded): the order in which a multi-objective search re-evaluates
    /// them. Children missing an objective (no latency) come last.
    public static func ranked(_ trials: [TrialStore.Trial], objectives: [Objective]) -> [TrialStore.Trial] {
        let scored = children(trials).map { (trial: $0, costs: objectives.costs(of: $0)) }
        let known = scored.filter { $0.costs != nil }
        let points = known.map { $0.costs! }
        var order: [TrialStore.Trial] = []
        for front in Pareto.fronts(points) {
            let crowding = Pareto.crowding(points, front: front)
            order += zip(front, crowding).sorted { ($0.1, -$0.0) > ($1.1, -$1.0) }.map { known[$0.0].trial }
        }
        return order + scored.filter { $0.costs == nil }.map(\.trial)
    }

    /// The front of a search's trials under `objectives`. Once children
    /// were re-evaluated, the front is drawn from them alone, with their
    /// re-evaluated accuracy (an accuracy on the larger split and one on the
    /// reward's do not compare). Ordered by the first cost objective.
    public static func of(_ trials: [TrialStore.Trial], reevaluated: [Int: Double], objectives: [Objective]) -> [Member] {
        var candidates = children(trials)
        if !reevaluated.isEmpty { candidates = candidates.filter { reevaluated[$0.id] != nil } }
        let members = candidates.compactMap { t -> Member? in
            let accuracy = reevaluated[t.id] ?? t.validationAccuracy
            guard objectives.costs(of: t, accuracy: accuracy) != nil else { return nil }
            return Member(trial: t, accuracy: accuracy, reevaluated: reevaluated[t.id] != nil,
                          values: objectives.map { $0.value(of: t, accuracy: accuracy)! })
        }
        let points = members.map { m in zip(objectives, m.values).map { $0.cost($1) } }
        guard let first = Pareto.fronts(points).first else { return [] }
        let sortBy = objectives.firstIndex { !$0.maximised } ?? 0
        return first.map { members[$0] }.sorted { ($0.values[sortBy], $0.trial.id) < ($1.values[sortBy], $1.trial.id) }
    }
}

extension TrialStore {
    /// The objectives the search recorded (accuracy alone for stores from before).
    public func objectives() throws -> [Objective] {
        guard let text = try settings()?["objectives"] as? String, !text.isEmpty else { return [.accuracy] }
        return (try? Objective.parse(text)) ?? [.accuracy]
    }

    /// The search's Pareto front under `objectives` (its own by default).
    public func front(objectives given: [Objective]? = nil) throws -> [ParetoFront.Member] {
        ParetoFront.of(try all(), reevaluated: try reevaluations(), objectives: try given ?? objectives())
    }
}

extension Search {
    /// Writes the front into the run folder: `front/trialK.nasir` for each
    /// of its children (each retrainable with `nasc retrain RUN --trial K`)
    /// and `front/front.tsv`, one line per child; files of an earlier front
    /// that this one no longer holds are removed.
    func writeFront() throws {
        let objectives = options.objectives
        let front = try store.front(objectives: objectives)
        let folder = "\(options.directory)/front"
        do { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) } catch {
            throw SearchError(message: "cannot write the Pareto front there (\(error.localizedDescription)); every trial is in the store: move it away and run the same command again to write the front", file: folder)
        }
        let names = Set(front.map { "trial\($0.trial.id).nasir" })
        for old in (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [] where old.hasSuffix(".nasir") && !names.contains(old) {
            try? FileManager.default.removeItem(atPath: "\(folder)/\(old)")
        }
        var table = "trial\t" + objectives.map(\.rawValue).joined(separator: "\t") + "\treevaluated\tparams\tmflops\tfile\n"
        for m in front {
            let name = "trial\(m.trial.id)"
            try child(m.trial.decisions, name: name).writeWhole(to: "\(folder)/\(name).nasir")
            table += "\(m.trial.id)\t" + m.values.map { String(format: "%.6g", $0) }.joined(separator: "\t")
                + "\t\(m.reevaluated ? "yes" : "no")\t\(m.trial.parameters)\t" + String(format: "%.3f", Double(m.trial.flops) / 1e6) + "\tfront/\(name).nasir\n"
        }
        try table.writeWhole(to: "\(folder)/front.tsv")
        say("Pareto front (\(objectives.flag)): \(front.count) child(ren) in \(folder)/" + (front.contains { $0.reevaluated } ? ", accuracies re-evaluated" : ""))
        for m in front {
            say("  trial \(m.trial.id): " + zip(objectives, m.values).map { o, v in
                o == .accuracy ? "accuracy " + o.format(v) : o.format(v) + " " + o.unit
            }.joined(separator: ", "))
        }
    }
}
