import NascIR

/// NSGA-II (Deb et al. 2002) for a search with several objectives
/// (`--objectives accuracy,latency`), steady-state to suit the
/// asynchronous search loop: a population of `population` children ranked
/// by non-dominated sorting, ties within a front broken by crowding
/// distance (the less crowded the better, so the front stays spread).
/// Each new child crosses two parents, each the winner of a binary
/// tournament, decision by decision, and mutates one decision (as
/// regularized evolution does); each finished child joins the population
/// and, once it is full, the worst member leaves: of the last front, the
/// most crowded. Until the population is full, children are random.
public struct NSGA2: SearchStrategy {
    public let name = "nsga2"
    let options: [Int]
    public var length: Int
    let population: Int
    /// Each member's costs (every objective minimised, see Objective).
    public private(set) var members: [(choices: [Int], costs: [Double])] = []
    public var proposed = 0
    let seed: UInt64

    public init(space: any SearchSpace, population: Int = 20, seed: UInt64) {
        self.init(options: space.decisionOptions, population: population, seed: seed)
    }

    /// Over any space: the number of options of each decision.
    public init(options: [Int], population: Int = 20, seed: UInt64) {
        self.options = options
        length = options.count
        self.population = max(population, 2)
        self.seed = seed
    }

    /// Each member's front and crowding distance.
    func standing() -> (rank: [Int], crowding: [Double]) {
        let points = members.map(\.costs)
        var rank = [Int](repeating: 0, count: points.count), crowding = [Double](repeating: 0, count: points.count)
        for (r, front) in Pareto.fronts(points).enumerated() {
            for (i, d) in zip(front, Pareto.crowding(points, front: front)) { (rank[i], crowding[i]) = (r, d) }
        }
        return (rank, crowding)
    }

    public mutating func propose(_ count: Int) -> [[Int]] {
        let (rank, crowding) = standing()
        return (0..<count).map { _ in
            var rng = SeededGenerator(seed: seed, stream: proposed)
            proposed += 1
            guard members.count >= population else { return options.prefix(length).map { rng.index($0) } }
            func tournament() -> [Int] {
                let a = rng.index(members.count), b = rng.index(members.count)
                let aWins = (rank[a], -crowding[a]) <= (rank[b], -crowding[b])
                return members[aWins ? a : b].choices
            }
            let mother = tournament(), father = tournament()
            var child: [Int] = []
            for d in 0..<length {
                let fromMother = rng.index(2) == 0
                // A parent from before the children grew gets random new layers.
                let parent = fromMother ? mother : father
                child.append(d < parent.count ? parent[d] : rng.index(options[d]))
            }
            let mutable = (0..<length).filter { options[$0] > 1 }
            if !mutable.isEmpty {
                let d = mutable[rng.index(mutable.count)]
                child[d] = (child[d] + 1 + rng.index(options[d] - 1)) % options[d]
            }
            return child
        }
    }

    /// With one objective: the reward, maximised.
    public mutating func observe(_ children: [[Int]], rewards: [Double]) {
        observe(children, rewards: rewards, costs: rewards.map { [-$0] })
    }

    public mutating func observe(_ children: [[Int]], rewards: [Double], costs: [[Double]?]) {
        for (c, cost) in zip(children, costs) {
            // A child without every objective (it failed; its latency was not measured) has no place on a front.
            guard let cost else { continue }
            members.append((c, cost))
            guard members.count > population else { continue }
            let (rank, crowding) = standing()
            // The worst: the last front's most crowded; of equals, the oldest.
            let worst = members.indices.max { (rank[$0], -crowding[$0], -$0) < (rank[$1], -crowding[$1], -$1) }!
            members.remove(at: worst)
        }
    }
}
