import Foundation
import NascData
import NascIR
import NascRuntime
import NascSearch
import NascTraining
import XCTest

/// The search loop end to end on a tiny synthetic dataset: every child
/// trained and recorded, repeats reused, the best child written, the run
/// continued where it stopped, the images' geometry respected.
final class SearchLoopTests: XCTestCase {
    /// Images whose class is the quadrant holding a bright square: learnable
    /// in a few steps, so rewards differ between children.
    static func quadrants(_ count: Int, channels: Int = 1, size: Int = 8, seed: UInt64) -> ImageDataset {
        var rng = SeededGenerator(seed: seed)
        var pixels: [Float] = [], labels: [Int32] = []
        for _ in 0..<count {
            let label = Int(rng.unit() * 4) % 4
            var image = [Float](repeating: 0, count: channels * size * size)
            let (top, left) = (label / 2 * size / 2, label % 2 * size / 2)
            for c in 0..<channels { for y in top..<(top + size / 2) { for x in left..<(left + size / 2) { image[(c * size + y) * size + x] = 1 } } }
            for i in image.indices { image[i] += Float(rng.unit() - 0.5) * 0.2 }
            pixels += image
            labels.append(Int32(label))
        }
        return ImageDataset(channels: channels, height: size, width: size, classes: 4, pixels: pixels, labels: labels)
    }

    func directory() throws -> String {
        let d = NSTemporaryDirectory() + "nasc-search-\(UUID().uuidString)"
        addTeardownBlock { try? FileManager.default.removeItem(atPath: d) }
        return d
    }

    func options(_ dir: String, strategy: String, children: Int) -> Search.Options {
        var o = Search.Options()
        o.space = CNNSpace(layers: 1)  // 3 decisions of 4 options: 64 children, so repeats come soon
        o.strategy = StrategyKind(rawValue: strategy)!
        o.children = children
        o.batch = 16
        o.directory = dir
        o.verbose = false
        return o
    }

    func testSearchRecordsReusesAndResumes() throws {
        let (train, validation) = (Self.quadrants(64, seed: 1), Self.quadrants(32, seed: 2))
        for strategy in ["random", "evolution", "reinforce"] {
            let dir = try directory()
            let first = try Search(options: options(dir, strategy: strategy, children: 16), train: train, validation: validation).run()
            XCTAssertEqual(first.count, 16, strategy)
            XCTAssertEqual(first.map(\.reward), first.map(\.reward).sorted(by: >), "\(strategy): trials come best first")
            for t in first {
                XCTAssertNotEqual(t.status, "failed", "\(strategy): \(t.error)")
                XCTAssertEqual(t.reward, pow(t.validationAccuracy, 3), accuracy: 1e-12)
                XCTAssertGreaterThan(t.flops, 0)
            }
            // A repeated child reuses the reward of its first training.
            let byHash = Dictionary(grouping: first, by: \.hash)
            for (hash, same) in byHash where same.count > 1 {
                XCTAssertEqual(Set(same.map(\.reward)).count, 1, "\(strategy): child \(hash) got different rewards")
                XCTAssertEqual(same.filter { $0.status == "ok" }.count, 1, "\(strategy): child \(hash) was trained twice")
            }
            // The best child is on disk as IR for these 8x8 images.
            let best = try Verifier.parseAndVerify(Array(try String(contentsOfFile: "\(dir)/best.nasir", encoding: .utf8).utf8))
            XCTAssertEqual(best.inputs.first?.type.description, "f32[N,1,8,8]")
            XCTAssertEqual(StructuralHash.hash(best), first[0].hash)

            // Running again with a larger budget continues: 16 kept, 8 more.
            let second = try Search(options: options(dir, strategy: strategy, children: 24), train: train, validation: validation).run()
            XCTAssertEqual(second.count, 24, strategy)
            XCTAssertEqual(Set(second.map(\.id)), Set(1...24), strategy)
            let log = try String(contentsOfFile: "\(dir)/search.log", encoding: .utf8)
            XCTAssertTrue(log.contains("[16/16]") && log.contains("[24/24]"), "\(strategy): the log keeps both runs")
        }
    }

