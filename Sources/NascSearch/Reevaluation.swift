import Foundation
import NascData
import NascRuntime

/// Noise-aware selection. On 1,000 validation images an accuracy is worth
/// about ±0.013, so the top of a leaderboard is a tie and the first place
/// partly luck. Before naming the winner, the search trains its top
/// children again, each on the budget its best rung had, with another seed,
/// and measures them on a larger split of images that no child trained or
/// was rewarded on; the winner is the best there.
public struct Reevaluation: Sendable {
    /// Children to re-evaluate (0: none; the best reward wins).
    public var top: Int
    /// The images of the larger split.
    public var images: ImageDataset
    /// Whether the children come in NSGA-II's order (front, then crowding), for messages.
    public var pareto: Bool

    public init(top: Int, images: ImageDataset, pareto: Bool = false) {
        self.top = top
        self.images = images
        self.pareto = pareto
    }

    /// A re-evaluated child: its trial, and its accuracy on the larger split.
    public struct Result: Sendable {
        public var trial: TrialStore.Trial
        public var accuracy: Double
        public var interval: AccuracyInterval
        /// The search's reward computed from `accuracy` (its cost factor included).
        public var reward: Double
    }

    /// Re-evaluates the best `top` children of `ranked` (best first) not
    /// re-evaluated yet, recording each in the store as it finishes; returns
    /// every re-evaluated child of the top, best first.
    func run(_ ranked: [TrialStore.Trial], store: TrialStore, settings: SearchSettings, train: ImageDataset,
             execution: ExecutionSettings, say: (String) -> Void) throws -> [Result] {
        // Each child once: a cached twin is the same network.
        var seen = Set<String>()
        let candidates = ranked.filter { $0.succeeded && $0.status != "cached" && seen.insert($0.hash).inserted }.prefix(top)
        guard candidates.count > 1 else { return [] }
        var done = try store.reevaluations()
        // The budget of the best rung, in whole passes over the training images.
        var once = settings
        if let fidelity = settings.fidelity {
            once.epochs = (fidelity.budget(fidelity.rungs - 1) + train.count - 1) / train.count
            once.fidelity = nil
        }
        let trainer = ChildTrainer(settings: once, train: train, validation: images, execution: execution)
        let todo = candidates.filter { done[$0.id] == nil }
        if !todo.isEmpty {
            say("re-evaluating the \(pareto ? "first \(candidates.count) children by Pareto front and crowding" : "top \(candidates.count) children"): each trained again (\(once.epochs) pass(es) over \(train.count) images, another seed) and measured on \(images.count) images no child saw")
        }
        for t in todo {
            // Another seed than the search's: its job ids count from 1.
            let job = Job(id: 1_000_000 + t.id, decisions: t.decisions, strategy: "reevaluation")
            let (trial, _) = try trainer.evaluate(job, known: { _ in nil })
            guard trial.succeeded else {
                say("  trial \(t.id): \(trial.status) when trained again (\(trial.error)); it keeps its place by reward")
                continue
            }
            try store.recordReevaluation(trial: t.id, accuracy: trial.validationAccuracy, images: images.count)
            done[t.id] = trial.validationAccuracy
            say(String(format: "  trial %d: %.4f on %d images (%.4f in the search)", t.id, trial.validationAccuracy, images.count, t.validationAccuracy))
        }
        return candidates.compactMap { t in
            done[t.id].map { Result(trial: t, accuracy: $0, interval: AccuracyInterval(accuracy: $0, count: images.count),
                                    reward: settings.reward(accuracy: $0, flopsPerImage: t.flops, latencyMs: t.latencyMs)) }
        }.sorted { ($0.reward, -$0.trial.id) > ($1.reward, -$1.trial.id) }
    }
}

extension TrialStore {
    /// The child a search names its winner: of the re-evaluated children,
    /// the one whose accuracy on the larger split earns the best reward (its
    /// cost factor included); the best-ranked child when none was
    /// re-evaluated. `nasc retrain` trains this one by default.
    public func winner() throws -> Trial? {
        let ranked = try self.ranked()
        let again = try reevaluations()
        let reward = try settings().flatMap(SearchSettings.init(json:))?.reward ?? Reward()
        let best = ranked.compactMap { t in again[t.id].map { (trial: t, reward: reward(accuracy: $0, flopsPerImage: t.flops, latencyMs: t.latencyMs)) } }
            .max { ($0.reward, -$0.trial.id) < ($1.reward, -$1.trial.id) }
        return best?.trial ?? ranked.first(where: \.succeeded)
    }
}
