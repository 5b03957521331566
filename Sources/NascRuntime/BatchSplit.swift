import NascIR
import NascLLVM
import NascPasses

/// How a kernel may run as batch chunks on several threads. A chunk
/// [lo, hi) runs the unchanged kernel with n = hi - lo and every
/// batch-carrying pointer moved lo examples on; buffers without N are
/// weights, only read, except in a sum over the batch.
enum BatchSplit: Equatable {
    /// Every op computes each example from that example alone: chunks write
    /// disjoint parts of the outputs.
    case chunks(bytesPerExample: [Int])
    /// A single op adding one contribution per example into argument
    /// `result` (PatternKind.sumsOverBatch): the first chunk writes the
    /// result, the others write partial sums that are then added to it.
    case sum(bytesPerExample: [Int], result: Int, floats: Int)

    var bytesPerExample: [Int] {
        switch self {
        case .chunks(let b), .sum(let b, _, _): return b
        }
    }

    /// A row-split kernel's ranges of rows, as chunks of examples.
    static func of(rows split: RowSplit) -> BatchSplit {
        guard let result = split.sumResult else { return .chunks(bytesPerExample: split.bytesPerRow) }
        return .sum(bytesPerExample: split.bytesPerRow, result: result, floats: 1)
    }

    /// The split of a kernel with these ops and arguments, or nil if it must
    /// see the whole batch at once (batch statistics, a loss or its gradient,
    /// which divide by the batch size, an update).
    static func of(nodes: [Node], arguments: [String], types: [String: TensorType]) -> BatchSplit? {
        var bytes: [Int] = []
        for a in arguments {
            let t = types[a]!
            guard t.hasBatch else { bytes.append(0); continue }
            guard t.dims.first == .batch, !t.dims.dropFirst().contains(.batch), let e = t.elementsPerExample else { return nil }
            bytes.append(4 * e)
        }
        if nodes.count == 1, PatternKind.sumsOverBatch(nodes[0], types), let r = arguments.firstIndex(of: nodes[0].result) {
            return .sum(bytesPerExample: bytes, result: r, floats: types[nodes[0].result]!.bound(batch: 1).reduce(1, *))
        }
        // Every op must keep examples apart (its definition's batch behaviour).
        for n in nodes where !n.op.definition.keepsExamplesApart(n.attrs) { return nil }
        // A result without N would be written by every chunk.
        let results = Set(nodes.map(\.result))
        for (a, b) in zip(arguments, bytes) where b == 0 && results.contains(a) { return nil }
        return .chunks(bytesPerExample: bytes)
    }
}