    /// The cell space through the same loop, unchanged: every strategy
    /// trains, records and resumes cell children, and ASHA promotes them
    /// from their checkpoints.
    func testEveryStrategyAndASHASearchTheCellSpace() throws {
        let (train, validation) = (Self.quadrants(48, seed: 1), Self.quadrants(24, seed: 2))
        for (strategy, asha) in [("random", false), ("evolution", false), ("reinforce", false), ("evolution", true)] {
            let dir = try directory()
            var o = options(dir, strategy: strategy, children: 6)
            o.space = CellSpace(blocks: 2, cellsPerStage: 0, channels: 3)
            o.perUpdate = 3
            if asha { o.fidelity = Fidelity(eta: 2, minBudget: 16, maxBudget: 64) }
            let trials = try Search(options: o, train: train, validation: validation).run()
            let store = { try TrialStore(path: "\(dir)/trials.db").all() }
            XCTAssertEqual(try store().filter { $0.rung == 0 }.count, 6, strategy)
            XCTAssertEqual(trials.count, 6, "\(strategy): each child once in the ranking")
            for t in trials { XCTAssertTrue(t.succeeded, "\(strategy): \(t.status) \(t.error)") }
            // Each child trained has its batch-1 latency, measured after training.
            for t in try store() where t.status == "ok" { XCTAssertGreaterThan(t.latencyMs ?? 0, 0, "\(strategy): trial \(t.id)") }
            if asha { XCTAssertTrue(trials.contains { $0.rung > 0 }, "ASHA promoted a cell child") }
            let best = try String(contentsOfFile: "\(dir)/best.nasir", encoding: .utf8)
            XCTAssertTrue(best.contains("%cell1.b1 = add"), best)
            XCTAssertEqual(StructuralHash.hash(try Verifier.parseAndVerify(Array(best.utf8))), trials[0].hash)
            o.children = 8
            try Search(options: o, train: train, validation: validation).run()
            XCTAssertEqual(try store().filter { $0.rung == 0 }.count, 8, "\(strategy): continued")
        }
    }

    /// Once an ASHA search is over, the checkpoints of its children never
    /// promoted are pruned and the file gives their pages back, unless
    /// --keep-checkpoints. A run continued after pruning does not promote
    /// the children that lost theirs (nothing fails for lack of one); one
    /// continued after keeping them promotes them from their checkpoints.
    func testAFinishedSearchPrunesItsCheckpointsUnlessAskedToKeepThem() throws {
        let (train, validation) = (Self.quadrants(64, seed: 5), Self.quadrants(32, seed: 6))
        for keep in [false, true] {
            let dir = try directory()
            var o = options(dir, strategy: "random", children: 9)
            o.fidelity = Fidelity(eta: 3, minBudget: 16, maxBudget: 144)
            o.keepCheckpoints = keep
            _ = try Search(options: o, train: train, validation: validation).run()
            let store = try TrialStore(path: "\(dir)/trials.db")
            let promoted = try store.promotedJobs()
            let waiting = try store.all().filter { $0.status == "ok" && $0.rung < 2 && !promoted.contains($0.job!) }
            let unpromoted = Set(waiting.map { $0.job! })
            XCTAssertFalse(unpromoted.isEmpty)
            XCTAssertEqual(try store.checkpointedJobs(), keep ? unpromoted : [], "keep \(keep)")
            let pages = try SQLiteDatabase(path: "\(dir)/trials.db").query("pragma freelist_count").first?.first?.int
            if !keep { XCTAssertEqual(pages, 0, "pruned pages go back to the file system") }

            // Eighteen children worse than all nine make the nine the best
            // third of their rung: promotions due, to continue from checkpoints.
            let lastJob = try store.jobs().map(\.id).max()!
            try store.register(worker: "t:1", host: "t", pid: 1, version: "t")
            for _ in try store.enqueue(Array(repeating: [0, 0, 0], count: 18), strategy: "random") {
                let job = try XCTUnwrap(try store.lease(worker: "t:1", seconds: 60, maxAttempts: 2))
                var worse = TrialStore.Trial(job: job, status: "ok")
                (worse.reward, worse.hash) = (-1, "worse\(job.id)")
                XCTAssertNotNil(try store.complete(job: job.id, worker: "t:1", trial: worse))
            }
            try store.release(worker: "t:1", reason: "done", maxAttempts: 2)
            o.children = try store.count()
            _ = try Search(options: o, train: train, validation: validation).run()
            XCTAssertEqual(try store.all().filter { $0.status == "failed" }.map(\.error), [], "keep \(keep)")
            // Results of the first run promoted by the continued one: all of
            // its first rung's (the best third now), or none once pruned.
            let continued = Set(try store.jobs().filter { $0.id > lastJob && ($0.parent ?? .max) <= lastJob }.map { $0.parent! })
            if keep {
                XCTAssertTrue(continued.isSubset(of: unpromoted), "\(continued)")
                XCTAssertTrue(continued.isSuperset(of: waiting.filter { $0.rung == 0 }.map { $0.job! }), "\(continued)")
            } else {
                XCTAssertEqual(continued, [])
            }
            XCTAssertEqual(try store.checkpointedJobs().isEmpty, !keep, "keep \(keep)")
        }
    }

