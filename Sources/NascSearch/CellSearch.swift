import Foundation
import NascIR
import NascPasses
import NascRuntime
import NascTraining

/// The NAS-RL recurrent cell search (Zoph & Le 2017, section 4.2): children
/// are cells of RNNCellSpace, each trained as a small language model on a
/// slice of Penn Treebank (the proxy) and rewarded c / ppl², ppl its
/// validation perplexity. The paper sets c to 80: a constant only scales the
/// rewards, and REINFORCE's moving baseline and the other strategies'
/// comparisons do not care. Trials go to the same trial store as CNN
/// searches (`trials.db`), where a cell's `validation_accuracy` column holds
/// its validation perplexity; a second run on the same folder continues.
/// Children train one at a time, in this process.
public final class CellSearch {
    public struct Options: Sendable {
        public var strategy = StrategyKind.reinforce
        public var children = 60
        /// Children per REINFORCE update (and per round for the others).
        public var perUpdate = 5
        public var space = RNNCellSpace(base: 8)
        /// The proxy language model: its size and training.
        public var hidden = 64
        public var layers = 1
        public var trainWords = 100_000
        public var validationWords = 20_000
        public var epochs = 1
        public var batch = 20
        public var steps = 35
        public var learningRate = 1.0
        public var rewardConstant = 80.0
        /// The REINFORCE controller's Adam learning rate.
        public var controllerLearningRate = 0.01
        /// β of the controller's entropy bonus (0: none). Cell rewards are
        /// small (c / ppl² is about 1e-4 here), so useful values are too.
        public var entropyWeight = 0.0
        public var seed: UInt64 = 0
        public var execution = ExecutionSettings()
        public var verbose = true
        public init() {}

        /// What makes two runs' trials comparable, recorded in the store.
        public var settings: [String: Any] {
            var out: [String: Any] = ["space": "rnn-cell", "base": space.base, "hidden": hidden, "layers": layers, "train_words": trainWords,
                                      "validation_words": validationWords, "epochs": epochs, "batch": batch, "steps": steps, "lr": learningRate,
                                      "reward_c": rewardConstant, "seed": Int64(bitPattern: seed)]
            // Only when set: runs from before the bonus existed continue without it.
            if entropyWeight != 0 { out["entropy_weight"] = entropyWeight }
            return out
        }
    }

    public struct Outcome: Sendable {
        public var trials: [TrialStore.Trial]
        public var best: TrialStore.Trial?
    }

    public let options: Options
    public let store: TrialStore
    let text: Text

    /// A text for the proxy: the search reads the first `trainWords` and
    /// `validationWords` of its streams.
    public struct Text: Sendable {
        public var vocabulary: Int
        public var train: [Int32]
        public var validation: [Int32]
        public init(vocabulary: Int, train: [Int32], validation: [Int32]) {
            self.vocabulary = vocabulary
            self.train = train
            self.validation = validation
        }
    }

    public init(options: Options, store: TrialStore, text: Text) {
        self.options = options
        self.store = store
        self.text = Text(vocabulary: text.vocabulary, train: Array(text.train.prefix(options.trainWords)),
                                       validation: Array(text.validation.prefix(options.validationWords)))
    }

    /// Holds the run folder for one search at a time (see RunLock).
    public static func lock(_ directory: String) throws -> AnyObject { try RunLock(directory: directory) }

    /// The cell of `choices` at the proxy's size.
    public func cell(_ choices: [Int], name: String) throws -> Graph {
        try Verifier.parseAndVerify(Array(options.space.ir(choices, name: name, inputSize: options.hidden, hidden: options.hidden).utf8))
    }

    func say(_ s: String) {
        if options.verbose { print(s); fflush(stdout) }
    }

