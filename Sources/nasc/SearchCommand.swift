import ArgumentParser
import Foundation
import NascData
import NascIR
import NascLLVM
import NascPostgres
import NascReport
import NascRuntime
import NascSearch
import NascTraining

struct SearchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "search",
        abstract: "Search a space (NAS-RL's CNN layers, NASNet/ENAS cells, NAS-RL's recurrent cell): propose children, train each briefly, learn from their rewards.",
        discussion: """
            --space picks the space: cnn (the default: NAS-RL's layers and \
            skips), cells (NASNet/ENAS normal and reduction cells of --blocks \
            blocks, stacked --cells per stage from --channels channels) or \
            rnn-cell (NAS-RL's recurrent cell, each trained as a small \
            language model on Penn Treebank and rewarded c / ppl^2; the \
            rnn-cell flags below). Every strategy, ASHA and the workers work \
            on each.

            With no options this is what `make search` runs: a real, small \
            search on Fashion-MNIST with the REINFORCE controller (about 11 \
            minutes on 2 cores): 100 children of 4 layers, each layer at half \
            the resolution of the one before (28, 14, 7 and 3 pixels; 2x2 max \
            pools, the paper's pooling variant), each trained one epoch on \
            8,000 training images (batch 32, lr 0.1) and rewarded with its \
            accuracy on 1,000 held-out training images, cubed (times a cost \
            factor with --target-mflops). The test set is never used for \
            rewards.

            Children train in worker processes, by default one \
            single-threaded worker per --threads: a child that crashes its \
            worker is retried, then recorded as crashed with the signal; one \
            still training after --child-timeout is stopped; one whose loss \
            diverges is recorded as diverged; the search goes on. Add workers \
            with `nasc worker RUN`, on this machine or, with --storage \
            postgresql://..., on others; `nasc status RUN` shows progress.

            The run folder holds trials.db (every child: decisions, IR hash, \
            reward, accuracy, parameters, FLOPs, compile and train time, \
            status, worker; the work queue; the controller's state; with \
            ASHA, the checkpoints promotions continue from, pruned when the \
            search ends unless --keep-checkpoints), \
            best.nasir, controller.ckpt (a copy of the controller's state), \
            search.json, search.log and workers/ (worker logs). Run again \
            with the same --out to continue a run, even after kill -9; a \
            second search on a run while one coordinates it is refused. \
            `nasc retrain RUN` trains the best child fully.

            Examples:
              nasc search
              nasc search --strategy evolution --children 200 --out runs/evo
              nasc search --space cells --strategy evolution --children 140 --out runs/cells
              nasc search --strategy nsga2 --objectives accuracy,latency --filters 8,16,32,64 --out runs/front
              nasc search --space rnn-cell --children 60 --out runs/rnn-cells
              nasc search --layers 6 --pool-every 2 --strides --children 300 --out runs/deep
              nasc search --layers 8 --pool-every 2 --grow-from 2 --grow-every 100 --children 400 --out runs/grow
              nasc search --storage postgresql://nasc@db:5432/nas --out runs/shared   # then, on other machines:
              nasc worker --storage postgresql://nasc@db:5432/nas --processes 2 --threads 1
              nasc status runs/shared
              sqlite3 nasc-run/trials.db 'select id, reward, hash from trials order by reward desc limit 5'
            """)

    @OptionGroup(title: "Search space") var spaceFlags: SpaceFlags

    @OptionGroup(title: "Strategy") var strategyFlags: StrategyFlags

    @OptionGroup(title: "Screening") var screeningFlags: ScreeningFlags

    @Option(help: "Children to evaluate (default: 100; 60 for rnn-cell).")
    var children: Int?

    @Option(help: ArgumentHelp("cnn: the paper's growing schedule: children start with L layers and gain 2 every --grow-every children, up to --layers; 0: off.", valueName: "L"))
    var growFrom = 0

    @Option(help: ArgumentHelp("Children between two growth steps (the paper: 1,600).", valueName: "M"))
    var growEvery = 0

    @Option(help: "MFLOP per image a child should cost: the reward becomes accuracy^3 x (MFLOP / target)^exponent (MnasNet's soft constraint), so bigger children must earn their cost. 0: accuracy alone, as in NAS-RL.")
    var targetMflops = 0.0

    @Option(help: "The cost exponent with --target-mflops (MnasNet: -0.07; more negative weighs cost more).")
    var costExponent = -0.07

    @Option(help: ArgumentHelp("Measured milliseconds (batch 1, one thread) a child should take: the reward becomes accuracy^3 x (ms / target)^exponent, MnasNet's reward with the latency each worker measures (instead of --target-mflops).", valueName: "MS"))
    var targetLatencyMs = 0.0

    @Option(help: ArgumentHelp("What the search trades off: accuracy and one or more of latency (measured, ms), params, mflops. With a cost, the search ends with its Pareto front in RUN/front/ (one IR file per child, and front.tsv), re-evaluates the front's children first, and --strategy nsga2 evolves the front.", valueName: "LIST"))
    var objectives = "accuracy"

    @Option(help: "Where workers measure each child's latency: jit (nasc's own inference) or emitted-c (the child's nasc emit-c source, built with $CC, default cc, -O3 -march=native).")
    var latencyTarget: LatencyTarget = .jit

    @Option(help: "Refuse, untrained, every proposal costing more MFLOP per image than this (a hard limit: the most accurate child that trains in a given time). Refusals are not counted among --children; REINFORCE learns from a reward graded by how far over they are. 0: none.")
    var maxMflops = 0.0

    @Option(help: ArgumentHelp("Refuse, untrained, every proposal --latency-model predicts slower than this at batch 1 on one thread (ms), as --max-mflops refuses by MFLOP.", valueName: "MS"))
    var maxLatencyMs: Double?

    @Option(help: ArgumentHelp("The latency model for --max-latency-ms, written by nasc latency --fit from children measured on this machine.", valueName: "FILE"))
    var latencyModel: String?

    @Option(help: "Training images per child (from the training split).")
    var trainImages = 8000

    @Option(help: "Held-out training images for the reward.")
    var validationImages = 1000

    @Option(help: "Epochs per child.")
    var epochs = 1

    @Option(help: "Before naming the winner, train the top this many children again (another seed, the budget of the best rung) and measure them on --reevaluation-images images no child saw; the best there wins (0: the best reward wins).")
    var reevaluate = 5

    @Option(name: .customLong("reevaluation-images"), help: "Images for the re-evaluation: the last unused training images before the validation ones.")
    var reevaluationImages = 10000

    @OptionGroup(title: "Multi-fidelity")
    var fidelityFlags: FidelityFlags

    @Option(help: "Batch size for children.")
    var batch = 32

    @Option(help: "Children's learning rate (default: 0.1; 1.0 for rnn-cell, plain SGD with gradients clipped to norm 5).")
    var lr: Double?

    @OptionGroup(title: "rnn-cell proxy") var proxyFlags: RNNCellProxyFlags

    @Option(help: "rnn-cell: folder holding ptb.train.txt, ptb.valid.txt and ptb.test.txt (`make ptb` writes them to data/ptb).")
    var text = "data/ptb"

    @OptionGroup var datasetFlags: DatasetFlags

    @OptionGroup var threadFlags: ThreadFlags
    var threads: Int { threadFlags.threads }

    @Option(name: .customLong("out"), help: "Run folder.")
    var directory = "nasc-run"

    @OptionGroup(title: "Workers")
    var workerFlags: SearchWorkerFlags

    @OptionGroup var storageFlags: StorageFlags

    @Flag(help: "Rewrite RUN/report.html (nasc report) as children finish, at most every 10 seconds: leave it open and reload.")
    var report = false

    func validate() throws {
        guard (growFrom == 0) == (growEvery == 0), growFrom >= 0, growEvery >= 0, growFrom <= spaceFlags.cnn.layers else {
            throw ValidationError("--grow-from and --grow-every go together: --grow-from L (at most --layers) and --grow-every M, both at least 1")
        }
        if growFrom > 0 && spaceFlags.space != .cnn { throw ValidationError("--grow-from and --grow-every grow the cnn space's layers; --space \(spaceFlags.space.rawValue) has no layers to grow") }
        try FlagCheck.int(children, "--children", 1...1_000_000)
        try FlagCheck.int(trainImages, "--train-images", 1...FlagCheck.largeCount)
        try FlagCheck.int(validationImages, "--validation-images", 1...FlagCheck.largeCount)
        try FlagCheck.int(reevaluate, "--reevaluate", 0...1000)
        try FlagCheck.int(reevaluationImages, "--reevaluation-images", 1...FlagCheck.largeCount)
        try FlagCheck.int(epochs, "--epochs", 1...10_000)
        try FlagCheck.int(batch, "--batch", 1...FlagCheck.largeCount)
        if let lr { try FlagCheck.real(lr, "--lr", above: 0) }
        if fidelityFlags.fidelity == .asha && epochs != 1 { throw ValidationError("--epochs does not apply with --fidelity asha: the rungs' --min-budget and --max-budget say what each child trains") }
        try FlagCheck.real(targetMflops, "--target-mflops", atLeast: 0)
        try FlagCheck.real(targetLatencyMs, "--target-latency-ms", atLeast: 0)
        if targetMflops > 0 && targetLatencyMs > 0 {
            throw ValidationError("--target-mflops and --target-latency-ms are two costs for one reward factor: give one of them")
        }
        let parsed: [Objective]
        do { parsed = try Objective.parse(objectives) } catch { throw ValidationError("\(error)") }
        if strategyFlags.strategy == .nsga2 && parsed.count < 2 {
            throw ValidationError("--strategy nsga2 trades accuracy against a cost: give --objectives accuracy,latency (or params, mflops)")
        }
        if spaceFlags.space == .rnnCell && (parsed.count > 1 || strategyFlags.strategy == .nsga2 || targetLatencyMs > 0 || latencyTarget != .jit) {
            throw ValidationError("--objectives, --strategy nsga2, --target-latency-ms and --latency-target apply to image classifiers; --space rnn-cell has one objective, its perplexity reward")
        }
        try FlagCheck.real(costExponent, "--cost-exponent", atMost: 0)
        try FlagCheck.real(maxMflops, "--max-mflops", atLeast: 0)
        if let maxLatencyMs { try FlagCheck.real(maxLatencyMs, "--max-latency-ms", above: 0) }
        if (maxLatencyMs == nil) != (latencyModel == nil) {
            throw ValidationError("--max-latency-ms and --latency-model go together: the limit, and the model that predicts each proposal's latency")
        }
        try FlagCheck.int(workerFlags.workers, "--workers", 0...256)
        try FlagCheck.real(workerFlags.childTimeout, "--child-timeout", atLeast: 0)
        try FlagCheck.real(workerFlags.leaseSeconds, "--lease-seconds", atLeast: 0.5)
        try FlagCheck.int(workerFlags.maxAttempts, "--max-attempts", 1...100)
        if let text = workerFlags.childMemory, MemoryLimit.parse(text) == nil {
            throw ValidationError("--child-memory must be a size such as 4G, 512M or a byte count, got '\(text)'")
        }
        if workerFlags.inProcess && workerFlags.workers != nil { throw ValidationError("--in-process trains children in the search's own process: it takes no --workers") }
    }

    func run() throws {
        Interruption.install()
        if spaceFlags.space == .rnnCell {
            if screeningFlags.screen != nil { throw ValidationError("--screen scores image classifiers; --space rnn-cell has no zero-cost proxy yet") }
            var o = CellSearch.Options()
            o.children = children ?? 60
            o.epochs = epochs
            o.learningRate = lr ?? 1.0
            return try proxyFlags.search(o, space: spaceFlags.rnnCell, text: text, strategy: strategyFlags, threads: threads, directory: directory)
        }
        try reportingErrors(whenStopped: { "every finished child is recorded in \(storageFlags.url.map { _ in "the store" } ?? directory + "/trials.db"), "
                                           + "and the children being trained went back to the queue: run the same command again to continue" }) {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), !isDirectory.boolValue {
                throw CommandError("\(directory): error: --out names a file; give a folder (a new one, or a search's run folder to continue it)")
            }
            let images = SearchImages(dataset: datasetFlags.dataset, folder: datasetFlags.data.map(absolutePath),
                                      trainImages: trainImages, validationImages: validationImages)
            let (train, validation): (ImageDataset, ImageDataset), spare: ImageDataset?
            do { (train, validation, spare) = try images.load(unused: reevaluationImages) } catch let e as DatasetError { throw CommandError(e.description) }
            // A larger split than the reward's, or no re-evaluation.
            let reevaluation = spare.flatMap { $0.count > validation.count ? $0 : nil }
            if reevaluate > 0 && reevaluation == nil {
                print("note: no re-evaluation of the top children: fewer training images are left unused (\(spare?.count ?? 0)) than the \(validation.count) that reward them")
            }
            var o = Search.Options()
            o.space = spaceFlags.imageSpace!
            o.strategy = strategyFlags.strategy
            o.children = children ?? 100
            o.perUpdate = strategyFlags.perUpdate ?? 4
            o.controllerLearningRate = strategyFlags.controllerLr
            o.entropyWeight = strategyFlags.entropyWeight
            o.reward = Reward(targetMFLOPs: targetMflops, exponent: costExponent, maxMFLOPs: maxMflops, targetLatencyMs: targetLatencyMs)
            o.objectives = try Objective.parse(objectives)
            o.latencyTarget = latencyTarget
            o.growFrom = growFrom
            o.growEvery = growEvery
            o.trainImages = trainImages
            o.validationImages = validationImages
            o.reevaluate = reevaluate
            o.epochs = epochs
            o.fidelity = fidelityFlags.settings
            o.keepCheckpoints = fidelityFlags.keepCheckpoints
            o.batch = batch
            o.learningRate = lr ?? 0.1
            o.seed = strategyFlags.seed
            o.screening = screeningFlags.screening
            if let maxLatencyMs, let latencyModel { o.latencyLimit = (try Latency.loadModel(latencyModel), maxLatencyMs) }
            o.execution = ExecutionSettings(threads: threads)
            o.directory = directory
            o.images = images
            o.inProcess = workerFlags.inProcess
            // The threads are shared between the local workers: by default
            // one single-threaded worker per thread (small children at batch
            // 32 use one core well and two poorly).
            o.workers = workerFlags.workers ?? threads
            o.workerThreads = max(1, threads / max(o.workers, 1))
            // Two workers each allowed 80% of the memory could together
            // exhaust it: by default they share it.
            if let text = workerFlags.childMemory {
                o.workerEnvironment[MemoryLimit.variable] = text
            } else if ProcessInfo.processInfo.environment[MemoryLimit.variable] == nil, o.workers > 1 {
                o.workerEnvironment[MemoryLimit.variable] = String(MemoryLimit.bytes / o.workers)
            }
            o.workerExecutable = currentExecutable()
            o.childTimeout = workerFlags.childTimeout
            o.leaseSeconds = workerFlags.leaseSeconds
            o.maxAttempts = workerFlags.maxAttempts
            var store: TrialStore?
            if let url = try storageFlags.parsed(), let text = storageFlags.url {
                o.workerEnvironment[PostgresDatabase.patienceVariable] = String(PostgresDatabase.patience)
                o.storage = url.description
                if let password = url.password { o.workerEnvironment["PGPASSWORD"] = password }
                store = try TrialStore(database: try StoreLocation.connect(text))
            }
            let search: Search
            do {
                search = try Search(options: o, train: train, validation: validation, reevaluation: reevaluation, store: store)
            } catch let e as SearchError where e.file != nil {
                throw CommandError(e.description)
            } catch { throw CommandError("\(directory): error: \(error)") }
            if report {
                var last = Date.distantPast
                let page = "\(directory)/report.html"
                search.onProgress = { [store = search.store, directory] in
                    guard Date().timeIntervalSince(last) >= 10 || (try? store.count()) ?? 0 >= o.children else { return }
                    last = Date()
                    do {
                        try Report.html([try RunData(name: (directory as NSString).lastPathComponent, store: store)])
                            .writeWhole(to: page)
                    } catch {
                        FileHandle.standardError.write(Data("warning: cannot write \(page): \(error)\n".utf8))
                    }
                }
                print("report: \(page), rewritten as children finish")
            }
            let all = try search.run()
            let trials = all.filter { !$0.isOverLimit }
            let overLimit = all.count - trials.count
            print("\nleaderboard (validation accuracy on \(validation.count) held-out images):")
            let rungs = o.fidelity != nil
            let interval = { (t: TrialStore.Trial) in AccuracyInterval(accuracy: t.validationAccuracy, count: validation.count) }
            print(" rank  trial  \(rungs ? "rung  " : "")reward   accuracy  95% interval    params    MFLOP/img  latency ms  hash")
            for (rank, t) in trials.prefix(5).enumerated() {
                let latency = t.latencyMs.map { String(format: "%10.3f", $0) } ?? String(repeating: " ", count: 9) + "-"
                print(String(format: "%5d  %5d  %@%.4f   %.4f    %@  %-8d  %9.1f  %@  %@", rank + 1, t.id, rungs ? String(format: "%4d  ", t.rung) : "",
                             t.reward, t.validationAccuracy, interval(t).description, t.parameters, Double(t.flops) / 1e6, latency, String(t.hash.prefix(16))))
            }
            // Children whose accuracy is within noise of the best's (at the best's rung).
            if let best = trials.first {
                let ties = trials.dropFirst().filter { $0.rung == best.rung && $0.succeeded && interval($0).overlaps(interval(best)) }.count
                if ties > 0 {
                    print("\(ties) other child(ren) at the best's rung have 95% intervals overlapping its own: on \(validation.count) validation images they tie with it")
                }
            }
            if !search.reevaluated.isEmpty {
                let images = reevaluation?.count ?? 0
                print("\nre-evaluated (each trained again, another seed; accuracy on \(images) images no child saw):")
                print(" rank  trial  accuracy  95% interval    in the search")
                for (rank, r) in search.reevaluated.enumerated() {
                    print(String(format: "%5d  %5d  %.4f    %@  %.4f (rank %d)", rank + 1, r.trial.id, r.accuracy, r.interval.description,
                                 r.trial.validationAccuracy, (trials.firstIndex { $0.id == r.trial.id } ?? 0) + 1))
                }
                let winner = try search.store.winner()
                if let best = search.reevaluated.first(where: { $0.trial.id == winner?.id }) {
                    let ties = search.reevaluated.filter { $0.trial.id != best.trial.id && $0.interval.overlaps(best.interval) }.count
                    print("winner: trial \(best.trial.id)" + (ties > 0 ? "; \(ties) other(s) still tie with it on \(images) images" : ", ahead of the others beyond noise"))
                }
            }
            if overLimit > 0 {
                print("\n\(overLimit) proposal(s) over --max-mflops \(maxMflops) were refused untrained (status over-limit in trials.db); they are not among the children above")
            }
            // Every child failed or was refused: a finished search (its trials
            // say why), but nothing to name or retrain.
            guard try search.store.winner() != nil else {
                print("\nno child trained successfully, so there is no best child (trials: \(directory)/trials.db; their errors are above)")
                return
            }
            if o.objectives.count > 1 {
                let front = try search.store.front()
                print("\nPareto front (\(o.objectives.flag)\(front.contains { $0.reevaluated } ? "; accuracy re-evaluated" : "")): \(front.count) child(ren), one IR file each in \(directory)/front/")
                print(" trial  " + o.objectives.map { $0.rawValue.padding(toLength: 10, withPad: " ", startingAt: 0) }.joined(separator: "  "))
                for m in front {
                    print(String(format: "%6d  ", m.trial.id) + zip(o.objectives, m.values).map { obj, v in
                        obj.format(v).padding(toLength: 10, withPad: " ", startingAt: 0)
                    }.joined(separator: "  "))
                }
                print("train one fully: nasc retrain \(directory) --trial K")
            }
            print("\nbest child: \(directory)/best.nasir   trials: \(directory)/trials.db")
            print("train it fully: nasc retrain \(directory)")
        }
    }
}

