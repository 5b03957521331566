/// Matrix products and the per-channel bias of a layer.
enum LinearOps {
    static let matmul = OpDefinition(OpSignature(.fixed(["a", "b"]), [.defaulted("transpose_a", .bool, .bool(false)), .defaulted("transpose_b", .bool, .bool(false))]),
                                     .outElementwiseFusable, .perExample, shape: { x, attrs, _ throws(InferError) in
        try ShapeInference.requireF32(x, 0)
        try ShapeInference.requireF32(x, 1)
        try ShapeInference.requireRank(x, 0, 2, "a matrix")
        try ShapeInference.requireRank(x, 1, 2, "a matrix")
        let a = attrs.bool("transpose_a") ? x[0].dims.reversed() : x[0].dims
        let b = attrs.bool("transpose_b") ? x[1].dims.reversed() : x[1].dims
        guard a[1] == b[0] else {
            throw InferError(message: "matmul inner dimensions differ: \(a[1]) (from \(x[0])) vs \(b[0]) (from \(x[1]))", operand: 1)
        }
        return TensorType(.f32, [a[0], b[1]])
    }, flops: { c in
        2 * c.out * (c.attrs.bool("transpose_a") ? c.operands[0][0] : c.operands[0][1])
    }, sumsOverBatch: { attrs in
        // a^T b over a batch: [N,K]^T [N,M] (a weight's gradient).
        attrs.bool("transpose_a") && !attrs.bool("transpose_b")
    })

    static let biasAdd = OpDefinition(OpSignature(.fixed(["x", "bias"])), .broadcast, .perExample, shape: { x, _, _ throws(InferError) in
        try ShapeInference.requireF32(x, 0)
        try ShapeInference.requireF32(x, 1)
        guard x[0].rank >= 2 else { throw InferError(message: "bias_add input needs a channel axis (rank >= 2), got \(x[0])", operand: 0) }
        guard x[1] == TensorType(.f32, [x[0].dims[1]]) else {
            throw InferError(message: "bias must be f32[\(x[0].dims[1])] to match axis 1 of \(x[0]), got \(x[1])", operand: 1)
        }
        return x[0]
    })
}
