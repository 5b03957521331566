import NascIR

/// Threads for kernels of a graph without a batch. An unrolled language
/// model's values have static rows (its 20 x 35 words are 700 fixed rows of
/// the softmax, 20 of each step's gates), so the runtime's batch chunks
/// never split its kernels: the cross-entropy over 700 rows of 10,000 words
/// and every gate kernel ran on one thread. A kernel whose every op works
/// row by row is lowered as if its rows were the batch (`%n`; the divisor
/// of a mean loss stays the static count), so the runtime can give each
/// thread a range of rows, as it gives it a range of examples elsewhere.
/// A lone product of few rows is split by its columns instead (`columns`).
public struct RowSplit: Sendable, Equatable {
    /// Rows in all: what the runtime passes as `%n` when it does not split.
    public var rows: Int
    /// Per argument, the bytes one row moves its pointer on (0: not split,
    /// such as a weight or the loss's incoming gradient).
    public var bytesPerRow: [Int]
    /// The argument that holds a sum over the rows (the mean loss): each
    /// range writes its part, and the parts are added.
    public var sumResult: Int?

    /// Fewer elements than this in a kernel's largest split value cost more
    /// to hand to another thread than the thread saves.
    static let minimumElements = 8192

    /// The split of a kernel, and the types it is lowered with (each split
    /// value's rows become N), or nil when some op is not row by row: the
    /// softmax family over static rows (a loss's epilogue may only scale it
    /// by constants, so the parts' sum is the whole's), a matrix product's
    /// rows (not of a transposed left operand), bias_add, elementwise ops,
    /// and slices, concatenations and reshapes that keep the rows.
    static func plan(nodes: [Node], arguments: [String], types: [String: TensorType],
                     constants: [String: Double]) -> (split: RowSplit, types: [String: TensorType])? {
        if let split = columns(nodes: nodes, arguments: arguments, types: types) { return split }
        let rowOps: Set<Op> = [.softmax, .softmaxCrossEntropy, .softmaxCrossEntropyGrad, .weightedSoftmaxCrossEntropy, .weightedSoftmaxCrossEntropyGrad]
        guard let first = nodes.first else { return nil }
        let shaped = types[rowOps.contains(first.op) ? first.operands[0] : first.result]!
        guard shaped.rank >= 1, let rows = shaped.dims[0].staticValue, rows > 1,
              arguments.allSatisfy({ !types[$0]!.hasBatch }) else { return nil }
        let results = Set(nodes.map(\.result))
        var split: Set<String> = [], whole: Set<String> = []
        var sum: String?
        func rowsOf(_ v: String) -> Bool { types[v]!.rank >= 1 && types[v]!.dims[0] == .fixed(rows) }
        for n in nodes {
            let x = n.operands
            let anchor: AnchorOp
            switch n.op.kind {
            case .elementwise:
                if n.op == .mul, let total = sum, x.contains(total) {
                    // The mean loss scaled (by the number of steps): linear.
                    guard n.type!.isScalar, x.allSatisfy({ $0 == total || constants[$0] != nil }) else { return nil }
                    sum = n.result
                    continue
                }
                for v in x where !types[v]!.isScalar {
                    guard types[v]! == n.type! else { return nil }
                    split.insert(v)
                }
                split.insert(n.result)
                continue
            case .anchor(let a): anchor = a
            }
            switch anchor {
            case .softmax, .softmaxCrossEntropy, .softmaxCrossEntropyGrad, .weightedSoftmaxCrossEntropy, .weightedSoftmaxCrossEntropyGrad:
                guard n.result == nodes[0].result else { return nil }
                let weighted = n.op == .weightedSoftmaxCrossEntropy || n.op == .weightedSoftmaxCrossEntropyGrad
                split.formUnion(x.prefix(weighted ? 3 : 2))
                whole.formUnion(x.dropFirst(weighted ? 3 : 2))
                if n.type!.isScalar { sum = n.result } else { split.insert(n.result) }
            case .matmul:
                guard !n.attrs.bool("transpose_a") else { return nil }
                split.formUnion([x[0], n.result])
                whole.insert(x[1])
            case .biasAdd:
                split.formUnion([x[0], n.result])
                whole.insert(x[1])
            case .slice, .concat:
                guard n.attrs.int("axis") >= 1 else { return nil }
                split.formUnion(x + [n.result])
            case .reshape:
                split.formUnion([x[0], n.result])
            // Not row by row over static rows, or not worth splitting.
            case .param, .state, .const, .conv2d, .conv2dGradInput, .conv2dGradFilter,
                 .batchNorm, .batchNormGrad, .batchNormGradGamma, .batchMean, .batchVar,
                 .maxPool, .avgPool, .globalAvgPool, .maxPoolGrad, .avgPoolGrad, .globalAvgPoolGrad, .dropout, .dropPath,
                 .zeroPad, .flatten, .crop, .reduceSum, .channelSum, .embedding, .embeddingGrad, .softmaxGrad:
                return nil
            }
        }
        // Constants are literals, not buffers; a split value must have the
        // rows and be split everywhere; a value every range would write must
        // be a sum.
        split.subtract(constants.keys)
        guard split.allSatisfy(rowsOf), split.isDisjoint(with: whole),
              !results.contains(where: { !split.contains($0) && $0 != sum && arguments.contains($0) }),
              let largest = split.map({ types[$0]!.elementsPerExample ?? 0 }).max(), largest >= minimumElements else { return nil }
        var bytes: [Int] = []
        for a in arguments { bytes.append(split.contains(a) ? 4 * (types[a]!.elementsPerExample ?? 0) / rows : 0) }
        var lowered: [String: TensorType] = [:]
        for v in split { let t = types[v]!; lowered[v] = TensorType(t.dtype, [.batch] + t.dims.dropFirst()) }
        let sumResult = sum.flatMap { arguments.firstIndex(of: $0) }
        if sum != nil && sumResult == nil { return nil }
        return (RowSplit(rows: rows, bytesPerRow: bytes, sumResult: sumResult), lowered)
    }