    /// ASHA: every child trains on the first rung's images; the best third
    /// of each rung (of the distinct results there) trained on from
    /// their checkpoint; the search ends when no promotion is due; the
    /// leaderboard ranks each child once, at its highest rung; a run
    /// continues only with the same budgets.
    func testASHAPromotesTheBestOfEachRungAndContinuesTheirTraining() throws {
        let (train, validation) = (Self.quadrants(64, seed: 5), Self.quadrants(32, seed: 6))
        for strategy in ["random", "reinforce", "evolution"] {
            let dir = try directory()
            var o = options(dir, strategy: strategy, children: 9)
            o.perUpdate = 3
            o.fidelity = Fidelity(eta: 3, minBudget: 16, maxBudget: 144)
            let ranked = try Search(options: o, train: train, validation: validation).run()
            let store = try TrialStore(path: "\(dir)/trials.db")
            let all = try store.all(), jobs = try store.jobs()
            XCTAssertEqual(all.filter { $0.rung == 0 }.count, 9, strategy)
            XCTAssertEqual(try store.jobCounts()["queued"], 0, strategy)
            for rung in 0..<2 {
                let here = all.filter { $0.rung == rung && $0.status != "cached" }.sorted { ($0.reward, -$0.id) > ($1.reward, -$1.id) }
                let next = all.filter { $0.rung == rung + 1 }
                XCTAssertGreaterThanOrEqual(next.count, here.count / 3, "\(strategy): rung \(rung + 1)")
                for t in here.prefix(here.count / 3) where t.status == "ok" {
                    let promotion = jobs.first { $0.parent == t.job }
                    XCTAssertNotNil(promotion, "\(strategy): trial \(t.id), in the best third of rung \(rung), was not promoted")
                    XCTAssertEqual(promotion?.rung, rung + 1, strategy)
                    XCTAssertEqual(promotion?.decisions, t.decisions, strategy)
                }
            }
            // Three distinct results at rung 1 (a converging controller may
            // repeat children, which are not results of their own) promote one.
            if all.filter({ $0.rung == 1 && $0.status != "cached" }).count >= 3 {
                XCTAssertFalse(all.filter { $0.rung == 2 }.isEmpty, "\(strategy): no child reached the last rung")
            }
            XCTAssertEqual(ranked.first?.rung, all.map(\.rung).max(), strategy)
            if strategy == "random" { XCTAssertEqual(ranked.first?.rung, 2, "random children are distinct here: one reaches the last rung") }
            XCTAssertEqual(Set(ranked.compactMap(\.job)).count, ranked.count, strategy)
            XCTAssertEqual(ranked.count, 9, "\(strategy): every child once")
            // The first rung's ranking (what `nasc correlate` samples) holds every child that trained there, promoted or not.
            let first = try store.firstRung()
            XCTAssertEqual(first.map(\.id), all.filter { $0.rung == 0 && $0.status == "ok" }.sorted { ($0.reward, -$0.id) > ($1.reward, -$1.id) }.map(\.id), strategy)
            let promoted = try store.promotedJobs()
            XCTAssertTrue(first.contains { promoted.contains($0.job!) }, "\(strategy): promoted children missing from the first rung's ranking")
            XCTAssertTrue(try store.hasAllChildren(), strategy)
            XCTAssertEqual(try store.unobserved().count, 0, "\(strategy): the strategy learned from every rung's results")
            for job in try store.promotedJobs() { XCTAssertNil(try store.checkpoint(job: job), strategy) }
            XCTAssertEqual(try store.checkpointedJobs(), [], "\(strategy): a finished search prunes the checkpoints no promotion needs")

            // Continuing with other budgets is refused; with more children it goes on.
            var other = o
            other.fidelity = nil
            other.children = 12
            XCTAssertThrowsError(try Search(options: other, train: train, validation: validation)) { error in
                XCTAssertTrue("\(error)".contains("--fidelity asha --eta 3 --min-budget 16 --max-budget 144, not --fidelity none"), "\(error)")
            }
            o.children = 12
            _ = try Search(options: o, train: train, validation: validation).run()
            XCTAssertEqual(try store.count(), 12, strategy)
        }
    }

