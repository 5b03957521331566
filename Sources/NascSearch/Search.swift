import Foundation
import NascData
import NascIR
import NascLLVM
import NascRuntime
import NascPasses
import NascTraining

public struct SearchError: Error, CustomStringConvertible {
    public var message: String
    /// The file at fault, when it is one (the trial store).
    public var file: String? = nil
    public var description: String { file.map { "\($0): error: \(message)" } ?? message }
}

/// The search loop: propose children, train each briefly, reward it with
/// its validation accuracy cubed (Zoph & Le; weighed by cost with a
/// target, see Reward), let the strategy learn, and
/// record every trial. A child whose structural hash was seen before reuses
/// that reward instead of training again; a child that fails is recorded
/// with its error and the search goes on.
public final class Search {
    public struct Options: Sendable {
        public var space = CNNSpace(layers: 4, poolEvery: 1)
        public var strategy = "reinforce"
        public var children = 100
        /// Children per controller update (and per proposal round).
        public var perUpdate = 4
        public var controllerLearningRate = 0.01
        /// β of the controller's entropy bonus (0: none, as in the paper).
        public var entropyWeight = 0.0
        /// How a child's accuracy (and cost, with a target) makes its reward.
        public var reward = Reward()
        /// The paper's growing schedule: children start with `growFrom`
        /// layers and gain 2 every `growEvery` children, up to the space's
        /// layers (Zoph & Le: from 6, every 1,600). 0: children always have
        /// the space's layers.
        public var growFrom = 0
        public var growEvery = 0
        public var trainImages = 8000
        public var validationImages = 1000
        public var epochs = 1
        public var batch = 32
        public var learningRate = 0.1
        public var seed: UInt64 = 0
        /// Threads for each child's and the controller's compiled code.
        public var execution = ExecutionSettings()
        public var directory = "nasc-run"
        public var verbose = true
        public init() {}
    }

    public let options: Options
    public let store: TrialStore
    var strategy: SearchStrategy
    let train: ImageDataset
    /// The space and the images this search's children are built for.
    let shape: ChildShape
    let validation: ImageDataset
    var log: FileHandle?
    /// Held while this search lives: a second search on the folder is refused.
    let lock: RunLock
    var seen: [String: (reward: Double, accuracy: Double)] = [:]