/// How much each child trains: `none` (every child `--epochs` over
/// `--train-images`) or `asha` (successive halving on rungs of training images).
struct FidelityFlags: ParsableArguments {
    enum Kind: String, ExpressibleByArgument, CaseIterable { case none, asha }

    @Option(help: "Multi-fidelity: none (every child trains --epochs) or asha (every child starts on --min-budget images; the best 1/--eta of each rung train on, from their checkpoint, to the next, up to --max-budget).")
    var fidelity: Kind = .none

    @Option(help: "ASHA's reduction factor: the best 1/eta of a rung are promoted, and each rung trains eta times more images.")
    var eta = 3

    @Option(name: .customLong("min-budget"), help: "ASHA: training images of the first rung.")
    var minBudget = 1000

    @Option(name: .customLong("max-budget"), help: "ASHA: training images of the last rung.")
    var maxBudget = 9000

    @Flag(help: "ASHA: keep, once the search is over, the checkpoints of children never promoted (about 2 MB each), so that a run continued with more --children can still promote them; by default they are pruned.")
    var keepCheckpoints = false

    func validate() throws {
        try FlagCheck.int(eta, "--eta", 2...100)
        try FlagCheck.int(minBudget, "--min-budget", 1...FlagCheck.largeCount)
        try FlagCheck.int(maxBudget, "--max-budget", 1...FlagCheck.largeCount)
        if fidelity == .asha && maxBudget < minBudget { throw ValidationError("--max-budget \(maxBudget) is below --min-budget \(minBudget)") }
    }

    var settings: Fidelity? { fidelity == .asha ? Fidelity(eta: eta, minBudget: minBudget, maxBudget: maxBudget) : nil }
}