    public func run() throws -> Outcome {
        let decisionCount = options.space.decisions.count
        // Every cell would fail the same way on a text too short for one batch: say so once, before any.
        let needed = options.batch * (options.steps + 1)
        for (name, stream, flag) in [("training", text.train, "--train-words"), ("validation", text.validation, "--validation-words")] where stream.count < needed {
            throw SearchError(message: "the proxy's \(name) text has \(stream.count) words, too few for one batch of \(options.batch) rows of \(options.steps + 1) words (\(needed)): raise \(flag), or give a longer text")
        }
        let made = StrategyKind.Settings(seed: options.seed, children: options.children, perUpdate: options.perUpdate,
                                         controllerLearningRate: options.controllerLearningRate, entropyWeight: options.entropyWeight,
                                         execution: options.execution)
        var strategy = try options.strategy.make(space: options.space, made)
        // Resume: the run's settings must be those it was started with; the
        // controller reloads the state committed with the last cells it
        // learned from and learns from any a kill left unlearned; the other
        // strategies see every earlier trial again.
        if let recorded = try store.settings() {
            func same(_ a: Any?, _ b: Any) -> Bool {
                if let x = a as? NSNumber, let y = b as? NSNumber { return x.doubleValue == y.doubleValue }
                return "\(a ?? "none")" == "\(b)"
            }
            let now = options.settings
            for key in Set(now.keys).union(recorded.keys).sorted() where !same(recorded[key], now[key] ?? "none") {
                throw SearchError(message: "this run was started with \(key) = \(recorded[key] ?? "none"), not \(now[key] ?? "none"): continue it with the same settings, or pass another --out", file: store.path)
            }
        } else {
            try store.setSettings(options.settings)
        }
        let previous = try store.all()
        strategy.proposed = previous.count
        if let odd = previous.first(where: { $0.decisions.count != decisionCount }) {
            throw SearchError(message: "trial \(odd.id) has \(odd.decisions.count) decisions, but cells of base \(options.space.base) have \(decisionCount): continue it with the same --base, or pass another --out")
        }
        if let controller = strategy as? ReinforceController {
            if let state = try store.strategyState() {
                try controller.restore(try Checkpoint.decode([UInt8](state), path: "\(store.path) (strategy state)").tensors)
            }
            let unlearned = try store.unobserved()
            if !unlearned.isEmpty {
                try strategy.observe(unlearned.map(\.decisions), rewards: unlearned.map(\.reward))
                try store.commitRound(ids: unlearned.map(\.id), state: try controllerState(controller))
            }
        } else if !previous.isEmpty {
            try strategy.observe(previous.map(\.decisions), rewards: previous.map(\.reward))
            try store.commitRound(ids: try store.unobservedIDs().sorted(), state: nil)
        }
        if !previous.isEmpty { say("resuming: \(previous.count) cells already trained") }
        say("cell search: \(options.strategy.rawValue), \(options.children) cells of base \(options.space.base) (\(decisionCount) decisions); proxy: "
            + "\(options.layers) layer(s) of \(options.hidden) units, \(options.trainWords) training words, \(options.validationWords) validation words, reward \(options.rewardConstant) / ppl^2")
        var trials = previous
        let start = Date(), startCount = previous.count
        while trials.count < options.children {
            let round = try strategy.propose(min(options.perUpdate, options.children - trials.count))
            var rewards: [Double] = []
            var ids: [Int] = []
            for choices in round {
                let trial = evaluate(choices, id: trials.count + 1, strategy: strategy.name)
                let id = try store.insert(trial)
                ids.append(id)
                trials.append(trial)
                rewards.append(trial.reward)
                let ppl = trial.status == "ok" || trial.status == "cached" ? String(format: "ppl %.1f", trial.validationAccuracy) : trial.status
                let eta = Date().timeIntervalSince(start) / Double(trials.count - startCount) * Double(options.children - trials.count)
                say(String(format: "cell %d/%d: %@, reward %.5f, %d parameters, %.1f s, ETA %@%@", trials.count, options.children, ppl, trial.reward,
                           trial.parameters, trial.compileSeconds + trial.trainSeconds + trial.evaluateSeconds, Progress.clock(eta),
                           trial.error.isEmpty ? "" : " (\(trial.error.prefix(120)))"))
            }
            try strategy.observe(round, rewards: rewards)
            try store.commitRound(ids: ids, state: try (strategy as? ReinforceController).map(controllerState))
        }
        let best = trials.filter { $0.status == "ok" || $0.status == "cached" }.max { $0.reward < $1.reward }
        return Outcome(trials: trials, best: best)
    }

    func controllerState(_ controller: ReinforceController) throws -> Data {
        try Checkpoint(graphName: "controller", graphHash: "", epoch: 0, step: 0, tensors: controller.parameters).encoded()
    }

    /// Trains the cell of `choices` as the proxy language model.
    func evaluate(_ choices: [Int], id: Int, strategy: String) -> TrialStore.Trial {
        var trial = TrialStore.Trial(id: id, strategy: strategy, decisions: choices, hash: "", reward: 0, validationAccuracy: 0, parameters: 0, flops: 0,
                                     compileSeconds: 0, trainSeconds: 0, status: "ok", error: "")
        do {
            let graph = try cell(choices, name: "cell\(id)")
            trial.hash = StructuralHash.hash(graph)
            if let seen = try store.known(hash: trial.hash) {
                trial.status = "cached"
                trial.reward = seen.reward
                trial.validationAccuracy = seen.accuracy
                trial.parameters = seen.parameters  // the same cell, so the same model
                return trial
            }
            var o = LanguageModelTrainer.Options()
            o.epochs = options.epochs
            o.batch = options.batch
            o.steps = options.steps
            o.layers = options.layers
            o.learningRate = options.learningRate
            o.decayAfter = max(options.epochs, 1)
            o.evaluationBatch = options.batch
            o.seed = options.seed &+ UInt64(id)
            o.verbose = false
            o.execution = options.execution
            var start = Date()
            let trainer = try LanguageModelTrainer(cell: graph, vocabulary: text.vocabulary, options: o)
            trial.parameters = GraphStatistics(trainer.model).parameterElements
            trial.compileSeconds = Date().timeIntervalSince(start)
            start = Date()
            var ppl = Double.infinity
            for _ in 0..<options.epochs {
                let r = try trainer.trainEpoch(text.train, validation: text.validation)
                trial.trainSeconds += r.seconds
                ppl = r.validationPerplexity
            }
            trial.evaluateSeconds = max(0, Date().timeIntervalSince(start) - trial.trainSeconds)
            guard ppl.isFinite else { throw TrainingError("the validation perplexity is \(ppl)", diverged: true) }
            trial.validationAccuracy = ppl
            trial.reward = options.rewardConstant / (ppl * ppl)
        } catch {
            trial.failed(error)
        }
        return trial
    }
}