    public init(options: Options, train: ImageDataset, validation: ImageDataset) throws {
        guard train.height == train.width else {
            throw SearchError(message: "the search space builds square images; these are \(train.height)x\(train.width)")
        }
        self.options = options
        self.train = train
        shape = ChildShape(space: options.space, channels: train.channels, size: train.height, classes: train.classes)
        self.validation = validation
        // A batch at which even the space's smallest child cannot train would
        // fail every child: say so once, before anything is written.
        let smallest = shape.ir([Int](repeating: 0, count: options.space.decisions.count), name: "smallest")
        do {
            let forward = try Verifier.parseAndVerify(Array(smallest.utf8))
            try CompiledGraph.checkFits(try Pipeline.run(forward, upTo: .train), maxBatch: options.batch, settings: options.execution)
        } catch {
            throw SearchError(message: "even the smallest child of this space cannot train at --batch \(options.batch): \(error)")
        }
        try FileManager.default.createDirectory(atPath: options.directory, withIntermediateDirectories: true)
        lock = try RunLock(directory: options.directory)
        store = try TrialStore(path: "\(options.directory)/trials.db")
        let previous = try store.all()
        try Search.checkSameSettings(options, shape, previous: previous)
        // A resumed run draws new random numbers, not the first run's again.
        let seed = options.seed &+ UInt64(previous.count) &* 1_000_003
        switch options.strategy {
        case "random": strategy = RandomSearch(space: options.space, seed: seed)
        case "evolution": strategy = RegularizedEvolution(space: options.space, population: max(options.children / 4, 4), sample: 3, seed: seed)
        default:
            let controller = try ReinforceController(space: options.space, seed: seed, maxBatch: max(options.perUpdate, 1),
                                                     execution: options.execution)
            controller.learningRate = options.controllerLearningRate
            controller.entropyWeight = options.entropyWeight
            strategy = controller
        }
        let config = shape.json.merging(options.reward.json) { a, _ in a }.merging([
                                     "strategy": options.strategy, "controller_lr": options.controllerLearningRate, "entropy_weight": options.entropyWeight,
                                     "grow_from": options.growFrom, "grow_every": options.growEvery,
                                     "children": options.children, "train_images": options.trainImages, "epochs": options.epochs,
                                     "batch": options.batch, "lr": options.learningRate, "seed": options.seed] as [String: Any]) { a, _ in a }
        try JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted, .sortedKeys])
            .write(to: URL(fileURLWithPath: "\(options.directory)/search.json"))
        // The log grows across runs of the same folder, like the trial store.
        let logPath = "\(options.directory)/search.log"
        if !FileManager.default.fileExists(atPath: logPath) { _ = FileManager.default.createFile(atPath: logPath, contents: nil) }
        log = FileHandle(forWritingAtPath: logPath)
        log?.seekToEndOfFile()
        // Resume: children already in the store count, and their rewards are
        // reused; evolution rebuilds its population from them, the controller
        // reloads its last checkpoint.
        for t in previous where t.status != "failed" { seen[t.hash] = (t.reward, t.validationAccuracy) }
        let unobserved = try store.unobservedIDs()
        if let controller = strategy as? ReinforceController {
            // The state committed with the last round it learned from (a
            // controller.ckpt of a run from before the store kept it).
            let path = "\(options.directory)/controller.ckpt"
            if let state = try store.strategyState() {
                try controller.restore(try Checkpoint.decode([UInt8](state), path: "\(store.path) (strategy state)").tensors)
            } else if FileManager.default.fileExists(atPath: path) {
                try controller.restore(try Checkpoint.read(path).tensors)
            }
            // Children of a round cut short by a kill: learn from them now.
            let pending = previous.filter { unobserved.contains($0.id) }
            if !pending.isEmpty {
                try strategy.observe(pending.map(\.decisions), rewards: pending.map(\.reward))
            }
        } else if !previous.isEmpty {
            try strategy.observe(previous.map(\.decisions), rewards: previous.map(\.reward))
        }
        try store.commitRound(ids: unobserved.sorted(), state: try strategyState())
    }

    /// A run continues only in the space it started in (its trials'
    /// decisions mean nothing in another) and under the reward it started
    /// with (its trials' rewards would not compare).
    static func checkSameSettings(_ options: Options, _ shape: ChildShape, previous: [TrialStore.Trial]) throws {
        guard !previous.isEmpty else { return }
        if let settings = ChildShape.recordedSettings(in: options.directory) {
            if let old = ChildShape(json: settings), let difference = old.difference(from: shape) {
                throw SearchError(message: "this folder holds a search with \(difference): continue it with the same settings, or pass another --out")
            }
            let old = Reward(json: settings)
            if old != options.reward {
                throw SearchError(message: "this folder holds a search rewarded with --target-mflops \(old.targetMFLOPs) --cost-exponent \(old.exponent), not \(options.reward.targetMFLOPs) and \(options.reward.exponent): its rewards would not compare; continue it with the same settings, or pass another --out")
            }
        }
        if let odd = previous.first(where: { options.space.layers(forDecisions: $0.decisions.count) == nil }) {
            throw SearchError(message: "trial \(odd.id) has \(odd.decisions.count) decisions, which make no child of this space (\(options.space.decisions.count) for \(options.space.layers) layers): continue it with the same settings, or pass another --out")
        }
    }

    /// Layers of the children proposed after `done` children.
    func layers(after done: Int) -> Int {
        guard options.growFrom > 0, options.growEvery > 0 else { return options.space.layers }
        return min(options.space.layers, options.growFrom + 2 * (done / options.growEvery))
    }

    func say(_ line: String) {
        if options.verbose { print(line); fflush(stdout) }
        log?.write(Data((line + "\n").utf8))
    }

    /// A child as IR for this search's images and classes.
    func child(_ choices: [Int], name: String) -> String { shape.ir(choices, name: name) }

    /// Trains one child; returns its trial (reward 0 and the error if it failed).
    func evaluate(_ choices: [Int], id: Int) -> TrialStore.Trial {
        let text = child(choices, name: "child\(id)")
        var trial = TrialStore.Trial(id: id, strategy: strategy.name, decisions: choices, hash: "", reward: 0, validationAccuracy: 0,
                                     parameters: 0, flops: 0, compileSeconds: 0, trainSeconds: 0, status: "ok", error: "")
        do {
            let graph = try Verifier.parseAndVerify(Array(text.utf8))
            trial.hash = StructuralHash.hash(graph)
            let stats = GraphStatistics(graph)
            trial.parameters = stats.parameterElements
            trial.flops = stats.flopsPerExample
            if let known = seen[trial.hash] {
                trial.status = "cached"
                trial.reward = known.reward
                trial.validationAccuracy = known.accuracy
                return trial
            }
            var o = Trainer.Options()
            o.epochs = options.epochs
            o.batch = options.batch
            o.learningRate = options.learningRate
            o.seed = options.seed &+ UInt64(id)
            o.verbose = false
            o.execution = options.execution
            var start = Date()
            let trainer = try Trainer(graph, options: o)
            trial.compileSeconds = Date().timeIntervalSince(start)
            start = Date()
            var best = 0.0
            for _ in 0..<options.epochs {
                best = max(best, try trainer.trainEpoch(train, validation: validation).validationAccuracy)
            }
            trial.trainSeconds = Date().timeIntervalSince(start)
            trial.validationAccuracy = best
            trial.reward = options.reward(accuracy: best, flopsPerImage: trial.flops)
            seen[trial.hash] = (trial.reward, best)
        } catch {
            trial.status = "failed"
            trial.error = "\(error)"
        }
        return trial
    }

    /// The entropy of the uniform distribution over children, in nats: where
    /// the controller's starts, and what its falling entropy is measured against.
    var uniformEntropy: Double { options.space.decisions.reduce(0) { $0 + Foundation.log(Double($1.options)) } }

    /// The controller's parameters and Adam state, as the trial store keeps
    /// them with the trials they learned from (nil for the other strategies,
    /// which rebuild their state from the trials).
    func strategyState() throws -> Data? {
        guard let controller = strategy as? ReinforceController else { return nil }
        return try Checkpoint(graphName: "controller", graphHash: "", epoch: 0, step: 0, tensors: controller.parameters).encoded()
    }

    /// The controller's parameters and Adam state as a checkpoint file in
    /// the run folder, for a person to inspect; the trial store's copy is
    /// the one a resumed search reads.
    func saveController(step: Int) throws {
        guard let controller = strategy as? ReinforceController else { return }
        try Checkpoint(graphName: "controller", graphHash: "", epoch: 0, step: step, tensors: controller.parameters)
            .write(to: "\(options.directory)/controller.ckpt")
    }

    /// Runs the search; returns every trial, best first.
    @discardableResult
    public func run() throws -> [TrialStore.Trial] {
        let start = Date()
        let earlier = try store.all()
        var done = earlier.count
        var bestReward = earlier.map(\.reward).max() ?? 0
        say("search: \(options.strategy), \(options.children) children of \(options.space.layers) layers (\(options.space.decisions.count) decisions), "
            + "each trained \(options.epochs) epoch(s) on \(train.count) images, rewarded on \(validation.count)")
        var grownTo = 0
        while done < options.children {
            // A round never straddles a growth step: its children share a length.
            var round = min(options.perUpdate, options.children - done)
            if options.growEvery > 0 { round = min(round, options.growEvery - done % options.growEvery) }
            let layers = layers(after: done)
            if layers != grownTo && options.growFrom > 0 {
                say("children now have \(layers) layers")
                grownTo = layers
            }
            strategy.length = options.space.withLayers(layers).decisions.count
            let proposals = try strategy.propose(round)
            var rewards: [Double] = [], ids: [Int] = []
            for choices in proposals {
                let trial = evaluate(choices, id: done + 1)
                ids.append(try store.insert(trial))
                rewards.append(trial.reward)
                done += 1
                bestReward = max(bestReward, trial.reward)
                let elapsed = Date().timeIntervalSince(start)
                let eta = elapsed / Double(done) * Double(options.children - done)
                let what = trial.status == "failed" ? "FAILED: \(trial.error)" : String(format: "accuracy %.4f reward %.4f%@", trial.validationAccuracy, trial.reward,
                                                                                     trial.status == "cached" ? " (seen before: reused)" : "")
                say(String(format: "[%d/%d] child %@ %@; best reward %.4f; %.1f s compile, %.1f s train; ETA %@",
                           done, options.children, String(trial.hash.prefix(10)), what, bestReward,
                           trial.compileSeconds, trial.trainSeconds, Progress.clock(eta)))
            }
            try strategy.observe(proposals, rewards: rewards)
            try store.commitRound(ids: ids, state: try strategyState())
            try saveController(step: done)
            if let entropy = (strategy as? ReinforceController)?.lastEntropy {
                say(String(format: "controller update: entropy of its children %.2f nats (uniform: %.2f)", entropy, uniformEntropy))
            }
        }
        let trials = try store.all().sorted { $0.reward > $1.reward }
        if let best = trials.first {
            try child(best.decisions, name: "best").write(toFile: "\(options.directory)/best.nasir", atomically: true, encoding: .utf8)
        }
        say(String(format: "search finished in %@", Progress.clock(Date().timeIntervalSince(start))))
        return trials
    }
}
