import Foundation
import NascIR
import NascInterpreter
import NascLLVM
import NascRuntime
import NascPasses

/// A search strategy: proposes decision sequences and learns from their
/// rewards. Random search, regularized evolution and the REINFORCE
/// controller share this interface, so the search loop is one.
public protocol SearchStrategy {
    var name: String { get }
    /// Decisions per proposed child: the whole space's, or a prefix of them
    /// while a growing schedule keeps the children smaller.
    var length: Int { get set }
    /// The next `count` children to evaluate.
    mutating func propose(_ count: Int) throws -> [[Int]]
    /// Rewards of children proposed earlier (in the same order).
    mutating func observe(_ children: [[Int]], rewards: [Double]) throws
    /// The same with each child's costs under the search's objectives
    /// (nil where one is unknown); only a multi-objective strategy reads them.
    mutating func observe(_ children: [[Int]], rewards: [Double], costs: [[Double]?]) throws
    /// Children proposed so far in this search. The k-th child's random
    /// choices come from stream k of the seed (SeededGenerator), so a
    /// search resumed from its store, which sets this to the proposals it
    /// holds, proposes what it would have proposed uninterrupted.
    var proposed: Int { get set }
}

extension SearchStrategy {
    public mutating func observe(_ children: [[Int]], rewards: [Double], costs: [[Double]?]) throws {
        try observe(children, rewards: rewards)
    }
}

/// The strategies `nasc search --strategy` offers.
public enum StrategyKind: String, CaseIterable, Sendable {
    case reinforce, evolution, random, nsga2

    /// What a strategy of this kind needs besides the space.
    public struct Settings: Sendable {
        public var seed: UInt64 = 0
        /// Children the search will evaluate (evolution and NSGA-II keep a quarter of them, at least 4).
        public var children = 100
        /// Children per controller update (REINFORCE's batch).
        public var perUpdate = 4
        public var controllerLearningRate = 0.01
        public var entropyWeight = 0.0
        public var execution = ExecutionSettings()
        public init(seed: UInt64 = 0, children: Int = 100, perUpdate: Int = 4, controllerLearningRate: Double = 0.01,
                    entropyWeight: Double = 0, execution: ExecutionSettings = ExecutionSettings()) {
            (self.seed, self.children, self.perUpdate) = (seed, children, perUpdate)
            (self.controllerLearningRate, self.entropyWeight, self.execution) = (controllerLearningRate, entropyWeight, execution)
        }
    }

    /// A fresh strategy of this kind over `space`.
    public func make(space: any SearchSpace, _ s: Settings) throws -> SearchStrategy {
        switch self {
        case .random: return RandomSearch(space: space, seed: s.seed)
        case .evolution: return RegularizedEvolution(space: space, population: max(s.children / 4, 4), sample: 3, seed: s.seed)
        case .nsga2: return NSGA2(space: space, population: max(s.children / 4, 4), seed: s.seed)
        case .reinforce:
            let controller = try ReinforceController(space: space, seed: s.seed, maxBatch: max(s.perUpdate, 1), execution: s.execution)
            controller.learningRate = s.controllerLearningRate
            controller.entropyWeight = s.entropyWeight
            return controller
        }
    }
}
