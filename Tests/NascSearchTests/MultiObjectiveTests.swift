import Foundation
import NascData
import NascIR
import NascInterpreter
import NascRuntime
import NascSearch
import NascTraining
import XCTest

/// Several objectives: Pareto ranking as NSGA-II defines it, the NSGA-II
/// strategy, the front a search writes, and latency measured as emitted C.
final class MultiObjectiveTests: XCTestCase {
    /// A quiet in-process search of `children` over a small CNN space.
    func options(_ dir: String, strategy: StrategyKind = .nsga2, objectives: [Objective] = [.accuracy, .params], children: Int,
                 space: CNNSpace = CNNSpace(layers: 1)) -> Search.Options {
        var o = Search.Options()
        o.space = space
        o.strategy = strategy
        o.objectives = objectives
        o.children = children
        o.batch = 16
        o.directory = dir
        o.verbose = false
        return o
    }

    /// Random points with repeats and ties, in `dims` costs.
    func points(_ count: Int, dims: Int, seed: UInt64) -> [[Double]] {
        var rng = SeededGenerator(seed: seed)
        return (0..<count).map { _ in (0..<dims).map { _ in Double(rng.index(6)) } }
    }

    /// Every point is in one front; nothing in a front is dominated by a
    /// point of its own or a later front; every point after front 0 is
    /// dominated by one of the front before it.
    func testFrontsAreTheLayersOfNonDomination() {
        for (dims, seed) in [(2, 1), (3, 2), (2, 3)] as [(Int, UInt64)] {
            let p = points(60, dims: dims, seed: seed)
            let fronts = Pareto.fronts(p)
            XCTAssertEqual(fronts.flatMap { $0 }.sorted(), Array(p.indices))
            for (k, front) in fronts.enumerated() {
                for i in front {
                    for later in fronts[k...] { for j in later { XCTAssertFalse(Pareto.dominates(p[j], p[i]), "\(p[j]) dominates \(p[i]) of an earlier front") } }
                    if k > 0 { XCTAssertTrue(fronts[k - 1].contains { Pareto.dominates(p[$0], p[i]) }, "\(p[i]) in front \(k)") }
                }
            }
        }
        XCTAssertFalse(Pareto.dominates([1, 2], [1, 2]), "a point does not dominate its equal")
        XCTAssertTrue(Pareto.dominates([1, 2], [1, 3]))
        XCTAssertEqual(Pareto.fronts([]), [])
    }

    /// On the line cost0 + cost1 = 1: the extremes are infinitely far, the
    /// others the sum over costs of the gap between their neighbours.
    func testCrowdingKeepsTheExtremesAndMeasuresTheGaps() {
        let p: [[Double]] = [[0, 1], [0.1, 0.9], [0.5, 0.5], [1, 0]]
        let d = Pareto.crowding(p, front: [0, 1, 2, 3])
        XCTAssertEqual(d[0], .infinity)
        XCTAssertEqual(d[3], .infinity)
        XCTAssertEqual(d[1], 1.0, accuracy: 1e-12)
        XCTAssertEqual(d[2], 1.8, accuracy: 1e-12)
        XCTAssertEqual(Pareto.crowding(p, front: [1, 2]), [.infinity, .infinity])
    }

    /// Steady-state NSGA-II never drops a child of the front of everything
    /// it saw while the population holds more than that front, and its
    /// children are whole sequences of valid options.
    func testNSGA2KeepsTheFrontOfWhatItSaw() throws {
        let options = [4, 4, 3, 2, 4]
        var s = NSGA2(options: options, population: 12, seed: 7)
        var seen: [[Double]] = []
        var rng = SeededGenerator(seed: 8)
        for _ in 0..<20 {
            let children = s.propose(3)
            for c in children {
                XCTAssertEqual(c.count, options.count)
                for (v, n) in zip(c, options) { XCTAssertTrue((0..<n).contains(v)) }
            }
            // Costs on a curve with noise: a front of a few points, many dominated.
            let costs: [[Double]?] = children.map { _ in let x = rng.unit(); return [x, 1 - x * x + rng.unit() * 0.5] }
            seen += costs.compactMap { $0 }
            s.observe(children, rewards: children.map { _ in 0 }, costs: costs + [])
            XCTAssertLessThanOrEqual(s.members.count, 12)
            let front = Pareto.fronts(seen)[0]
            if front.count < 12 {
                for i in front { XCTAssertTrue(s.members.contains { $0.costs == seen[i] }, "front point \(seen[i]) was dropped") }
            }
        }
        // A child with an unknown cost has no place in the population.
        let before = s.members.count
        s.observe([[0, 0, 0, 0, 0]], rewards: [0], costs: [nil])
        XCTAssertEqual(s.members.count, before)
    }