    /// A lone product of fewer rows than columns splits its columns instead:
    /// each range computes every row of its columns, from all of A and its
    /// columns of B. OpenBLAS packs the whole of B on every call, so ranges
    /// of rows each packed all of the weight. A language model's recurrent
    /// 20x200x800 product on one thread (C probe): half the rows 80 us,
    /// half the columns 48 us; 20x800x200 (its gradient): 106 and 63 us.
    /// `rows` and `bytesPerRow` then count columns; the product's leading
    /// dimensions stay those of the whole (AnchorLowering).
    static func columns(nodes: [Node], arguments: [String], types: [String: TensorType]) -> (split: RowSplit, types: [String: TensorType])? {
        guard nodes.count == 1, let n = nodes.first, n.op == .matmul, n.operands[0] != n.operands[1], let out = types[n.result],
              out.rank == 2, let rows = out.dims[0].staticValue, let columns = out.dims[1].staticValue, rows > 1, rows < columns,
              arguments.allSatisfy({ !types[$0]!.hasBatch }) else { return nil }
        let (b, transposed) = (n.operands[1], n.attrs.bool("transpose_b"))
        let bType = types[b]!
        guard let inner = bType.dims[transposed ? 1 : 0].staticValue,
              max(rows, inner) * columns >= minimumElements else { return nil }
        let bytes = arguments.map { $0 == n.result ? 4 : $0 == b ? (transposed ? 4 * inner : 4) : 0 }
        let lowered = [n.result: TensorType(out.dtype, [out.dims[0], .batch]),
                       b: TensorType(bType.dtype, transposed ? [.batch, bType.dims[1]] : [bType.dims[0], .batch])]
        return (RowSplit(rows: columns, bytesPerRow: bytes, sumResult: nil), lowered)
    }
}
