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
    public init(message: String, file: String? = nil) {
        self.message = message
        self.file = file
    }
    public var description: String { file.map { "\($0): error: \(message)" } ?? message }
}

/// The search's coordinator: it proposes children into the store's work
/// queue, workers train them (worker processes on this machine, `nasc
/// worker` on others, or this process itself with `inProcess`), and it lets
/// the strategy learn from every child as it finishes. Each child is
/// rewarded with its validation accuracy cubed (Zoph & Le; weighed by cost
/// with a target, see Reward). A child whose structural hash was trained
/// before reuses that reward; a child that fails, diverges, times out or
/// crashes its worker is recorded with why, and the search goes on. With
/// a cost limit (`--max-mflops`), a proposal above it is refused here,
/// before it is queued: recorded as over-limit with a reward graded by how
/// far over it is (Reward.overLimitReward), learned from, and not counted
/// among the children, so the search trains as many as it was asked for.
///
/// Asynchronous by design: the queue holds one child more than there are
/// workers, so a worker never waits for a proposal. The controller learns
/// from every `perUpdate` finished children, while the children proposed
/// before that update still train: with K workers, a child may be sampled
/// from a controller up to ⌈(K+1)/perUpdate⌉ updates old (the paper's
/// asynchronous replicas allow the same kind of staleness). Evolution is
/// steady-state: each finished child joins the population at once, each
/// proposal samples the population as it is.
public final class Search {
    public struct Options: Sendable {
        public var space: any ImageSpace = CNNSpace(layers: 4, poolEvery: 1)
        public var strategy = StrategyKind.reinforce
        public var children = 100
        /// Children per controller update.
        public var perUpdate = 4
        public var controllerLearningRate = 0.01
        /// β of the controller's entropy bonus (0: none, as in the paper).
        public var entropyWeight = 0.0
        /// How a child's accuracy (and cost, with a target) makes its reward.
        public var reward = Reward()
        /// What the search trades off: with a cost besides accuracy, the
        /// search ends with a Pareto front (`front/`), re-evaluates the
        /// front's children, and NSGA-II ranks children by these.
        public var objectives: [Objective] = [.accuracy]
        /// How workers measure each child's latency.
        public var latencyTarget = LatencyTarget.jit
        /// The paper's growing schedule: children start with `growFrom`
        /// layers and gain 2 every `growEvery` children, up to the space's
        /// layers (Zoph & Le: from 6, every 1,600). 0: children always have
        /// the space's layers.
        public var growFrom = 0
        public var growEvery = 0
        public var trainImages = 8000
        public var validationImages = 1000
        /// Score this many proposals by a zero-cost proxy per child trained (nil: train every proposal).
        public var screening: Screening? = nil
        /// Refuse, untrained, proposals the model predicts slower than this (ms at batch 1, one thread).
        public var latencyLimit: (model: LatencyModel, milliseconds: Double)? = nil
        public var epochs = 1
        /// Multi-fidelity (ASHA) budgets instead of `epochs` for every child.
        public var fidelity: (any FidelitySchedule)? = nil
        public var batch = 32
        public var learningRate = 0.1
        public var seed: UInt64 = 0
        /// Threads for the controller's compiled code, and for each child's
        /// when it trains in this process.
        public var execution = ExecutionSettings()
        /// Where worker processes load the images from; needed unless
        /// children train in this process.
        public var images: SearchImages? = nil
        /// Train children inside this process (tests, debugging): no worker
        /// processes, so a child that crashes ends the search.
        public var inProcess = true
        /// Worker processes to start on this machine (0: only workers
        /// started by hand with `nasc worker`).
        public var workers = 1
        /// Threads for each local worker process.
        public var workerThreads = 1
        /// The nasc binary that worker processes run.
        public var workerExecutable: String? = nil
        /// The store's URL when it is not the run folder's trials.db (for
        /// search.json and the worker processes' command lines; never a password).
        public var storage: String? = nil
        /// Extra environment for worker processes (PGPASSWORD).
        public var workerEnvironment: [String: String] = [:]
        public var leaseSeconds = 60.0
        public var maxAttempts = 2
        public var childTimeout = 1800.0
        public var directory = "nasc-run"
        public var verbose = true
        /// Children re-evaluated before the winner is named (needs the
        /// search's `reevaluation` images; 0: the best reward wins).
        public var reevaluate = 0
        /// Keep the checkpoints of children never promoted once the search
        /// is over, so that a continued run can still promote them.
        public var keepCheckpoints = false
        public init() {}
    }