    func testObjectivesParseWithClearErrors() throws {
        XCTAssertEqual(try Objective.parse("accuracy,latency"), [.accuracy, .latency])
        XCTAssertEqual(try Objective.parse(" Accuracy , params,mflops"), [.accuracy, .params, .mflops])
        for (bad, says) in [("accuracy,speed", "unknown objective 'speed'"), ("latency", "include accuracy"), ("accuracy,latency,latency", "given twice"), ("", "unknown objective ''")] {
            XCTAssertThrowsError(try Objective.parse(bad), bad) { XCTAssertTrue("\($0)".contains(says), "\(bad): \($0)") }
        }
    }

    /// The front of a search's trials: from the re-evaluated children with
    /// their re-evaluated accuracy once there are some; cached twins,
    /// failures and children without a latency left out.
    func testTheFrontUsesReevaluatedAccuracies() {
        func trial(_ id: Int, _ accuracy: Double, _ ms: Double?, status: String = "ok") -> TrialStore.Trial {
            var t = TrialStore.Trial(id: id, strategy: "nsga2", decisions: [id], hash: "h\(id)", reward: 0, validationAccuracy: accuracy,
                                     parameters: 10 * id, flops: 1000 * id, compileSeconds: 0, trainSeconds: 0, status: status, error: "")
            t.latencyMs = ms
            return t
        }
        let trials = [trial(1, 0.80, 0.1), trial(2, 0.85, 0.2), trial(3, 0.84, 0.3), trial(4, 0.90, 0.5), trial(5, 0.95, nil),
                      trial(6, 0.99, 0.05, status: "failed")]
        let objectives: [Objective] = [.accuracy, .latency]
        XCTAssertEqual(ParetoFront.of(trials, reevaluated: [:], objectives: objectives).map(\.trial.id), [1, 2, 4])
        // Re-evaluated, child 3 is better than child 2 and 4 worse than 3: the front is drawn from them alone.
        let front = ParetoFront.of(trials, reevaluated: [2: 0.83, 3: 0.86, 4: 0.85], objectives: objectives)
        XCTAssertEqual(front.map(\.trial.id), [2, 3])
        XCTAssertEqual(front.map(\.accuracy), [0.83, 0.86])
        XCTAssertTrue(front.allSatisfy(\.reevaluated))
        XCTAssertEqual(ParetoFront.ranked(trials, objectives: objectives).map(\.id), [1, 4, 2, 3, 5])
    }

