import Foundation
import NascIR
import NascRuntime
import NascSearch
import XCTest

/// The recurrent cell search on a tiny synthetic text: every strategy runs,
/// trials land in the store, a second run continues the first, and a run
/// with other settings is refused.
final class CellSearchTests: XCTestCase {
    func text() -> CellSearch.Text {
        var state: UInt64 = 7
        let words: [Int32] = (0..<3000).map { i in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return i % 3 == 0 ? Int32(state >> 60) : Int32(i % 7)   // mostly predictable
        }
        return .init(vocabulary: 16, train: Array(words[..<2400]), validation: Array(words[2400...]))
    }

    func options(_ strategy: String, children: Int) -> CellSearch.Options {
        var o = CellSearch.Options()
        o.strategy = StrategyKind(rawValue: strategy)!
        o.children = children
        o.perUpdate = 2
        o.space = RNNCellSpace(base: 2)
        o.hidden = 6
        o.batch = 4
        o.steps = 5
        o.learningRate = 0.5
        o.verbose = false
        o.execution = ExecutionSettings(threads: 1)
        return o
    }

    func folder() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cells-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        return dir
    }

    func testEveryStrategySearchesCellsAndAResumedRunContinues() throws {
        for strategy in ["random", "evolution", "reinforce"] {
            let dir = try folder()
            let first = try CellSearch(options: options(strategy, children: 4), store: try TrialStore(path: "\(dir)/trials.db"), text: text()).run()
            XCTAssertEqual(first.trials.count, 4, strategy)
            let trained = first.trials.filter { $0.status == "ok" }
            XCTAssertFalse(trained.isEmpty, "\(strategy): \(first.trials.map(\.error))")
            for t in trained {
                // The reward is c / ppl^2, and a model that learned beats uniform guessing (ppl 16).
                XCTAssertEqual(t.reward, 80 / (t.validationAccuracy * t.validationAccuracy), accuracy: 1e-12)
                XCTAssertLessThan(t.validationAccuracy, 16, strategy)
            }
            let store = try TrialStore(path: "\(dir)/trials.db")
            let second = try CellSearch(options: options(strategy, children: 6), store: store, text: text()).run()
            XCTAssertEqual(second.trials.count, 6, strategy)
            XCTAssertEqual(try store.all().count, 6, "\(strategy): the first run's 4 trials are not trained again")
            XCTAssertTrue(try store.unobservedIDs().isEmpty, strategy)
            if strategy == "reinforce" { XCTAssertNotNil(try store.strategyState()) }
        }
    }

    func testAResumeWithOtherSettingsIsRefused() throws {
        let dir = try folder()
        _ = try CellSearch(options: options("random", children: 2), store: try TrialStore(path: "\(dir)/trials.db"), text: text()).run()
        var other = options("random", children: 4)
        other.hidden = 8
        XCTAssertThrowsError(try CellSearch(options: other, store: try TrialStore(path: "\(dir)/trials.db"), text: text()).run()) { error in
            XCTAssertTrue("\(error)".contains("hidden = 6, not 8"), "\(error)")
        }
    }

    /// The entropy bonus reaches the controller: with a large β its
    /// updates favour rarer cells, so the same seed proposes other cells;
    /// and it is a setting of the run (resuming with another is refused).
    func testTheEntropyBonusChangesTheControllerAndIsASetting() throws {
        func proposals(_ beta: Double) throws -> [[Int]] {
            var o = options("reinforce", children: 8)
            o.entropyWeight = beta
            o.controllerLearningRate = 0.1
            return try CellSearch(options: o, store: try TrialStore(path: "\(try folder())/trials.db"), text: text()).run().trials.map(\.decisions)
        }
        let plain = try proposals(0), bonus = try proposals(10)
        XCTAssertEqual(Array(plain.prefix(2)), Array(bonus.prefix(2)), "the first round comes before any update")
        XCTAssertNotEqual(plain, bonus, "the bonus changed the updates")
        let dir = try folder()
        var o = options("reinforce", children: 2)
        o.entropyWeight = 1e-6
        _ = try CellSearch(options: o, store: try TrialStore(path: "\(dir)/trials.db"), text: text()).run()
        o.entropyWeight = 0
        o.children = 4
        XCTAssertThrowsError(try CellSearch(options: o, store: try TrialStore(path: "\(dir)/trials.db"), text: text()).run()) { error in
            XCTAssertTrue("\(error)".contains("entropy_weight"), "\(error)")
        }
    }

    /// The controller over the cell space proposes valid cells.
    func testTheControllerSamplesCellsOfTheSpace() throws {
        let space = RNNCellSpace(base: 4)
        let controller = try ReinforceController(graph: ControllerGraph(space: space), seed: 3, maxBatch: 8, execution: ExecutionSettings(threads: 1))
        for choices in try controller.propose(8) {
            XCTAssertEqual(choices.count, space.decisions.count)
            for (d, c) in zip(space.decisions, choices) { XCTAssertTrue((0..<d.options).contains(c)) }
            XCTAssertNoThrow(try Verifier.parseAndVerify(Array(space.ir(choices).utf8)))
        }
    }
}
