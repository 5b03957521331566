/// Lookups, softmax and the cross-entropy losses, with their gradients.
enum LossOps {
    /// Label smoothing ε of a cross-entropy: the target is 1 - ε on the
    /// label and ε / classes on every class (absent: 0, a one-hot target).
    static let smoothing = AttrSpec.optional("smoothing", .float)

    /// Labels index the logits' classes.
    static let labels: @Sendable (Node, [String: TensorType]) -> (operand: Int, limit: Int?) = { n, types in
        (1, types[n.operands[0]]?.dims[1].staticValue)
    }

    static let embedding = OpDefinition(OpSignature(.fixed(["table", "ids"])), .injective, .perExample, shape: { x, _, _ throws(InferError) in
        try ShapeInference.requireF32(x, 0)
        try ShapeInference.requireRank(x, 0, 2, "a table f32[V,D]")
        guard !x[0].hasBatch else { throw InferError(message: "embedding table must have a static shape", operand: 0) }
        guard x[1].dtype == .i32 else { throw InferError(message: "embedding ids must be i32, got \(x[1])", operand: 1) }
        return TensorType(.f32, x[1].dims + [x[0].dims[1]])
    }, index: { n, types in (1, types[n.operands[0]]?.dims[0].staticValue) })

    static let embeddingGrad = OpDefinition(OpSignature(.fixed(["dy", "ids"]), [.required("vocab", .int(min: 1))]), .opaque,
                                            shape: { x, attrs, _ throws(InferError) in
        try ShapeInference.requireF32(x, 0)
        guard x[1].dtype == .i32 else { throw InferError(message: "ids must be i32, got \(x[1])", operand: 1) }
        guard x[0].rank == x[1].rank + 1, Array(x[0].dims.dropLast()) == x[1].dims else {
            throw InferError(message: "dy \(x[0]) does not match ids \(x[1]) plus an embedding axis", operand: 0)
        }
        guard case .fixed = x[0].dims.last! else { throw InferError(message: "the embedding axis must be static", operand: 0) }
        return TensorType(.f32, [.fixed(attrs.int("vocab")), x[0].dims.last!])
    }, index: { n, _ in (1, n.attrs.int("vocab")) })

    static let softmax = OpDefinition(AnchorOps.unary, .reduction, .perExample, shape: { x, _, _ throws(InferError) in
        try ShapeInference.requireF32(x, 0)
        try ShapeInference.requireRank(x, 0, 2, "f32[N,K]")
        return x[0]
    })

    static let softmaxGrad = OpDefinition(OpSignature(.fixed(["dy", "y"])), .reduction, .perExample, shape: { x, _, _ throws(InferError) in
        try ShapeInference.requireF32(x, 0)
        try ShapeInference.requireRank(x, 0, 2, "f32[N,K]")
        try ShapeInference.requireSame(x, .softmaxGrad)
        return x[0]
    })

    /// The mean cross-entropy of softmax(logits) against integer labels; the
    /// weighted one weighs each row (REINFORCE's loss: each sampled
    /// decision's log-probability times its child's advantage).
    static func crossEntropy(weighted: Bool) -> OpDefinition {
        .init(weighted ? OpSignature(.fixed(["logits", "labels", "weights"])) : OpSignature(.fixed(["logits", "labels"]), [smoothing]),
              .reduction, shape: { x, attrs, _ throws(InferError) in
            if weighted { try checkWeights(x, 2) }
            try ShapeInference.checkSmoothing(attrs)
            try ShapeInference.requireF32(x, 0)
            try ShapeInference.requireRank(x, 0, 2, "logits f32[N,K]")
            guard x[1].dtype == .i32, x[1].rank == 1 else {
                throw InferError(message: "labels must be i32[\(x[0].dims[0])], got \(x[1])", operand: 1)
            }
            guard x[1].dims[0] == x[0].dims[0] else {
                throw InferError(message: "labels i32[\(x[1].dims[0])] do not match the batch of logits \(x[0])", operand: 1)
            }
            return TensorType(.f32, [])
        }, index: labels)
    }

    /// d loss / d logits, given d loss (`dloss`, the last operand).
    static func crossEntropyGrad(weighted: Bool) -> OpDefinition {
        .init(weighted ? OpSignature(.fixed(["logits", "labels", "weights", "dloss"])) : OpSignature(.fixed(["logits", "labels", "dloss"]), [smoothing]),
              .reduction, shape: { x, attrs, _ throws(InferError) in
            if weighted { try checkWeights(x, 2) }
            try ShapeInference.checkSmoothing(attrs)
            try ShapeInference.requireF32(x, 0)
            try ShapeInference.requireRank(x, 0, 2, "logits f32[N,K]")
            guard x[1].dtype == .i32, x[1].dims == [x[0].dims[0]] else {
                throw InferError(message: "labels must be i32[\(x[0].dims[0])], got \(x[1])", operand: 1)
            }
            let dloss = x.count - 1
            guard x[dloss] == TensorType(.f32, []) else { throw InferError(message: "dloss must be f32[], got \(x[dloss])", operand: dloss) }
            return x[0]
        }, index: labels)
    }

    private static func checkWeights(_ x: [TensorType], _ i: Int) throws(InferError) {
        guard x[i] == TensorType(.f32, [x[0].dims.first ?? .fixed(1)]) else {
            throw InferError(message: "weights must be f32[\(x[0].dims.first.map(\.description) ?? "N")], one per row of the logits, got \(x[i])", operand: i)
        }
    }
}