    /// A promotion continues the child's training: its checkpoint has the
    /// steps of both rungs, and a promotion without one is a failed trial.
    func testAPromotionContinuesFromItsCheckpoint() throws {
        let (train, validation) = (Self.quadrants(64, seed: 5), Self.quadrants(32, seed: 6))
        var settings = SearchSettings(shape: ChildShape(space: CNNSpace(layers: 1), channels: 1, size: 8, classes: 4))
        settings.batch = 16
        settings.fidelity = Fidelity(eta: 2, minBudget: 16, maxBudget: 64)
        let trainer = ChildTrainer(settings: settings, train: train, validation: validation, execution: ExecutionSettings(threads: 1))
        let job = Job(id: 1, decisions: [1, 1, 1], strategy: "random", status: "running", worker: "t", leaseUntil: 0, attempts: 1, started: 0, lastError: "")
        let first = try trainer.evaluate(job, known: { _ in nil })
        XCTAssertEqual(first.trial.status, "ok", first.trial.error)
        let firstData = try XCTUnwrap(first.checkpoint)
        let saved = try Checkpoint.decode([UInt8](firstData), path: "rung 0")
        XCTAssertEqual(saved.step, 1, "16 images at batch 16")
        var promotion = job
        (promotion.id, promotion.rung, promotion.parent) = (2, 1, 1)
        let second = try trainer.evaluate(promotion, known: { _ in nil }, previous: first.checkpoint)
        XCTAssertEqual(second.trial.status, "ok", second.trial.error)
        let secondData = try XCTUnwrap(second.checkpoint)
        XCTAssertEqual(try Checkpoint.decode([UInt8](secondData), path: "rung 1").step, 1 + 1, "16 more images: 32 in all")
        let orphan = try trainer.evaluate(promotion, known: { _ in nil })
        XCTAssertEqual(orphan.trial.status, "failed")
        XCTAssertTrue(orphan.trial.error.contains("no checkpoint of rung 0"), orphan.trial.error)
    }

