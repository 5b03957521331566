/// The ops that are not elementwise (ElementwiseOps.swift) in one table:
/// each entry gives the op's operands and attributes, its fusion pattern
/// and whether kernels may run it as batch chunks. Its shape rule
/// (ShapeInference), meaning (the interpreter's op-family files), gradient
/// (GradientRules) and lowering (the backends' anchor files) are reached
/// from its case there; guards over `Op.allCases` in the tests name any op
/// a stage lacks.
public struct OpDefinition: Sendable {
    public let signature: OpSignature
    let pattern: @Sendable (Attributes) -> PatternKind
    public let batch: BatchBehaviour

    /// How an op treats the examples of a batch, for running kernels as
    /// batch chunks on several threads.
    public enum BatchBehaviour: Sendable {
        /// Each example's result from that example alone.
        case perExample
        /// Per example unless along N (`axis` 0): concat, slice.
        case perExampleUnlessAlongN
        /// Per example in inference mode only (batch norm).
        case perExampleWhenInferring
        /// The op needs the whole batch: batch statistics, a loss or its
        /// gradient (they divide by the batch size), sums over the batch.
        case wholeBatch
    }

    init(_ signature: OpSignature, _ pattern: PatternKind, _ batch: BatchBehaviour = .wholeBatch) {
        self.signature = signature
        self.pattern = { _ in pattern }
        self.batch = batch
    }

    init(_ signature: OpSignature, pattern: @escaping @Sendable (Attributes) -> PatternKind, _ batch: BatchBehaviour) {
        self.signature = signature
        self.pattern = pattern
        self.batch = batch
    }

    /// Whether a node of this op keeps examples apart, given its attributes.
    public func keepsExamplesApart(_ attrs: Attributes) -> Bool {
        switch batch {
        case .perExample: return true
        case .perExampleUnlessAlongN: return attrs.int("axis") != 0
        case .perExampleWhenInferring: return attrs.symbol("mode") == "infer"
        case .wholeBatch: return false
        }
    }
}

extension Op {
    /// The op's one definition: from the elementwise table or the anchor table.
    public var definition: OpDefinition { AnchorOps.all[self]! }
}

enum AnchorOps {
    /// Every op's definition, built once (stages ask for them per node).
    static let all: [Op: OpDefinition] = Dictionary(uniqueKeysWithValues: Op.allCases.map { op in
        if let e = op.elementwise {
            return (op, OpDefinition(e.signature, e.shape == .broadcast ? .broadcast : .elementwise, .perExample))
        }
        return (op, definition(op))
    })

    static let unary = OpSignature(.fixed(["x"]))
    static let window: [AttrSpec] = [
        .required("window", .ints(count: 2, min: 1)),
        .defaulted("stride", .ints(count: 2, min: 1), .ints([1, 1])),
        .defaulted("pad", .symbol(["valid", "same"]), .symbol("valid")),
    ]
    static let convWindow: [AttrSpec] = [
        .defaulted("stride", .ints(count: 2, min: 1), .ints([1, 1])),
        .defaulted("pad", .symbol(["same", "valid"]), .symbol("same")),
    ]
    static let normalization: [AttrSpec] = [
        .defaulted("mode", .symbol(["train", "infer"]), .symbol("train")),
        .defaulted("eps", .float, .float(1e-5)),
    ]
    static let inputSize = AttrSpec.required("input_size", .ints(count: 2, min: 1))
    static let pads = AttrSpec.required("pads", .ints(count: 4, min: 0))
    /// Label smoothing ε of a cross-entropy: the target is 1 - ε on the
    /// label and ε / classes on every class (absent: 0, a one-hot target).
    static let smoothing = AttrSpec.optional("smoothing", .float)
    static let initialization: [AttrSpec] = [
        .required("init", .symbol(OpSignature.initializers)),
        .optional("scale", .float),
        .optional("value", .float),
    ]

