/// The NASNet/ENAS cell space (Zoph et al. 2018; Pham et al. 2018, "micro"):
/// the search designs two small cells, a *normal* cell that keeps the
/// resolution and a *reduction* cell that halves it, and the network stacks
/// them: a stem, N normal cells, a reduction cell, N normal cells, a
/// reduction cell, N normal cells, a global average pool and the classifier
/// (CellNetwork). The channel count starts at C and doubles at each
/// reduction. Cells found on a small proxy (small N and C) transfer to the
/// final network by stacking more of them and widening them.
///
/// A cell reads the outputs of the two cells before it (inputs 0 and 1)
/// and has B blocks. Block b picks two inputs among the cell's inputs and
/// the blocks before it (2 + b options each) and an operation for each
/// (`CellOp`), and adds the two results. The block outputs no other block
/// reads are concatenated into the cell's output. Decisions come cell by
/// cell (normal, then reduction), block by block: first input, second
/// input, first operation, second operation (ENAS's order).
public struct CellSpace: Sendable, Equatable {
    /// Blocks per cell (B).
    public var blocks: Int
    /// Normal cells per stage (N).
    public var cellsPerStage: Int
    /// Channels of every block output in the first stage (C).
    public var channels: Int
    /// The stem convolution's stride: 2 puts the first stage at half the
    /// image's resolution (a quarter of the work of every cell), as the
    /// ImageNet networks' stems do; 1 (NASNet's CIFAR network) keeps it.
    public var stemStride: Int

    public init(blocks: Int = 5, cellsPerStage: Int = 2, channels: Int = 16, stemStride: Int = 1) {
        self.blocks = blocks
        self.cellsPerStage = cellsPerStage
        self.channels = channels
        self.stemStride = stemStride
    }

    /// The two cells the search designs.
    public enum CellKind: String, CaseIterable, Sendable { case normal, reduction }

    /// One block of a cell as the decisions set it.
    public struct Block: Sendable, Equatable {
        /// 0 and 1 are the cell's inputs (the cell before the previous one,
        /// and the previous one); 2 + k is block k's output.
        public var inputs: (Int, Int)
        public var ops: (CellOp, CellOp)
        public static func == (a: Block, b: Block) -> Bool { a.inputs == b.inputs && a.ops == b.ops }
    }

    /// Decisions per cell.
    public var decisionsPerCell: Int { 4 * blocks }

    /// The blocks of `kind`'s cell.
    public func cell(_ kind: CellKind, _ choices: [Int]) -> [Block] {
        let start = kind == .normal ? 0 : decisionsPerCell
        return (0..<blocks).map { b in
            let d = Array(choices[(start + 4 * b)..<(start + 4 * b + 4)])
            return Block(inputs: (d[0], d[1]), ops: (CellOp.allCases[d[2]], CellOp.allCases[d[3]]))
        }
    }

    /// Block outputs (2 + k) no block of the cell reads: the cell's output
    /// concatenates them. The last block is always one.
    public static func looseEnds(_ cell: [Block]) -> [Int] {
        let read = Set(cell.flatMap { [$0.inputs.0, $0.inputs.1] })
        return cell.indices.map { $0 + 2 }.filter { !read.contains($0) }
    }
}

/// The operations a block applies to an input (NASNet's and ENAS's set).
/// Each keeps the channel count; in a reduction cell, applied to one of the
/// cell's inputs, each has stride 2.
public enum CellOp: String, CaseIterable, Sendable {
    /// ReLU, depthwise k x k, pointwise 1x1, batch norm, applied twice (NASNet).
    case sep3 = "sep_conv_3x3", sep5 = "sep_conv_5x5"
    /// ReLU, depthwise k x k with dilation 2, pointwise 1x1, batch norm, once (DARTS).
    case dil3 = "dil_conv_3x3", dil5 = "dil_conv_5x5"
    case avg3 = "avg_pool_3x3", max3 = "max_pool_3x3"
    /// The input itself; with stride 2, ReLU, a strided 1x1 convolution and batch norm.
    case identity

    /// The label papers write on a cell's edge.
    public var label: String { rawValue }
}

extension CellSpace: ImageSpace {
    public var kind: SpaceKind { .cells }

    public var decisionOptions: [Int] {
        CellKind.allCases.flatMap { _ in
            (0..<blocks).flatMap { b in [2 + b, 2 + b, CellOp.allCases.count, CellOp.allCases.count] }
        }
    }

    /// One head per block position for the inputs (block b chooses among
    /// 2 + b), one for the operations; both cells share them, as in ENAS.
    public var controller: ControllerGraph {
        ControllerGraph(decisions: CellKind.allCases.flatMap { _ in
            (0..<blocks).flatMap { b in
                [("input\(b)", 2 + b), ("input\(b)", 2 + b), ("op", CellOp.allCases.count), ("op", CellOp.allCases.count)]
            }
        })
    }

    /// Each block's two (input, operation) pairs in ascending order: the
    /// add does not care which comes first.
    public func canonical(_ choices: [Int]) -> [Int] {
        var out = choices
        for b in stride(from: 0, to: choices.count - 3, by: 4) {
            let first = (choices[b], choices[b + 2]), second = (choices[b + 1], choices[b + 3])
            if second < first { (out[b], out[b + 2], out[b + 1], out[b + 3]) = (second.0, second.1, first.0, first.1) }
        }
        return out
    }

    public var settings: [String: Any] {
        ["space": "cells", "blocks": blocks, "cells_per_stage": cellsPerStage, "cell_channels": channels, "stem_stride": stemStride]
    }

    public init?(json: [String: Any]) {
        guard json["space"] as? String == "cells", let b = json["blocks"] as? Int, let n = json["cells_per_stage"] as? Int,
              let c = json["cell_channels"] as? Int else { return nil }
        // Runs recorded before the stem had a stride have none: 1.
        let stride = json["stem_stride"] == nil ? 1 : json["stem_stride"] as? Int
        guard let stride, [1, 2].contains(stride) else { return nil }
        self.init(blocks: b, cellsPerStage: n, channels: c, stemStride: stride)
    }

    public var summary: String {
        "cells of \(blocks) blocks, \(cellsPerStage) normal per stage, \(channels) channels" + (stemStride == 1 ? "" : ", stem stride \(stemStride)")
    }

    public func difference(from now: any ImageSpace) -> String? {
        guard let now = now as? CellSpace else { return "--space cells, not \(now.kind.rawValue)" }
        let fields: [(String, Int, Int)] = [("--blocks", blocks, now.blocks), ("--cells", cellsPerStage, now.cellsPerStage),
                                            ("--channels", channels, now.channels), ("--stem-stride", stemStride, now.stemStride)]
        return fields.first { $0.1 != $0.2 }.map { "\($0.0) \($0.1), not \($0.2)" }
    }

    public func ir(_ choices: [Int], name: String, image: ImageShape, width: Double) -> String {
        precondition(choices.count == decisionOptions.count, "\(choices.count) decisions make no child of this space (\(decisionOptions.count))")
        let c = canonical(choices)
        var scaled = self
        scaled.channels = max(1, Int((Double(channels) * width).rounded()))
        return CellNetwork(space: scaled, normal: cell(.normal, c), reduction: cell(.reduction, c), image: image).ir(name: name)
    }
}
