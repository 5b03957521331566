import NascIR

/// Regularized evolution (Real et al. 2019): a population of the last
/// `population` children; each new child mutates one decision of the best of
/// `sample` random members; the oldest member dies. Until the population is
/// full, children are random.
public struct RegularizedEvolution: SearchStrategy {
    public let name = "evolution"
    let options: [Int]
    public var length: Int
    let population: Int, sample: Int
    var members: [(choices: [Int], reward: Double)] = []
    public var proposed = 0
    let seed: UInt64

    public init(space: any SearchSpace, population: Int = 20, sample: Int = 5, seed: UInt64) {
        self.init(options: space.decisionOptions, population: population, sample: sample, seed: seed)
    }

    /// Over any space: the number of options of each decision.
    public init(options: [Int], population: Int = 20, sample: Int = 5, seed: UInt64) {
        self.options = options
        length = options.count
        self.population = population
        self.sample = sample
        self.seed = seed
    }

    public mutating func propose(_ count: Int) -> [[Int]] {
        (0..<count).map { _ in
            var rng = SeededGenerator(seed: seed, stream: proposed)
            proposed += 1
            guard members.count >= population else { return options.prefix(length).map { rng.index($0) } }
            let contenders = (0..<sample).map { _ in members[rng.index(members.count)] }
            var child = Array(contenders.max { $0.reward < $1.reward }!.choices.prefix(length))
            // A parent from before the children grew gets random new layers.
            while child.count < length { child.append(rng.index(options[child.count])) }
            // Mutate one decision to a different option.
            let mutable = (0..<length).filter { options[$0] > 1 }
            let d = mutable[rng.index(mutable.count)]
            child[d] = (child[d] + 1 + rng.index(options[d] - 1)) % options[d]
            return child
        }
    }

    public mutating func observe(_ children: [[Int]], rewards: [Double]) {
        for (c, r) in zip(children, rewards) {
            members.append((c, r))
            if members.count > population { members.removeFirst() }
        }
    }
}