    /// The growing schedule: 1-layer children first, then 3-layer ones, for
    /// every strategy (evolution extends its short parents, the controller
    /// samples and learns from prefixes).
    func testChildrenGrowOnSchedule() throws {
        let (train, validation) = (Self.quadrants(32, seed: 7), Self.quadrants(16, seed: 8))
        for strategy in ["random", "evolution", "reinforce"] {
            var o = options(try directory(), strategy: strategy, children: 12)
            o.space = CNNSpace(layers: 3, poolEvery: 1)
            o.growFrom = 1
            o.growEvery = 6
            let trials = try Search(options: o, train: train, validation: validation).run().sorted { $0.id < $1.id }
            XCTAssertEqual(trials.map(\.decisions.count), [Int](repeating: 3, count: 6) + [Int](repeating: 12, count: 6), strategy)
            XCTAssertTrue(trials.allSatisfy { $0.status != "failed" }, strategy)
        }
    }

    func testRandomChildrenRepeatAndAreReused() throws {
        let dir = try directory()
        let trials = try Search(options: options(dir, strategy: "random", children: 24),
                                train: Self.quadrants(32, seed: 3), validation: Self.quadrants(16, seed: 4)).run()
        // 24 draws from 64 children repeat with probability above 99%.
        XCTAssertGreaterThan(trials.filter { $0.status == "cached" }.count, 0)
    }

    /// One search per run folder: a second one is refused while the first
    /// lives, and the folder continues once it is gone.
    func testASecondSearchOnARunningFolderIsRefused() throws {
        let dir = try directory()
        let (train, validation) = (Self.quadrants(32, seed: 5), Self.quadrants(16, seed: 6))
        do {
            let running = try Search(options: options(dir, strategy: "random", children: 2), train: train, validation: validation)
            XCTAssertThrowsError(try Search(options: options(dir, strategy: "random", children: 2), train: train, validation: validation)) {
                XCTAssertTrue("\($0)".contains("another nasc search is running on this folder (pid \(getpid())"), "\($0)")
            }
            try running.run()
        }
        XCTAssertEqual(try Search(options: options(dir, strategy: "random", children: 3), train: train, validation: validation).run().count, 3)
    }

    /// A search killed in mid-round resumes exactly: the controller's state
    /// is committed with the trials it learned from; children finished in a
    /// round that never reached its update wait, as they would have without
    /// the kill, and are learned from when their round fills (or the search ends).
    func testARoundCutShortIsLearnedFromWhenItFills() throws {
        let dir = try directory()
        let (train, validation) = (Self.quadrants(32, seed: 5), Self.quadrants(16, seed: 6))
        try Search(options: options(dir, strategy: "reinforce", children: 4), train: train, validation: validation).run()
        let store = try TrialStore(path: "\(dir)/trials.db")
        let committed = try store.strategyState()
        XCTAssertNotNil(committed, "the controller's state is kept in the store")
        XCTAssertEqual(try store.unobservedIDs(), [])
        // Two children as a kill would leave them: recorded, not learned from.
        var child = try store.all()[0]
        child.reward = 0.9
        child.job = nil
        try store.insert(child)
        try store.insert(child)
        XCTAssertEqual(try store.unobservedIDs().count, 2)
        let resumed = try Search(options: options(dir, strategy: "reinforce", children: 6), train: train, validation: validation)
        XCTAssertEqual(try store.unobservedIDs().count, 2, "the round cut short is not full yet")
        XCTAssertEqual(try store.strategyState(), committed)
        try resumed.run()
        XCTAssertEqual(try store.unobservedIDs(), [], "the search learns from the round cut short")
        XCTAssertNotEqual(try store.strategyState(), committed, "and commits the state that learned from it")
    }

