import ArgumentParser
import NascSearch

extension SpaceKind: ExpressibleByArgument {}
extension StrategyKind: ExpressibleByArgument {}

/// `--space` and the flags that shape each space, shared by `search` and
/// `sample`: the NAS-RL CNN space's, the cell space's, the recurrent cell's.
struct SpaceFlags: ParsableArguments {
    @Option(help: "Search space: cnn (NAS-RL's layers and skips), cells (NASNet/ENAS normal and reduction cells of separable convolutions, pools and identities) or rnn-cell (NAS-RL's recurrent cell, on Penn Treebank).")
    var space: SpaceKind = .cnn

    @Option(help: "cnn: layers per child (default: 4).")
    var layers: Int?

    @Flag(help: "cnn: let each layer choose a stride in {1, 2, 3}.")
    var strides = false

    @Option(help: ArgumentHelp("cnn: halve the resolution (2x2 max pool) after every K layers; 0: never (default: 1).", valueName: "K"))
    var poolEvery: Int?

    @Flag(help: "cnn: a layer that chooses no skip input reads the layer before it (without --chain it reads the image, the paper's repair rule).")
    var chain = false

    @Flag(help: "cnn: every layer is a separable convolution (ReLU, depthwise, pointwise 1x1, batch norm: NASNet's and ENAS's block), not conv + batch norm + ReLU.")
    var separable = false

    @Option(help: ArgumentHelp("cnn: the filter counts a layer picks from, comma-separated (default: 24,36,48,64, the paper's); smaller ones reach smaller, faster children.", valueName: "LIST"))
    var filters: String?

    @Option(help: ArgumentHelp("cells: blocks per cell (default: 5, as in NASNet and ENAS).", valueName: "B"))
    var blocks: Int?

    @Option(help: ArgumentHelp("cells: normal cells per stage (the network: stem, N normal, reduction, N normal, reduction, N normal; default: 1).", valueName: "N"))
    var cells: Int?

    @Option(help: ArgumentHelp("cells: channels of each block in the first stage, doubled at each reduction (default: 8).", valueName: "C"))
    var channels: Int?

    @Option(help: ArgumentHelp("cells: the stem convolution's stride: 2 runs every cell at half the image's resolution, about a quarter of the work (default: 1).", valueName: "S"))
    var stemStride: Int?

    @Option(help: "rnn-cell: leaves of the cell's tree, a power of two (default: 8, the paper's).")
    var base: Int?

    func validate() throws {
        try FlagCheck.int(layers, "--layers", 1...24)
        try FlagCheck.int(poolEvery, "--pool-every", 0...24)
        try FlagCheck.int(blocks, "--blocks", 1...12)
        try FlagCheck.int(cells, "--cells", 0...12)
        try FlagCheck.int(channels, "--channels", 1...1024)
        try FlagCheck.int(stemStride, "--stem-stride", 1...2)
        if filters != nil { _ = try filterCounts() }
        if let base, !(2...64).contains(base) || base & (base - 1) != 0 { throw ValidationError("--base must be a power of two from 2 to 64, got \(base)") }
        // A flag of another space would be silently ignored: say so instead.
        let given: [(SpaceKind, String, Bool)] = [
            (.cnn, "--layers", layers != nil), (.cnn, "--pool-every", poolEvery != nil), (.cnn, "--strides", strides), (.cnn, "--chain", chain),
            (.cnn, "--separable", separable), (.cnn, "--filters", filters != nil), (.cells, "--blocks", blocks != nil), (.cells, "--cells", cells != nil),
            (.cells, "--channels", channels != nil), (.cells, "--stem-stride", stemStride != nil), (.rnnCell, "--base", base != nil)]
        if let (kind, flag, _) = given.first(where: { $0.2 && $0.0 != space }) {
            throw ValidationError("\(flag) shapes the \(kind.rawValue) space, not --space \(space.rawValue) (add --space \(kind.rawValue), or leave \(flag) out)")
        }
    }

    var cnn: CNNSpace {
        CNNSpace(layers: layers ?? 4, strides: strides, poolEvery: poolEvery ?? 1, chain: chain, separable: separable,
                 filters: (try? filterCounts()) ?? CNNSpace.filterCounts)
    }

    /// --filters as numbers: 2 to 16 distinct counts from 1 to 1024.
    func filterCounts() throws -> [Int] {
        guard let filters else { return CNNSpace.filterCounts }
        let parts = filters.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        let counts = parts.compactMap { Int($0) }
        guard counts.count == parts.count, counts.allSatisfy({ (1...1024).contains($0) }) else {
            throw ValidationError("--filters takes filter counts from 1 to 1024 separated by commas (e.g. 8,16,24,36), got '\(filters)'")
        }
        guard (2...16).contains(counts.count), Set(counts).count == counts.count else {
            throw ValidationError("--filters takes 2 to 16 different counts, got '\(filters)'")
        }
        return counts
    }
    var cellSpace: CellSpace { CellSpace(blocks: blocks ?? 5, cellsPerStage: cells ?? 1, channels: channels ?? 8, stemStride: stemStride ?? 1) }
    var rnnCell: RNNCellSpace { RNNCellSpace(base: base ?? 8) }

    /// The space `--space` names, built from its flags.
    var searchSpace: any SearchSpace {
        switch space {
        case .cnn: return cnn
        case .cells: return cellSpace
        case .rnnCell: return rnnCell
        }
    }

    /// The image space `--space` names; nil for rnn-cell.
    var imageSpace: (any ImageSpace)? {
        switch space {
        case .cnn: return cnn
        case .cells: return cellSpace
        case .rnnCell: return nil
        }
    }
}

/// How a strategy learns, for every space (`search`, and `search-cells`).
struct StrategyFlags: ParsableArguments {
    @Option(help: "Strategy: reinforce (the NAS-RL controller), evolution (regularized evolution: mutates one decision of a good recent child), random, or nsga2 (NSGA-II over --objectives: crosses and mutates children of the Pareto front).")
    var strategy: StrategyKind = .reinforce

    @Option(help: "Children per controller update (default: 4; 5 for rnn-cell).")
    var perUpdate: Int?

    @Option(help: "The REINFORCE controller's Adam learning rate (the paper's 6e-4 suits its 12,800 children; a few hundred need more).")
    var controllerLr = 0.01

    @Option(help: "Entropy bonus β for the REINFORCE controller: each child's reward gains β·(−log P(child)), which keeps the controller exploring (ENAS uses 1e-4 on rewards near 1; rnn-cell rewards are about 1e-4, so try 1e-7 to 1e-6; 0: none, as in the paper).")
    var entropyWeight = 0.0

    @Option(help: "Seed.")
    var seed: UInt64 = 0

    func validate() throws {
        try FlagCheck.int(perUpdate, "--per-update", 1...10_000)
        try FlagCheck.real(controllerLr, "--controller-lr", above: 0)
        try FlagCheck.real(entropyWeight, "--entropy-weight", atLeast: 0)
    }
}
