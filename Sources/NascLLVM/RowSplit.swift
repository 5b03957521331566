import NascIR

/// Threads for a softmax over rows whose count is static. An unrolled
/// language model has no batch dimension (its 20 x 35 words are 700 fixed
/// rows), so the runtime's batch chunks never split its kernels, and the
/// cross-entropy over 700 rows of 10,000 words ran on one thread: a tenth
/// of a training step on one thread, a sixth on two. Such a kernel is
/// lowered with the rows as `%n` (the divisor of a mean stays the static
/// count), so the runtime can give each thread a range of rows, as it gives
/// it a range of examples elsewhere.
public struct RowSplit: Sendable, Equatable {
    /// Rows in all: what the runtime passes as `%n` when it does not split.
    public var rows: Int
    /// Per argument, the bytes one row moves its pointer on (0: the
    /// argument is not per row, such as the loss's incoming gradient).
    public var bytesPerRow: [Int]
    /// The argument that holds a sum over the rows (the mean loss): each
    /// range writes its part, and the parts are added.
    public var sumResult: Int?

    /// The split of the kernel being lowered, or nil: its anchor must be a
    /// softmax or softmax cross-entropy over a static number of rows, every
    /// argument per row or a scalar, and a loss's epilogue only products
    /// with constants (linear, so the parts' sum is the whole's).
    static func plan(_ l: Lowering) -> RowSplit? {
        let anchor = l.nodes[0]
        let rowOps: Set<Op> = [.softmax, .softmaxCrossEntropy, .softmaxCrossEntropyGrad,
                               .weightedSoftmaxCrossEntropy, .weightedSoftmaxCrossEntropyGrad]
        guard rowOps.contains(anchor.op), let rows = l.type(anchor.operands[0]).dims[0].staticValue, rows > 1 else { return nil }
        let loss = anchor.op == .softmaxCrossEntropy || anchor.op == .weightedSoftmaxCrossEntropy
        var chain = anchor.result
        for n in l.nodes.dropFirst() {
            // Only a loss has an epilogue worth splitting; an epilogue over a
            // row-shaped result would loop over every row in each range.
            guard loss, n.op == .mul, l.type(n.result).isScalar, n.operands.contains(chain),
                  n.operands.allSatisfy({ $0 == chain || l.constants[$0] != nil }) else { return nil }
            chain = n.result
        }
        var bytes: [Int] = []
        var sumResult: Int?
        for (i, a) in l.arguments.enumerated() {
            let t = l.type(a)
            if t.isScalar {
                bytes.append(0)
                if l.nodes.contains(where: { $0.result == a }) {
                    guard loss, sumResult == nil else { return nil }
                    sumResult = i
                }
                continue
            }
            guard !t.hasBatch, t.dims[0].staticValue == rows, let elements = t.elementsPerExample else { return nil }
            bytes.append(4 * elements / rows)
        }
        if loss && sumResult == nil { return nil }
        return RowSplit(rows: rows, bytesPerRow: bytes, sumResult: sumResult)
    }
}