    /// A search stopped part-way and continued proposes, trains and learns
    /// exactly what one run straight through does, for every strategy: each
    /// child's random choices come from its own stream of the seed, the
    /// controller's baseline is kept with its weights, and a round is learned
    /// from when it fills.
    func testAStoppedSearchContinuesAsIfUninterrupted() throws {
        let (train, validation) = (Self.quadrants(32, seed: 5), Self.quadrants(16, seed: 6))
        for strategy in ["random", "evolution", "reinforce"] {
            let straight = try directory(), stopped = try directory()
            let rows = { (dir: String) in try TrialStore(path: "\(dir)/trials.db").all().map { "\($0.job ?? 0) \($0.decisions) \($0.status) \($0.reward)" } }
            try Search(options: options(straight, strategy: strategy, children: 7), train: train, validation: validation).run()
            // Stopped twice as SIGINT would stop it, after 2 and after 4 children.
            for stopAt in [2, 4] {
                let search = try Search(options: options(stopped, strategy: strategy, children: 7), train: train, validation: validation)
                search.onProgress = { [store = search.store] in if (try? store.count()) ?? 0 >= stopAt { Interruption.simulate(SIGINT) } }
                XCTAssertThrowsError(try search.run(), strategy) { XCTAssertTrue($0 is Interrupted, "\($0)") }
                Interruption.simulate(0)
            }
            try Search(options: options(stopped, strategy: strategy, children: 7), train: train, validation: validation).run()
            XCTAssertEqual(try rows(stopped), try rows(straight), strategy)
        }
    }

    /// With --screen, each child trained is the proxy's best of the
    /// proposals it was screened from: in process one child is wanted at a
    /// time, so child k is the best by NASWOT of random proposals 3k..3k+2
    /// (streams of the seed). The others are counted, not stored, and a
    /// search stopped and continued screens and trains what one run
    /// straight through does.
    func testScreeningTrainsTheProxysBestProposals() throws {
        let (train, validation) = (Self.quadrants(32, seed: 5), Self.quadrants(16, seed: 6))
        let space = CellSpace(blocks: 2, cellsPerStage: 0, channels: 3)
        func screened(_ dir: String) -> Search.Options {
            var o = options(dir, strategy: "random", children: 4)
            o.space = space
            o.screening = Screening(proxy: .naswot, factor: 3, batch: 8)
            return o
        }
        let straight = try directory()
        try Search(options: screened(straight), train: train, validation: validation).run()
        let store = try TrialStore(path: "\(straight)/trials.db")
        XCTAssertEqual(try store.screenedProposals(), 8)
        let trained = try store.all().sorted { $0.id < $1.id }.map { space.canonical($0.decisions) }
        var random = RandomSearch(space: space, seed: 0)
        let proposals = try random.propose(12)
        let batch = Screening(proxy: .naswot, factor: 3, batch: 8).minibatch(of: train, seed: 0)
        for k in 0..<4 {
            let group = Array(proposals[(3 * k)..<(3 * k + 3)])
            let scores = try group.map { try ProxyKind.naswot.proxy.score(try space.graph($0, name: "p", image: ImageShape(channels: 1, size: 8, classes: 4)),
                                                                          on: batch, seed: 0, threads: 1) }
            XCTAssertEqual(trained[k], space.canonical(Screening.best(group, scores: scores, keep: 1)[0]), "child \(k + 1): scores \(scores)")
        }

        let stopped = try directory()
        do {  // the stopped search's lock goes with it
            let search = try Search(options: screened(stopped), train: train, validation: validation)
            search.onProgress = { [store = search.store] in if (try? store.count()) ?? 0 >= 2 { Interruption.simulate(SIGINT) } }
            XCTAssertThrowsError(try search.run()) { XCTAssertTrue($0 is Interrupted, "\($0)") }
            Interruption.simulate(0)
        }
        try Search(options: screened(stopped), train: train, validation: validation).run()
        let rows = { (dir: String) in try TrialStore(path: "\(dir)/trials.db").all().map { "\($0.decisions) \($0.status) \($0.reward)" } }
        XCTAssertEqual(try rows(stopped), try rows(straight))
    }

