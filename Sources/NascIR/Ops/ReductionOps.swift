/// Sums and batch statistics that gradients and optimizers need.
enum ReductionOps {
    /// All elements -> f32[].
    static let reduceSum = OpDefinition(AnchorOps.unary, .reduction, shape: { x, _, _ throws(InferError) in
        try ShapeInference.requireF32(x, 0)
        return TensorType(.f32, [])
    }, flops: FlopCount.perInput, sumsOverBatch: { _ in true })

    /// Every axis but 1 -> f32[C] (a bias's gradient).
    static let channelSum = perChannel(.channelSum, sumsOverBatch: true)

    /// batch_mean and batch_var: per-channel statistics of the batch. Unbiased
    /// (n - 1) variance is what running averages track, as PyTorch does.
    static func statistic(_ op: Op) -> OpDefinition { perChannel(op, sumsOverBatch: false) }

    private static func perChannel(_ op: Op, sumsOverBatch: Bool) -> OpDefinition {
        let attributes: [AttrSpec] = op == .batchVar ? [.defaulted("unbiased", .bool, .bool(false))] : []
        return .init(OpSignature(.fixed(["x"]), attributes), .reduction, shape: { x, _, _ throws(InferError) in
            try ShapeInference.requireF32(x, 0)
            guard x[0].rank >= 2 else { throw InferError(message: "'\(op.name)' needs a channel axis (rank >= 2), got \(x[0])", operand: 0) }
            guard case .fixed = x[0].dims[1] else { throw InferError(message: "the channel axis must be static", operand: 0) }
            return TensorType(.f32, [x[0].dims[1]])
        }, flops: FlopCount.perInput, sumsOverBatch: { _ in sumsOverBatch })
    }
}
