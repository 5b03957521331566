import NascIR

/// Uniform over the space: the honest baseline.
public struct RandomSearch: SearchStrategy {
    public let name = "random"
    let options: [Int]
    public var length: Int
    public var proposed = 0
    let seed: UInt64

    public init(space: any SearchSpace, seed: UInt64) { self.init(options: space.decisionOptions, seed: seed) }

    /// Over any space: the number of options of each decision.
    public init(options: [Int], seed: UInt64) {
        self.options = options
        length = options.count
        self.seed = seed
    }

    public mutating func propose(_ count: Int) -> [[Int]] {
        (0..<count).map { _ in
            var rng = SeededGenerator(seed: seed, stream: proposed)
            proposed += 1
            return options.prefix(length).map { rng.index($0) }
        }
    }

    public mutating func observe(_ children: [[Int]], rewards: [Double]) {}
}