    func testContinuingInAnotherSpaceIsAnError() throws {
        let dir = try directory()
        let (train, validation) = (Self.quadrants(32, seed: 5), Self.quadrants(16, seed: 6))
        try Search(options: options(dir, strategy: "random", children: 2), train: train, validation: validation).run()
        var other = options(dir, strategy: "random", children: 4)
        other.space = CNNSpace(layers: 2)
        XCTAssertThrowsError(try Search(options: other, train: train, validation: validation)) {
            XCTAssertTrue("\($0)".contains("--layers 1, not 2"), "\($0)")
        }
        XCTAssertThrowsError(try Search(options: options(dir, strategy: "random", children: 4), train: Self.quadrants(32, size: 12, seed: 5), validation: validation)) {
            XCTAssertTrue("\($0)".contains("image size 8, not 12"), "\($0)")
        }
    }

    /// With a cost target, every recorded reward is accuracy cubed times the
    /// cost factor of the child's FLOPs; a run continues only under the
    /// reward it started with.
    func testACostTargetWeighsEveryRewardAndStaysWithItsRun() throws {
        let dir = try directory()
        let (train, validation) = (Self.quadrants(32, seed: 9), Self.quadrants(16, seed: 10))
        var o = options(dir, strategy: "random", children: 6)
        o.reward = Reward(targetMFLOPs: 0.05, exponent: -0.2)
        let trials = try Search(options: o, train: train, validation: validation).run()
        XCTAssertEqual(Set(trials.map(\.flops)).count > 1, true, "children of different cost")
        for t in trials where t.status != "failed" {
            XCTAssertEqual(t.reward, pow(t.validationAccuracy, 3) * pow(Double(t.flops) / 1e6 / 0.05, -0.2), accuracy: 1e-12)
        }
        var other = options(dir, strategy: "random", children: 8)
        other.reward = Reward(targetMFLOPs: 0.1, exponent: -0.2)
        XCTAssertThrowsError(try Search(options: other, train: train, validation: validation)) {
            XCTAssertTrue("\($0)".contains("--target-mflops 0.05"), "\($0)")
        }
        XCTAssertThrowsError(try Search(options: options(dir, strategy: "random", children: 8), train: train, validation: validation))
        o.children = 8
        XCTAssertEqual(try Search(options: o, train: train, validation: validation).run().count, 8)
    }

    /// --max-latency-ms refuses what the latency model predicts too slow,
    /// with the graded reward of a cost limit. A model of 1000 ms per MFLOP
    /// of convolution and a limit of 50 ms refuse exactly the children over
    /// 0.05 MFLOP of convolution.
    func testALatencyLimitRefusesWhatTheModelPredictsTooSlow() throws {
        let (train, validation) = (Self.quadrants(32, seed: 9), Self.quadrants(16, seed: 10))
        let dir = try directory()
        var o = options(dir, strategy: "random", children: 6)
        o.latencyLimit = (LatencyModel(table: ["conv2d": [0, 1000, 0]], constant: 0, samples: 0), 50)
        let search = try Search(options: o, train: train, validation: validation)
        let trials = try search.run()
        func predicted(_ t: TrialStore.Trial) throws -> Double {
            o.latencyLimit!.model.predict(try LatencyModel.features(try o.space.graph(t.decisions, name: "t", image: ImageShape(channels: 1, size: 8, classes: 4)))).total
        }
        let refused = trials.filter(\.isOverLimit)
        XCTAssertFalse(refused.isEmpty, "no proposal over the limit")
        XCTAssertEqual(trials.count - refused.count, 6)
        for t in trials where !t.isOverLimit { XCTAssertLessThanOrEqual(try predicted(t), 50) }
        for t in refused {
            let ms = try predicted(t)
            XCTAssertGreaterThan(ms, 50)
            XCTAssertEqual(t.reward, -(1 - 50 / ms), accuracy: 1e-9)
            XCTAssertTrue(t.error.contains("over --max-latency-ms 50"), t.error)
        }
    }