    public let options: Options
    public let store: TrialStore
    /// Called after children finish (and once at the end), e.g. to rewrite
    /// a report; on the coordinator's thread.
    public var onProgress: (() -> Void)?
    var strategy: SearchStrategy
    let train: ImageDataset
    /// The space and the images this search's children are built for.
    let shape: ChildShape
    let validation: ImageDataset
    var log: FileHandle?
    /// Held while this search lives: a second search on the folder is refused.
    let lock: RunLock
    let settings: SearchSettings

    /// A search on `store` (default: trials.db in the run folder).
    /// The larger split of Reevaluation, if the search has one.
    let reevaluationImages: ImageDataset?
    /// The top children re-evaluated at the end of `run`, best first (empty without re-evaluation).
    public private(set) var reevaluated: [Reevaluation.Result] = []

    public init(options: Options, train: ImageDataset, validation: ImageDataset, reevaluation: ImageDataset? = nil,
                store given: TrialStore? = nil) throws {
        reevaluationImages = reevaluation
        guard train.height == train.width else {
            throw SearchError(message: "the search space builds square images; these are \(train.height)x\(train.width)")
        }
        guard options.inProcess || options.images != nil else {
            throw SearchError(message: "worker processes load the images from a dataset on disk: give the search its dataset (or train children in process)")
        }
        guard options.inProcess || options.workers == 0 || options.workerExecutable != nil else {
            throw SearchError(message: "local worker processes need the nasc binary to run")
        }
        self.options = options
        self.train = train
        shape = ChildShape(space: options.space, channels: train.channels, size: train.height, classes: train.classes)
        self.validation = validation
        // A batch at which even the space's smallest child (its first
        // options: the fewest filters, the first cell op) cannot train would
        // fail every child: say so once, before anything is written.
        let smallest = shape.ir([Int](repeating: 0, count: options.space.decisionOptions.count), name: "smallest")
        let sizes = options.space.kind == .cells ? " (--cells, --channels and --blocks size the network)" : ""
        do {
            let forward = try Verifier.parseAndVerify(Array(smallest.utf8))
            // Parameters and their gradients alone: said at once, before the
            // training step of a network that large takes its time to build.
            let floor = GraphStatistics(forward).parameterElements * 4 * 2
            guard floor <= MemoryLimit.bytes else {
                throw SearchError(message: "its parameters and their gradients alone need \(MemoryLimit.human(floor)), more than the memory limit of \(MemoryLimit.human(MemoryLimit.bytes))")
            }
            try CompiledGraph.checkFits(try Pipeline.run(forward, upTo: .train), maxBatch: options.batch, settings: options.execution)
        } catch {
            // The CNN space's first options make its smallest child; a cell's are one of its convolutions.
            let which = options.space.kind == .cnn ? "even the smallest child" : "a child"
            throw SearchError(message: "\(which) of this space (\(options.space.summary)) cannot train at --batch \(options.batch)\(sizes): \(error)")
        }
        try FileManager.default.createDirectory(atPath: options.directory, withIntermediateDirectories: true)
        lock = try RunLock(directory: options.directory)
        store = try given ?? TrialStore(path: "\(options.directory)/trials.db")
        // A shared store takes one coordinator, whichever folder it runs in.
        guard try store.database.lockAsCoordinator() else {
            let holder = try store.database.query("select value from settings where key = 'coordinator'").first?.first?.text ?? "?"
            throw SearchError(message: "another nasc search coordinates this store (\(holder)); wait for it to finish, or use another store", file: store.path)
        }
        try store.database.query("insert into settings (key, value) values ('coordinator', ?) on conflict (key) do update set value = excluded.value",
                                 .text("\(Worker.id()), since \(ISO8601DateFormatter().string(from: Date()))"))
        let previous = try store.all()
        try Search.checkSameSettings(options, shape, recorded: try store.settings() ?? ChildShape.recordedSettings(in: options.directory), previous: previous)
        // A resumed run goes on with the streams of the same seed (see
        // SearchStrategy.proposed), not the first run's numbers again.
        let seed = options.seed
        let made = StrategyKind.Settings(seed: seed, children: options.children, perUpdate: options.perUpdate,
                                         controllerLearningRate: options.controllerLearningRate, entropyWeight: options.entropyWeight,
                                         execution: options.execution)
        strategy = try options.strategy.make(space: options.space, made)
        var settings = SearchSettings(shape: shape)
        settings.reward = options.reward
        settings.epochs = options.epochs
        settings.batch = options.batch
        settings.learningRate = options.learningRate
        settings.seed = options.seed
        settings.images = options.images
        settings.leaseSeconds = options.leaseSeconds
        settings.maxAttempts = options.maxAttempts
        settings.childTimeout = options.childTimeout
        settings.fidelity = options.fidelity
        settings.latencyTarget = options.latencyTarget
        self.settings = settings
        let config = settings.json.merging([
            "strategy": options.strategy.rawValue, "controller_lr": options.controllerLearningRate, "entropy_weight": options.entropyWeight,
            "per_update": options.perUpdate, "grow_from": options.growFrom, "grow_every": options.growEvery,
            "children": options.children, "train_images": options.trainImages, "validation_images": options.validationImages,
            "workers": options.inProcess ? 1 : max(options.workers, 1),
            "storage": options.storage ?? "",
            "screen": options.screening?.proxy.rawValue ?? "", "screen_factor": options.screening?.factor ?? 1,
            "max_latency_ms": options.latencyLimit?.milliseconds ?? 0, "objectives": options.objectives.flag] as [String: Any]) { a, _ in a }
        try store.setSettings(config)
        // search.json: the same settings for a person (and older tools) to read.
        try JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted, .sortedKeys])
            .writeWhole(to: "\(options.directory)/search.json")
        // The log grows across runs of the same folder, like the trial store.
        let logPath = "\(options.directory)/search.log"
        if !FileManager.default.fileExists(atPath: logPath) { _ = FileManager.default.createFile(atPath: logPath, contents: nil) }
        log = FileHandle(forWritingAtPath: logPath)
        log?.seekToEndOfFile()
        // Resume: the controller reloads the state committed with the last
        // children it learned from, evolution rebuilds its population from
        // every trial; the controller learns from the children a stop left
        // unlearned once an update's worth is in, as it would have without
        // the stop, and every strategy draws its next child from the
        // stream an uninterrupted search would have reached.
        strategy.proposed = try store.proposals() + (try store.screenedProposals())
        let unobserved = try store.unobservedIDs()
        if let controller = strategy as? ReinforceController {
            let path = "\(options.directory)/controller.ckpt"
            if let state = try store.strategyState() {
                try controller.restore(try Checkpoint.decode([UInt8](state), path: "\(store.path) (strategy state)").tensors)
            } else if FileManager.default.fileExists(atPath: path) {
                // A run from before the store kept the controller's state.
                try controller.restore(try Checkpoint.read(path).tensors)
            }
            try learn(final: false)
        } else if !previous.isEmpty {
            try observe(previous)
            try store.commitRound(ids: unobserved.sorted(), state: nil)
        }
        try releaseDeadLocalWorkers()
    }

    /// A run continues only in the space and on the images it started with
    /// (its trials' decisions mean nothing in another) and under the reward
    /// it started with (its trials' rewards would not compare).
    static func checkSameSettings(_ options: Options, _ shape: ChildShape, recorded: [String: Any]?, previous: [TrialStore.Trial]) throws {
        guard let recorded, !previous.isEmpty else { return }
        if let old = ChildShape(json: recorded), let difference = old.difference(from: shape) {
            throw SearchError(message: "this run holds a search with \(difference): continue it with the same settings, or pass another --out")
        }
        let old = Reward(json: recorded)
        if old != options.reward {
            throw SearchError(message: "this run holds a search rewarded with \(old.flags), not \(options.reward.flags): its rewards would not compare; continue it with the same settings, or pass another --out")
        }
        let fidelity = fidelitySchedule(json: recorded)
        if fidelityFlags(fidelity) != fidelityFlags(options.fidelity) {
            throw SearchError(message: "this run holds a search with \(fidelityFlags(fidelity)), not \(fidelityFlags(options.fidelity)): its rewards would not compare; continue it with the same settings, or pass another --out")
        }
        let target = LatencyTarget(recordedIn: recorded)
        if target != options.latencyTarget {
            throw SearchError(message: "this run holds a search whose children's latency was measured with --latency-target \(target.rawValue), not \(options.latencyTarget.rawValue): their latencies would not compare; continue it with the same settings, or pass another --out")
        }
        if let then = SearchImages(json: recorded), let now = options.images, then.dataset != now.dataset {
            throw SearchError(message: "this run holds a search on --dataset \(then.dataset.rawValue), not \(now.dataset.rawValue): continue it with the same settings, or pass another --out")
        }
        if let odd = previous.first(where: { !options.space.makesChild(decisions: $0.decisions.count) }) {
            throw SearchError(message: "trial \(odd.id) has \(odd.decisions.count) decisions, which make no child of this space (\(options.space.summary): \(options.space.decisionOptions.count) decisions): continue it with the same settings, or pass another --out")
        }
    }

    /// Children that workers of an earlier coordinator on this machine held
    /// when they died with it: back to the queue now, not after their lease.
    func releaseDeadLocalWorkers() throws {
        for job in try store.jobs(status: "running") {
            let parts = job.worker.split(separator: ":")
            let local = job.worker == "in-process" || (parts.count == 2 && String(parts[0]) == Worker.hostName
                                                       && Int32(parts[1]).map { kill($0, 0) != 0 && errno == ESRCH } == true)
            if local { try store.release(worker: job.worker, reason: "its worker died with the coordinator", maxAttempts: options.maxAttempts) }
        }
    }

    /// Layers of the children proposed after `done` children, while the
    /// CNN space's children grow (nil: no growth, every child is whole).
    func layers(after done: Int) -> Int? {
        guard options.growFrom > 0, options.growEvery > 0, let cnn = options.space as? CNNSpace else { return nil }
        return min(cnn.layers, options.growFrom + 2 * (done / options.growEvery))
    }

    var logFailed = false

    func say(_ line: String) {
        if options.verbose { print(line); fflush(stdout) }
        // The log is for people; the store is the record. A log that cannot
        // be written (a full disk) is said once and the search goes on.
        do { try log?.write(contentsOf: Data((line + "\n").utf8)) } catch {
            if !logFailed { FileHandle.standardError.write(Data("nasc: warning: cannot write \(options.directory)/search.log (\(error.localizedDescription)); the search goes on, its trials are in the store\n".utf8)) }
            logFailed = true
        }
    }

    /// A child as IR for this search's images and classes.
    func child(_ choices: [Int], name: String) -> String { shape.ir(choices, name: name) }


    /// Lets the strategy learn from finished children it has not seen: the
    /// controller in updates of `perUpdate` children (`final`: the rest
    /// too), the others from each child at once. The state and the trials
    /// it learned from are committed together.
    func learn(final: Bool) throws {
        var pending = try store.unobserved()
        if let controller = strategy as? ReinforceController {
            while pending.count >= options.perUpdate || (final && !pending.isEmpty) {
                let batch = Array(pending.prefix(options.perUpdate))
                pending.removeFirst(batch.count)
                try strategy.observe(batch.map(\.decisions), rewards: batch.map(\.reward))
                // The controller's parameters and Adam state, committed with
                // the trials they learned from; controller.ckpt is a copy for a
                // person to inspect, the store's is the one a resumed search reads.
                let state = Checkpoint(graphName: "controller", graphHash: "", epoch: 0, step: batch.last!.id, tensors: controller.parameters)
                try store.commitRound(ids: batch.map(\.id), state: try state.encoded(),
                                      update: TrialStore.Update(entropy: controller.lastEntropy, meanReward: batch.map(\.reward).reduce(0, +) / Double(batch.count)))
                try state.write(to: "\(options.directory)/controller.ckpt")
                if let entropy = controller.lastEntropy {
                    say(String(format: "controller update: entropy of its children %.2f nats (uniform: %.2f)", entropy, options.space.uniformEntropy))
                }
            }
        } else if !pending.isEmpty {
            try observe(pending)
            try store.commitRound(ids: pending.map(\.id), state: nil,
                                  update: TrialStore.Update(entropy: nil, meanReward: pending.map(\.reward).reduce(0, +) / Double(pending.count)))
        }
    }

    /// Lets a strategy without a state of its own (evolution, NSGA-II,
    /// random) learn from `trials`: their rewards and their costs under the
    /// search's objectives. Only children that trained join a population: a
    /// refused proposal would push one out and could become a parent.
    func observe(_ trials: [TrialStore.Trial]) throws {
        let informative = trials.filter { !$0.isOverLimit }
        try strategy.observe(informative.map(\.decisions), rewards: informative.map(\.reward),
                             costs: informative.map { options.objectives.costs(of: $0) })
    }

    /// The schedule's promotions due now, at most `limit`, the highest rung
    /// first: a child whose trial the schedule promotes from its rung's
    /// results (ASHA: the best ⌊n / eta⌋ of n), and not promoted yet, is queued to train on to the next
    /// rung from its checkpoint. A child reused from an earlier one of the
    /// same hash (cached) is not a result of its own: its twin stands for it;
    /// nor is a child refused untrained (over a limit).
    func promote(limit: Int) throws -> Int {
        guard let fidelity = options.fidelity, limit > 0 else { return 0 }
        let trials = try store.all().filter { $0.job != nil }
        let promoted = try store.promotedJobs()
        // A finished search pruned its checkpoints: a continued run cannot promote those children.
        let resumable = try store.checkpointedJobs()
        var added = 0
        for rung in (0..<(fidelity.rungs - 1)).reversed() {
            let here = trials.filter { $0.rung == rung && $0.status != "cached" && $0.status != "refused" && !$0.isOverLimit }.sorted { ($0.reward, -$0.id) > ($1.reward, -$1.id) }
            let best = fidelity.promoted(fromRanked: here)
            for t in best where t.status == "ok" && !promoted.contains(t.job!) && resumable.contains(t.job!) {
                try store.enqueuePromotion(of: t)
                say(String(format: "promoting child %@ (trial %d, reward %.4f, top %d of %d at rung %d) to rung %d: %d images in all",
                           String(t.hash.prefix(10)), t.id, t.reward, best.count, here.count, rung, rung + 1, fidelity.budget(rung + 1)))
                added += 1
                if added == limit { return added }
            }
        }
        return added
    }

    /// Proposals over the cost limit since the last line that said so, and in a row.
    var refusedLately: [TrialStore.Trial] = []
    var refusedInARow = 0
    /// Proposals refused in a row after which the search gives up: the space
    /// (or what the strategy learned of it) has next to nothing under the limit.
    static let maxRefusedInARow = 2000

    /// Of `proposals`, those under the cost limit; the others are recorded
    /// as over-limit, untrained, with their graded reward.
    func screen(_ proposals: [[Int]]) throws -> [[Int]] {
        guard options.reward.maxMFLOPs > 0 || options.latencyLimit != nil else { return proposals }
        var fit: [[Int]] = []
        for decisions in proposals {
            let graph = try options.space.graph(decisions, name: "proposal", image: shape.image)
            let stats = GraphStatistics(graph)
            var why = options.reward.refusal(flopsPerImage: stats.flopsPerExample)
            var reward = options.reward.overLimitReward(flopsPerImage: stats.flopsPerExample)
            if why == nil, let limit = options.latencyLimit {
                // Graded like the MFLOP limit: -(1 - limit / predicted).
                let predicted = limit.model.predict(try LatencyModel.features(graph)).total
                if predicted > limit.milliseconds {
                    why = String(format: "predicted %.3f ms at batch 1, over --max-latency-ms %g", predicted, limit.milliseconds)
                    reward = -(1 - limit.milliseconds / predicted)
                }
            }
            guard let why else {
                fit.append(decisions)
                refusedInARow = 0
                continue
            }
            let t = try store.recordOverLimit(strategy: strategy.name, decisions: decisions, hash: StructuralHash.hash(graph),
                                              reward: reward, parameters: stats.parameterElements, flops: stats.flopsPerExample, reason: why)
            refusedLately.append(t)
            refusedInARow += 1
            if refusedInARow >= Search.maxRefusedInARow {
                let cheapest = Double(refusedLately.map(\.flops).min() ?? 0) / 1e6
                sayRefusals()
                throw SearchError(message: "\(refusedInARow) proposals in a row cost more than \(costLimits) "
                    + "(the cheapest of the last \(String(format: "%.1f", cheapest)) MFLOP per image): "
                    + "raise the limit, or search a smaller space (fewer --layers, a smaller --pool-every); the children trained so far are kept", file: store.path)
            }
        }
        return fit
    }

    /// The proxy's minibatch, drawn once.
    var screeningBatch: ProxyBatch?

    /// `n` proposals past the cost limit; with screening, the best `n` by
    /// the proxy of `factor` times as many (the rest are only counted, so
    /// a resumed search draws from the streams it would have reached).
    func proposeScreened(_ n: Int) throws -> [[Int]] {
        guard let s = options.screening, s.factor > 1 else { return try screen(try strategy.propose(n)) }
        let candidates = try screen(try strategy.propose(n * s.factor))
        guard candidates.count > n else { return candidates }
        let start = Date()
        let batch = screeningBatch ?? s.minibatch(of: train, seed: options.seed)
        screeningBatch = batch
        var failures = 0
        let scores = candidates.map { decisions -> Double in
            do {
                let graph = try options.space.graph(decisions, name: "proposal", image: shape.image)
                return try s.proxy.proxy.score(graph, on: batch, seed: options.seed, threads: options.execution.threads)
            } catch {
                failures += 1
                return -.infinity
            }
        }
        let kept = Screening.best(candidates, scores: scores, keep: n)
        try store.setScreenedProposals(try store.screenedProposals() + candidates.count - kept.count)
        let finite = scores.filter(\.isFinite).sorted()
        let keptScores = scores.sorted(by: >).prefix(n)
        say(String(format: "screened %d proposals by %@ in %.1f s: kept %d (scores %@ to %@ of %@ to %@)%@", candidates.count, s.proxy.rawValue,
                   Date().timeIntervalSince(start), kept.count, Self.short(keptScores.last!), Self.short(keptScores.first!),
                   Self.short(finite.first ?? -.infinity), Self.short(finite.last ?? -.infinity),
                   failures > 0 ? ", \(failures) not scored (ranked last)" : ""))
        return kept
    }

    static func short(_ v: Double) -> String { v.isFinite ? String(format: "%.4g", v) : (v < 0 ? "-inf" : "inf") }

    /// The cost limits given, for messages.
    var costLimits: String {
        [options.reward.maxMFLOPs > 0 ? "--max-mflops \(options.reward.maxMFLOPs)" : nil,
         options.latencyLimit.map { "--max-latency-ms \($0.milliseconds) (predicted)" }].compactMap { $0 }.joined(separator: " or ")
    }

    /// One line for the proposals refused since the last.
    func sayRefusals() {
        guard let first = refusedLately.first else { return }
        let mflops = refusedLately.map { Double($0.flops) / 1e6 }
        say(String(format: "refused %d proposal(s) over %@ untrained (%.1f to %.1f MFLOP per image; rewards %.3f to %.3f), not counted as children%@",
                   refusedLately.count, costLimits, mflops.min()!, mflops.max()!,
                   refusedLately.map(\.reward).min()!, refusedLately.map(\.reward).max()!,
                   refusedLately.count == 1 ? String(format: " (child %@)", String(first.hash.prefix(10))) : ""))
        refusedLately = []
    }

    /// Runs the search; returns every trial, best first.
    @discardableResult
    public func run() throws -> [TrialStore.Trial] {
        let start = Date()
        let before = try store.all()
        var lastSeen = before.last?.id ?? 0
        var bestReward = before.map(\.reward).max() ?? 0
        let legacy = before.filter { $0.job == nil }.count
        var newChildrenHere = 0
        let where_ = options.inProcess ? "in this process" : options.workers > 0 ? "in \(options.workers) worker process(es) of \(options.workerThreads) thread(s)" : "in workers started with `nasc worker \(options.storage.map { "--storage \($0)" } ?? options.directory)`"
        let budget = options.fidelity.map { "trained by \($0.description) from \(train.count)" } ?? "each trained \(options.epochs) epoch(s) on \(train.count) images"
        say("search: \(options.strategy.rawValue), \(options.children) children of \(options.space.summary) (\(options.space.decisionOptions.count) decisions), "
            + "\(budget), rewarded on \(validation.count); children train \(where_)")
        if options.fidelity != nil { try store.setFinished(false) }
        var processes: WorkerProcesses?
        var inProcess: Worker?
        if options.inProcess {
            inProcess = try Worker(store: store, execution: options.execution, images: (train, validation), id: "in-process", say: { _ in })
        } else if options.workers > 0 {
            processes = try WorkerProcesses(executable: options.workerExecutable!,
                                            arguments: ["worker"] + (options.storage.map { ["--storage", $0] } ?? [options.directory])
                                                + ["--serve", "--supervised", "--threads", String(options.workerThreads)],
                                            count: options.workers, logFolder: "\(options.directory)/workers", store: store, maxAttempts: options.maxAttempts,
                                            environment: ProcessInfo.processInfo.environment.merging(options.workerEnvironment) { $1 }, say: say)
        }
        defer { processes?.stop() }
        var grownTo = 0
        var lastWaitNote = Date.distantPast
        while true {
            // SIGINT or SIGTERM: unwind from here (the workers are stopped
            // and give their children back; every result is in the store).
            try Interruption.check()
            let fresh = try store.trials(after: lastSeen)
            var done = try store.count() - fresh.filter(\.isNewChild).count
            for t in fresh {
                lastSeen = t.id
                // Proposals refused over the cost limit were said when they were screened.
                if t.isOverLimit { continue }
                if t.isNewChild { done += 1; newChildrenHere += 1 }
                bestReward = max(bestReward, t.reward)
                // Time per new child so far, its promotions included (under
                // ASHA they keep pace with the new children).
                let eta = Date().timeIntervalSince(start) / Double(max(newChildrenHere, 1)) * Double(max(options.children - done, 0))
                let what = !t.succeeded ? "\(t.status.uppercased()): \(t.error)"
                    : String(format: "accuracy %.4f reward %.4f%@", t.validationAccuracy, t.reward, t.status == "cached" ? " (seen before: reused)" : "")
                let rung = t.rung > 0 ? " rung \(t.rung)" : ""
                say(String(format: "[%d/%d] %@%@ %@; best reward %.4f; %.1f s compile, %.1f s train, %.1f s evaluate%@; ETA %@",
                           done, options.children, t.hash.isEmpty ? "job \(t.job ?? t.id)" : "child " + t.hash.prefix(10), rung, what, bestReward,
                           t.compileSeconds, t.trainSeconds, t.evaluateSeconds,
                           options.inProcess ? "" : " (worker \(t.worker))", Progress.clock(eta)))
            }
            if !fresh.isEmpty { onProgress?() }
            try learn(final: false)
            if done >= options.children && options.fidelity == nil { break }
            let counts = try store.jobCounts()
            var proposed = legacy + (try store.newChildrenProposed())
            let outstanding = counts["queued"]! + counts["running"]!
            let live = try store.workers().filter { $0.heartbeat > WorkQueue.now - options.leaseSeconds && $0.id != "in-process" }.count
            let target = options.inProcess ? 1 : max(options.workers, live) + 1
            // Promotions due go before new children; a multi-fidelity search
            // ends once every child is in and no promotion is due or running.
            let promoted = try promote(limit: target - outstanding)
            if done >= options.children && outstanding == 0 && promoted == 0 { break }
            var wanted = min(options.children - proposed, target - outstanding - promoted)
            while wanted > 0 {
                if let layers = layers(after: proposed), let cnn = options.space as? CNNSpace {
                    if layers != grownTo {
                        say("children now have \(layers) layers")
                        grownTo = layers
                    }
                    strategy.length = cnn.withLayers(layers).decisions.count
                }
                // Never straddle a growth step: proposals of one call share a length.
                let n = options.growEvery > 0 ? min(wanted, options.growEvery - proposed % options.growEvery) : wanted
                let fit = try proposeScreened(n)
                try store.enqueue(fit, strategy: strategy.name)
                proposed += fit.count
                wanted -= fit.count
                if fit.count < n { try learn(final: false) }
            }
            sayRefusals()
            if let worker = inProcess {
                try worker.runOne()
            } else {
                try processes?.poll(wanted: true)
                if options.workers == 0 && live == 0 && Date().timeIntervalSince(lastWaitNote) > 60 {
                    say("waiting for workers: start `nasc worker \(options.storage.map { "--storage \($0)" } ?? options.directory)`")
                    lastWaitNote = Date()
                }
                Thread.sleep(forTimeInterval: 0.1)
            }
        }
        try learn(final: true)
        if options.fidelity != nil { try store.setFinished(true) }
        if let worker = inProcess { try store.release(worker: worker.id, reason: "the search ended", maxAttempts: options.maxAttempts) }
        let trials = try store.ranked()
        let multiObjective = options.objectives.count > 1
        if let images = reevaluationImages, options.reevaluate > 0 {
            // Several objectives: the front's children first (Pareto-aware), not the top by reward.
            let order = multiObjective ? ParetoFront.ranked(trials, objectives: options.objectives) : trials
            reevaluated = try Reevaluation(top: options.reevaluate, images: images, pareto: multiObjective)
                .run(order, store: store, settings: settings, train: train, execution: options.execution, say: say)
        }
        if multiObjective { try writeFront() }
        // One definition of the winner for best.nasir, the summary and `nasc retrain`.
        if let best = try store.winner() {
            try child(best.decisions, name: "best").writeWhole(to: "\(options.directory)/best.nasir")
        }
        if options.fidelity != nil && !options.keepCheckpoints {
            let pruned = try store.pruneCheckpoints()
            if pruned.count > 0 {
                say(String(format: "pruned the checkpoints of %d child(ren) no promotion needs (%.0f MB); a continued run (more --children) "
                           + "cannot promote them (--keep-checkpoints keeps them)", pruned.count, Double(pruned.bytes) / 1e6))
                // The workers' connections off the file first; the search's result stands even if the file cannot shrink now.
                processes?.stop()
                do { try store.compact() } catch { say("the store keeps the pruned checkpoints' space for now: \(error)") }
            }
        }
        onProgress?()
        say(String(format: "search finished in %@", Progress.clock(Date().timeIntervalSince(start))))
        return trials
    }
}