    /// A multi-objective search end to end, in process: NSGA-II over
    /// accuracy and measured latency; every trained child has a latency;
    /// the front's children are re-evaluated first, written one IR file
    /// each (the child itself) with front.tsv, mutually non-dominated, and
    /// every other re-evaluated child is dominated by one of them.
    func testAMultiObjectiveSearchWritesItsFront() throws {
        let (train, validation) = (SearchLoopTests.quadrants(64, seed: 1), SearchLoopTests.quadrants(32, seed: 2))
        let spare = SearchLoopTests.quadrants(48, seed: 3)
        let dir = NSTemporaryDirectory() + "nasc-front-\(UUID().uuidString)"
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        var o = options(dir, objectives: [.accuracy, .latency], children: 12, space: CNNSpace(layers: 2, filters: [2, 4, 8]))
        o.reevaluate = 4
        let search = try Search(options: o, train: train, validation: validation, reevaluation: spare)
        let trials = try search.run()
        for t in trials where t.status == "ok" {
            XCTAssertGreaterThan(t.latencyMs ?? 0, 0, "trial \(t.id) has no latency")
            XCTAssertEqual(t.strategy, "nsga2")
        }
        XCTAssertEqual(search.reevaluated.count, 4)
        let front = try search.store.front()
        XCTAssertFalse(front.isEmpty)
        let costs = { (m: ParetoFront.Member) in [-m.accuracy, m.values[1]] }
        for a in front { for b in front { XCTAssertFalse(Pareto.dominates(costs(a), costs(b)), "front members \(a.trial.id) and \(b.trial.id)") } }
        for r in search.reevaluated where !front.contains(where: { $0.trial.id == r.trial.id }) {
            let point = [-r.accuracy, r.trial.latencyMs!]
            XCTAssertTrue(front.contains { Pareto.dominates(costs($0), point) || costs($0) == point }, "trial \(r.trial.id) is neither on nor behind the front")
        }
        let files = try FileManager.default.contentsOfDirectory(atPath: "\(dir)/front").filter { $0.hasSuffix(".nasir") }.sorted()
        XCTAssertEqual(files, front.map { "trial\($0.trial.id).nasir" }.sorted())
        for m in front {
            let g = try Verifier.parseAndVerify(Array(try String(contentsOfFile: "\(dir)/front/trial\(m.trial.id).nasir", encoding: .utf8).utf8))
            XCTAssertEqual(StructuralHash.hash(g), m.trial.hash)
        }
        let table = try String(contentsOfFile: "\(dir)/front/front.tsv", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(table.first, "trial\taccuracy\tlatency\treevaluated\tparams\tmflops\tfile")
        XCTAssertEqual(table.count, front.count + 1)
        XCTAssertEqual(try search.store.objectives(), [.accuracy, .latency])
    }

    /// A front that cannot be written (front/ is a file) is an error that
    /// names it, after every trial is stored; the same search run again
    /// trains nothing more and writes the front.
    func testAFrontThatCannotBeWrittenIsAnErrorAndTheSameSearchWritesItLater() throws {
        let (train, validation) = (SearchLoopTests.quadrants(32, seed: 5), SearchLoopTests.quadrants(16, seed: 6))
        let dir = NSTemporaryDirectory() + "nasc-front-file-\(UUID().uuidString)"
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        XCTAssertTrue(FileManager.default.createFile(atPath: "\(dir)/front", contents: Data("in the way".utf8)))
        let o = options(dir, children: 4)
        XCTAssertThrowsError(try Search(options: o, train: train, validation: validation).run()) {
            XCTAssertTrue("\($0)".contains("\(dir)/front: error: cannot write the Pareto front"), "\($0)")
        }
        XCTAssertEqual(try TrialStore(path: "\(dir)/trials.db").count(), 4, "the trials are kept")
        try FileManager.default.removeItem(atPath: "\(dir)/front")
        let trials = try Search(options: o, train: train, validation: validation).run()
        XCTAssertEqual(trials.count, 4, "nothing trained again")
        XCTAssertTrue(FileManager.default.fileExists(atPath: "\(dir)/front/front.tsv"))
    }

    /// NSGA-II resumes as regularized evolution does: a search stopped and
    /// continued proposes and trains what one run straight through does
    /// (over accuracy and parameters, both deterministic).
    func testAStoppedNSGA2SearchContinuesAsIfUninterrupted() throws {
        let (train, validation) = (SearchLoopTests.quadrants(32, seed: 5), SearchLoopTests.quadrants(16, seed: 6))
        let straight = NSTemporaryDirectory() + "nasc-nsga-\(UUID().uuidString)", stopped = straight + "-stopped"
        addTeardownBlock { for d in [straight, stopped] { try? FileManager.default.removeItem(atPath: d) } }
        let rows = { (dir: String) in try TrialStore(path: "\(dir)/trials.db").all().map { "\($0.job ?? 0) \($0.decisions) \($0.status) \($0.reward)" } }
        try Search(options: options(straight, children: 9), train: train, validation: validation).run()
        for stopAt in [3, 6] {
            let search = try Search(options: options(stopped, children: 9), train: train, validation: validation)
            search.onProgress = { [store = search.store] in if (try? store.count()) ?? 0 >= stopAt { Interruption.simulate(SIGINT) } }
            XCTAssertThrowsError(try search.run()) { XCTAssertTrue($0 is Interrupted, "\($0)") }
            Interruption.simulate(0)
        }
        try Search(options: options(stopped, children: 9), train: train, validation: validation).run()
        XCTAssertEqual(try rows(stopped), try rows(straight))
    }

    /// MnasNet's reward with measured latency: accuracy^3 x (ms / target)^w.
    func testALatencyTargetWeighsTheMeasuredLatency() {
        let r = Reward(targetLatencyMs: 0.5)
        XCTAssertTrue(r.needsLatency)
        XCTAssertEqual(r(accuracy: 0.9, flopsPerImage: 1, latencyMs: 0.5), pow(0.9, 3), accuracy: 1e-15)
        XCTAssertEqual(r(accuracy: 0.9, flopsPerImage: 1, latencyMs: 1.0), pow(0.9, 3) * pow(2, -0.07), accuracy: 1e-15)
        XCTAssertFalse(Reward(targetMFLOPs: 3).needsLatency)
    }

    /// A search with a latency target rewards every child by its own
    /// measured latency, and stays with that target when continued.
    func testASearchWithALatencyTargetRewardsTheMeasuredLatency() throws {
        let (train, validation) = (SearchLoopTests.quadrants(32, seed: 9), SearchLoopTests.quadrants(16, seed: 10))
        let dir = NSTemporaryDirectory() + "nasc-mnas-\(UUID().uuidString)"
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        var o = options(dir, strategy: .reinforce, objectives: [.accuracy], children: 6)
        o.reward = Reward(exponent: -0.3, targetLatencyMs: 0.01)
        let trials = try Search(options: o, train: train, validation: validation).run()
        for t in trials where t.succeeded {
            let ms = try XCTUnwrap(t.latencyMs, "trial \(t.id)")
            XCTAssertEqual(t.reward, pow(t.validationAccuracy, 3) * pow(ms / 0.01, -0.3), accuracy: 1e-12)
        }
        o.reward = Reward(exponent: -0.3, targetLatencyMs: 0.02)
        o.children = 8
        XCTAssertThrowsError(try Search(options: o, train: train, validation: validation)) {
            XCTAssertTrue("\($0)".contains("--target-latency-ms 0.01"), "\($0)")
        }
    }

    /// The emitted C's latency: positive, and of the same order as the JIT's;
    /// a compiler that is not there is an error that names it.
    func testLatencyOfTheEmittedC() throws {
        let space = CNNSpace(layers: 2, filters: [4, 8])
        let graph = try space.graph([1, 1, 1, 0, 1, 1, 0], name: "c", image: ImageShape(channels: 1, size: 12, classes: 3))
        let weights = Initializers.initializeAll(graph, seed: 0)
        let image = (0..<144).map { Float($0 % 7) / 7 }
        let c = try ChildLatency.measure(graph, weights: weights, target: .emittedC, image: image, label: 0, runs: 5)
        let jit = try ChildLatency.measure(graph, weights: weights, target: .jit, image: image, label: 0, runs: 5)
        XCTAssertGreaterThan(c, 0)
        XCTAssertLessThan(c, 1000 * max(jit, 0.01), "emitted C \(c) ms against the JIT's \(jit) ms")
        setenv("CC", "/nonexistent/cc", 1)
        defer { unsetenv("CC") }
        XCTAssertThrowsError(try ChildLatency.measure(graph, weights: weights, target: .emittedC, image: image, label: 0, runs: 1)) {
            XCTAssertTrue("\($0)".contains("/nonexistent/cc"), "\($0)")
        }
    }

    /// --filters: a layer's filter count is one of the space's, recorded in
    /// search.json and compared when a run continues.
    func testTheCNNSpacesFilterCountsAreASetting() throws {
        let space = CNNSpace(layers: 2, filters: [5, 7, 9])
        XCTAssertEqual(space.decisionOptions.filter { $0 == 3 }.count, 2)
        let ir = space.ir([0, 0, 2, 1, 1, 1, 1], name: "f", channels: 1, size: 8, classes: 4)
        XCTAssertTrue(ir.contains("f32[9,1,1,1]") && ir.contains("f32[7,9,3,3]"), ir)
        let back = try XCTUnwrap(CNNSpace(json: space.settings))
        XCTAssertEqual(back, space)
        XCTAssertEqual(CNNSpace(json: CNNSpace(layers: 2).settings)?.filters, CNNSpace.filterCounts)
        XCTAssertEqual(back.difference(from: CNNSpace(layers: 2)), "--filters 5,7,9, not 24,36,48,64")
        XCTAssertNil(back.difference(from: space))
    }
}