    /// A hard cost limit: every child above it is refused untrained with
    /// reward 0 and never promoted; every child at or below it trains.
    /// --max-mflops: a proposal above the limit is refused before it is
    /// queued (over-limit, untrained, a reward graded by how far over, below
    /// every trained child's) and not counted, so the search still trains
    /// as many children as it was asked for, all under the limit.
    func testAHardCostLimitRefusesDearProposalsWithoutCountingThem() throws {
        let (train, validation) = (Self.quadrants(32, seed: 9), Self.quadrants(16, seed: 10))
        for strategy in ["random", "evolution", "reinforce"] {
            let dir = try directory()
            var o = options(dir, strategy: strategy, children: 8)
            o.reward = Reward(maxMFLOPs: 0.05)
            let search = try Search(options: o, train: train, validation: validation)
            let trials = try search.run()
            let refused = trials.filter(\.isOverLimit), children = trials.filter { !$0.isOverLimit }
            XCTAssertFalse(refused.isEmpty, "\(strategy): no proposal above the limit: \(trials.map(\.flops))")
            XCTAssertEqual(children.count, 8, "\(strategy): refusals must not count against --children")
            XCTAssertEqual(try search.store.count(), 8)
            XCTAssertEqual(try search.store.newChildrenProposed(), 8)
            for t in children {
                XCTAssertLessThanOrEqual(Double(t.flops) / 1e6, 0.05, strategy)
                XCTAssertTrue(t.succeeded, "\(strategy): \(t.status) \(t.error)")
                if t.status == "ok" { XCTAssertGreaterThan(t.trainSeconds, 0) }  // a repeat (cached) reuses its twin's result
            }
            for t in refused {
                let mflops = Double(t.flops) / 1e6
                XCTAssertGreaterThan(mflops, 0.05, strategy)
                XCTAssertEqual(t.reward, -(1 - 0.05 / mflops), accuracy: 1e-12)
                XCTAssertEqual(t.trainSeconds, 0)
                XCTAssertTrue(t.error.contains("over --max-mflops 0.05"), t.error)
            }
            XCTAssertEqual(try search.store.problems(), [], strategy)
            XCTAssertEqual(try search.store.unobserved().count, 0, "\(strategy): every refusal was learned from")
            XCTAssertLessThanOrEqual(Double(try search.store.winner()!.flops) / 1e6, 0.05)
        }
        // A run continues only under the limit it started with.
        var o = options(try directory(), strategy: "random", children: 2)
        o.reward = Reward(maxMFLOPs: 0.05)
        _ = try Search(options: o, train: train, validation: validation).run()
        var other = o
        other.reward = Reward(maxMFLOPs: 0.1)
        XCTAssertThrowsError(try Search(options: other, train: train, validation: validation)) {
            XCTAssertTrue("\($0)".contains("--max-mflops 0.05"), "\($0)")
        }
    }

    /// A limit below every child of the space: the search gives up after a
    /// run of refusals with a message that says what to change, not a hang.
    func testALimitNoChildMeetsEndsTheSearchWithAClearError() throws {
        let (train, validation) = (Self.quadrants(16, seed: 9), Self.quadrants(8, seed: 10))
        var o = options(try directory(), strategy: "random", children: 4)
        o.reward = Reward(maxMFLOPs: 1e-6)
        let search = try Search(options: o, train: train, validation: validation)
        XCTAssertThrowsError(try search.run()) {
            XCTAssertTrue("\($0)".contains("proposals in a row cost more than --max-mflops"), "\($0)")
            XCTAssertTrue("\($0)".contains("raise the limit"), "\($0)")
        }
        XCTAssertEqual(try search.store.count(), 0)
        XCTAssertNil(try search.store.winner())
        XCTAssertEqual(try search.store.problems(), [])
    }

    func testNonSquareImagesAreAnError() throws {
        let data = ImageDataset(channels: 1, height: 4, width: 6, classes: 2, pixels: [Float](repeating: 0, count: 48), labels: [0, 1])
        XCTAssertThrowsError(try Search(options: options(try directory(), strategy: "random", children: 1), train: data, validation: data)) {
            XCTAssertTrue("\($0)".contains("4x6"), "\($0)")
        }
    }
}