    static func definition(_ op: Op) -> OpDefinition {
        switch op {
        // Sources: no computation, no kernel.
        case .param, .state: return .init(OpSignature(.fixed([]), initialization), .source)
        case .const: return .init(OpSignature(.fixed([]), [.required("value", .float)]), .source)

        // Layers.
        case .conv2d: return .init(OpSignature(.fixed(["x", "w"]), convWindow), .outElementwiseFusable, .perExample)
        case .batchNorm:
            // In inference mode batch norm is a per-channel scale and shift.
            return .init(OpSignature(.fixed(["x", "gamma", "beta", "mean", "var"]), normalization + [.defaulted("momentum", .float, .float(0.1))]),
                         pattern: { $0.symbol("mode") == "infer" ? .broadcast : .reduction }, .perExampleWhenInferring)
        case .biasAdd: return .init(OpSignature(.fixed(["x", "bias"])), .broadcast, .perExample)
        case .matmul:
            return .init(OpSignature(.fixed(["a", "b"]), [.defaulted("transpose_a", .bool, .bool(false)), .defaulted("transpose_b", .bool, .bool(false))]),
                         .outElementwiseFusable, .perExample)
        case .maxPool, .avgPool: return .init(OpSignature(.fixed(["x"]), window), .reduction, .perExample)
        case .globalAvgPool: return .init(unary, .reduction, .perExample)
        // The mask hashes each element's index in the whole tensor: batch
        // chunks would restart it, so the op runs on the whole batch.
        case .dropout:
            return .init(OpSignature(.fixed(["x", "seed"]), [.required("rate", .float), .defaulted("stream", .int(min: 0), .int(0))]), .opaque)

        // Shape.
        case .concat: return .init(OpSignature(.variadic(min: 1), [.defaulted("axis", .int(min: 0), .int(1))]), .injective, .perExampleUnlessAlongN)
        case .zeroPad: return .init(OpSignature(.fixed(["x"]), [pads]), .injective, .perExample)
        case .flatten: return .init(unary, .injective, .perExample)
        case .reshape: return .init(unary, .injective)
        case .slice:
            return .init(OpSignature(.fixed(["x"]), [.required("axis", .int(min: 1)), .required("start", .int(min: 0)), .required("size", .int(min: 1))]),
                         .injective, .perExampleUnlessAlongN)
        case .crop: return .init(OpSignature(.fixed(["x"]), [pads]), .injective, .perExample)

        // Lookup and losses.
        case .embedding: return .init(OpSignature(.fixed(["table", "ids"])), .injective, .perExample)
        case .softmax: return .init(unary, .reduction, .perExample)
        case .softmaxCrossEntropy: return .init(OpSignature(.fixed(["logits", "labels"]), [smoothing]), .reduction)
        case .weightedSoftmaxCrossEntropy: return .init(OpSignature(.fixed(["logits", "labels", "weights"])), .reduction)

        // Reductions and statistics.
        case .reduceSum, .channelSum, .batchMean: return .init(unary, .reduction)
        // Unbiased (n - 1) variance is what running averages track, as PyTorch does.
        case .batchVar: return .init(OpSignature(.fixed(["x"]), [.defaulted("unbiased", .bool, .bool(false))]), .reduction)

        // Gradient ops.
        case .softmaxGrad: return .init(OpSignature(.fixed(["dy", "y"])), .reduction, .perExample)
        case .conv2dGradInput: return .init(OpSignature(.fixed(["dy", "w"]), convWindow + [inputSize]), .outElementwiseFusable, .perExample)
        case .conv2dGradFilter:
            return .init(OpSignature(.fixed(["x", "dy"]), convWindow + [.required("kernel", .ints(count: 2, min: 1))]), .outElementwiseFusable)
        case .batchNormGrad: return .init(OpSignature(.fixed(["dy", "x", "gamma", "mean", "var"]), normalization), .reduction)
        case .batchNormGradGamma: return .init(OpSignature(.fixed(["dy", "x", "mean", "var"]), normalization), .reduction)
        case .maxPoolGrad: return .init(OpSignature(.fixed(["dy", "x"]), window), .opaque, .perExample)
        case .avgPoolGrad: return .init(OpSignature(.fixed(["dy"]), window + [inputSize]), .opaque, .perExample)
        case .globalAvgPoolGrad: return .init(OpSignature(.fixed(["dy"]), [inputSize]), .injective, .perExample)
        case .embeddingGrad: return .init(OpSignature(.fixed(["dy", "ids"]), [.required("vocab", .int(min: 1))]), .opaque)
        case .softmaxCrossEntropyGrad: return .init(OpSignature(.fixed(["logits", "labels", "dloss"]), [smoothing]), .reduction)
        case .weightedSoftmaxCrossEntropyGrad: return .init(OpSignature(.fixed(["logits", "labels", "weights", "dloss"])), .reduction)

        default:
            // Elementwise ops are defined in ElementwiseOps (Op.definition
            // looks there first); an op in neither table stops here by name.
            preconditionFailure("'\(op.name)' has no definition in ElementwiseOps or AnchorOps")
        }
    }
}
