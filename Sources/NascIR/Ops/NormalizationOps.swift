/// Batch norm, its gradients, dropout and drop-path.
enum NormalizationOps {
    /// In inference mode batch norm is a per-channel scale and shift.
    static let batchNorm = OpDefinition(OpSignature(.fixed(["x", "gamma", "beta", "mean", "var"]),
                                                    AnchorOps.normalization + [.defaulted("momentum", .float, .float(0.1))]),
                                        pattern: { $0.symbol("mode") == "infer" ? .broadcast : .reduction }, .perExampleWhenInferring,
                                        shape: { x, attrs, _ throws(InferError) in
        try ShapeInference.requireF32(x, 0)
        guard x[0].rank == 2 || x[0].rank == 4 else {
            throw InferError(message: "batch_norm input must be f32[N,C] or f32[N,C,H,W], got \(x[0])", operand: 0)
        }
        let channels = x[0].dims[1]
        for i in 1...4 {
            guard x[i] == TensorType(.f32, [channels]) else {
                throw InferError(message: "batch_norm \(["", "gamma", "beta", "mean", "var"][i]) must be f32[\(channels)], got \(x[i])", operand: i)
            }
        }
        guard attrs.float("eps") > 0 else { throw InferError(message: "eps must be positive", attribute: "eps") }
        let m = attrs.float("momentum")
        guard m >= 0, m <= 1 else { throw InferError(message: "momentum must be in [0, 1]", attribute: "momentum") }
        return x[0]
    })

    static let batchNormGrad = gradient(.batchNormGrad, ["dy", "x", "gamma", "mean", "var"])
    static let batchNormGradGamma = gradient(.batchNormGradGamma, ["dy", "x", "mean", "var"])

    /// dx (the same type as x) or dgamma (per channel; it also serves as
    /// the sum that dx needs, which fusion merges into one kernel).
    private static func gradient(_ op: Op, _ operands: [String]) -> OpDefinition {
        .init(OpSignature(.fixed(operands), AnchorOps.normalization), .reduction, shape: { x, attrs, _ throws(InferError) in
            try ShapeInference.requireF32(x, 0)
            guard x[0].rank == 2 || x[0].rank == 4 else {
                throw InferError(message: "'\(op.name)' expects f32[N,C] or f32[N,C,H,W], got \(x[0])", operand: 0)
            }
            guard x[1] == x[0] else { throw InferError(message: "x must match dy (\(x[0])), got \(x[1])", operand: 1) }
            let vector = TensorType(.f32, [x[0].dims[1]])
            for i in 2..<x.count where x[i] != vector {
                throw InferError(message: "expected \(vector), got \(x[i])", operand: i)
            }
            guard attrs.float("eps") > 0 else { throw InferError(message: "eps must be positive", attribute: "eps") }
            return op == .batchNormGrad ? x[0] : vector
        }, flops: op == .batchNormGrad ? FlopCount.perOutput : FlopCount.perInput)
    }

    /// Zeroes each element with probability `rate` and scales the others by
    /// 1 / (1 - rate); the mask is a hash of the seed operand, the `stream`
    /// attribute and the element's index (DropoutMask), so every backend
    /// draws the same one. Its gradient is dropout of dy with the same mask.
    /// The mask hashes each element's index in the whole tensor: batch
    /// chunks would restart it, so the op runs on the whole batch.
    static let dropout = OpDefinition(OpSignature(.fixed(["x", "seed"]), [.required("rate", .float), .defaulted("stream", .int(min: 0), .int(0))]),
                                      .opaque, shape: { x, attrs, _ throws(InferError) in
        try ShapeInference.requireF32(x, 0)
        guard x[1] == TensorType(.i32, []) else { throw InferError(message: "the dropout seed must be i32[], got \(x[1])", operand: 1) }
        let rate = attrs.float("rate")
        guard rate >= 0, rate < 1 else { throw InferError(message: "rate must be at least 0 and below 1, got \(rate)", attribute: "rate") }
        return x[0]
    })

    /// Drop-path (Larsson et al. 2017, as NASNet and DARTS train cells):
    /// zeroes each example's whole tensor with probability `rate`, a
    /// runtime f32[] operand so that a schedule can raise it step by step
    /// without a new kernel, and scales the kept ones by 1 / (1 - rate)
    /// (a rate outside [0, 1) is clamped into it: DropoutMask.clamped).
    /// The mask is DropoutMask's hash of the seed, the `stream` attribute
    /// and the example's index, so every backend draws the same one. Its
    /// gradient is drop-path of dy with the same mask. Like dropout it runs
    /// on the whole batch (the index is the example's in the batch).
    static let dropPath = OpDefinition(OpSignature(.fixed(["x", "seed", "rate"]), [.defaulted("stream", .int(min: 0), .int(0))]),
                                       .opaque, shape: { x, _, _ throws(InferError) in
        try ShapeInference.requireF32(x, 0)
        guard x[0].rank >= 1 else { throw InferError(message: "drop_path needs a batch axis, got \(x[0])", operand: 0) }
        guard x[1] == TensorType(.i32, []) else { throw InferError(message: "the drop_path seed must be i32[], got \(x[1])", operand: 1) }
        guard x[2] == TensorType(.f32, []) else { throw InferError(message: "the drop_path rate must be f32[], got \(x[2])", operand: 2) }
        return x[0]
    }, flops: FlopCount.perOutput)
}
