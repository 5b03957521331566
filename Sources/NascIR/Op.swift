/// Every operation of the IR. Elementwise ops are defined by their entry in
/// ElementwiseOps.swift, which every stage reads; the other ops (anchors:
/// convolutions, pools, normalization, reductions, shape ops, losses) keep
/// one case per stage, and tests over `Op.allCases` name any stage that lacks one.
public enum Op: String, CaseIterable, Sendable {
    // Sources: values that come from nowhere but the op itself.
    case param          // trainable parameter
    case state          // non-trainable buffer (batch-norm running statistics)
    case const          // splat constant

    // Elementwise (defined in ElementwiseOps.swift).
    case identity, relu, tanh, sigmoid, neg, sqrt
    case leakyRelu = "leaky_relu", silu
    case add, sub, mul, div

    // Layers.
    case conv2d
    case batchNorm = "batch_norm"
    case biasAdd = "bias_add"
    case matmul
    case maxPool = "max_pool"
    case avgPool = "avg_pool"
    case globalAvgPool = "global_avg_pool"

    // Shape.
    case concat
    case zeroPad = "zero_pad"
    case flatten

    // Lookup and losses.
    case embedding
    case softmax
    case softmaxCrossEntropy = "softmax_cross_entropy"
    /// Cross-entropy weighted per example: REINFORCE's loss, each sampled
    /// decision's log-probability times its child's advantage.
    case weightedSoftmaxCrossEntropy = "weighted_softmax_cross_entropy"

    // Reductions and reshapes that gradients and optimizers need.
    case reduceSum = "reduce_sum"           // all elements -> f32[]
    case channelSum = "channel_sum"         // every axis but 1 -> f32[C]
    case batchMean = "batch_mean"           // per-channel batch statistics -> f32[C]
    case batchVar = "batch_var"
    case reshape                            // result type written, as for sources
    case slice                              // a range along one axis
    case crop                               // the inverse of zero_pad

    // Gradient ops: each computes one operand's gradient of the op it is named
    // after. Autodiff emits them; see GradientRules.swift in NascPasses.
    case reluGrad = "relu_grad"
    case tanhGrad = "tanh_grad"
    case sigmoidGrad = "sigmoid_grad"
    case leakyReluGrad = "leaky_relu_grad"
    case siluGrad = "silu_grad"
    case conv2dGradInput = "conv2d_grad_input"
    case conv2dGradFilter = "conv2d_grad_filter"
    case batchNormGrad = "batch_norm_grad"
    case batchNormGradGamma = "batch_norm_grad_gamma"
    case maxPoolGrad = "max_pool_grad"
    case avgPoolGrad = "avg_pool_grad"
    case globalAvgPoolGrad = "global_avg_pool_grad"
    case embeddingGrad = "embedding_grad"
    case softmaxGrad = "softmax_grad"
    case softmaxCrossEntropyGrad = "softmax_cross_entropy_grad"
    case weightedSoftmaxCrossEntropyGrad = "weighted_softmax_cross_entropy_grad"

    public var name: String { rawValue }

    public var signature: OpSignature { OpSignature.of(self) }
}

/// How many operands an op takes.
public enum Arity: Sendable {
    /// Exactly these operands, named for error messages.
    case fixed([String])
    /// At least `min` operands of the same role.
    case variadic(min: Int)
}

/// An op's static description: operands and attributes. Shape inference lives
/// in ShapeInference.swift; later stages keep their own tables.
public struct OpSignature: Sendable {
    public let arity: Arity
    public let attributes: [AttrSpec]
    /// Operand order does not matter (for the structural hash).
    public let commutative: Bool
    /// Ops without operands whose result type must be written in the text.
    public var isSource: Bool {
        if case .fixed(let names) = arity { return names.isEmpty }
        return false
    }

    init(_ arity: Arity, _ attributes: [AttrSpec] = [], commutative: Bool = false) {
        self.arity = arity
        self.attributes = attributes
        self.commutative = commutative
    }

    public func attribute(named name: String) -> AttrSpec? {
        attributes.first { $0.name == name }
    }

    /// Initializers a `param` or `state` may use; `uniform` and `normal` need `scale`
    /// (the bound, or the standard deviation), `constant` needs `value`.
    public static let initializers = [
        "zeros", "ones", "constant", "uniform", "normal",
        "he_normal", "he_uniform", "glorot_normal", "glorot_uniform",
    ]

    static func of(_ op: Op) -> OpSignature {
        if let e = op.elementwise { return e.signature }
        let unary = OpSignature(.fixed(["x"]))
        let window: [AttrSpec] = [
            .required("window", .ints(count: 2, min: 1)),
            .defaulted("stride", .ints(count: 2, min: 1), .ints([1, 1])),
            .defaulted("pad", .symbol(["valid", "same"]), .symbol("valid")),
        ]
        let initSpec: [AttrSpec] = [
            .required("init", .symbol(initializers)),
            .optional("scale", .float),
            .optional("value", .float),
        ]
        switch op {
        case .param, .state:
            return OpSignature(.fixed([]), initSpec)
        case .const:
            return OpSignature(.fixed([]), [.required("value", .float)])
        case .globalAvgPool, .flatten, .softmax, .reduceSum, .channelSum, .batchMean, .reshape:
            return unary
        case .conv2d:
            return OpSignature(.fixed(["x", "w"]), [
                .defaulted("stride", .ints(count: 2, min: 1), .ints([1, 1])),
                .defaulted("pad", .symbol(["same", "valid"]), .symbol("same")),
            ])
        case .batchNorm:
            return OpSignature(.fixed(["x", "gamma", "beta", "mean", "var"]), [
                .defaulted("mode", .symbol(["train", "infer"]), .symbol("train")),
                .defaulted("eps", .float, .float(1e-5)),
                .defaulted("momentum", .float, .float(0.1)),
            ])
        case .biasAdd:
            return OpSignature(.fixed(["x", "bias"]))
        case .matmul:
            return OpSignature(.fixed(["a", "b"]), [
                .defaulted("transpose_a", .bool, .bool(false)),
                .defaulted("transpose_b", .bool, .bool(false)),
            ])
        case .maxPool, .avgPool:
            return OpSignature(.fixed(["x"]), window)
        case .concat:
            return OpSignature(.variadic(min: 1), [.defaulted("axis", .int(min: 0), .int(1))])
        case .zeroPad:
            return OpSignature(.fixed(["x"]), [.required("pads", .ints(count: 4, min: 0))])
        case .embedding:
            return OpSignature(.fixed(["table", "ids"]))
        case .softmaxCrossEntropy:
            return OpSignature(.fixed(["logits", "labels"]))
        case .batchVar:
            // Unbiased (n - 1) variance is what running averages track, as PyTorch does.
            return OpSignature(.fixed(["x"]), [.defaulted("unbiased", .bool, .bool(false))])
        case .slice:
            return OpSignature(.fixed(["x"]), [
                .required("axis", .int(min: 1)), .required("start", .int(min: 0)), .required("size", .int(min: 1)),
            ])
        case .crop:
            return OpSignature(.fixed(["x"]), [.required("pads", .ints(count: 4, min: 0))])

        case .softmaxGrad:
            return OpSignature(.fixed(["dy", "y"]))
        case .conv2dGradInput:
            return OpSignature(.fixed(["dy", "w"]), [
                .defaulted("stride", .ints(count: 2, min: 1), .ints([1, 1])),
                .defaulted("pad", .symbol(["same", "valid"]), .symbol("same")),
                .required("input_size", .ints(count: 2, min: 1)),
            ])
        case .conv2dGradFilter:
            return OpSignature(.fixed(["x", "dy"]), [
                .defaulted("stride", .ints(count: 2, min: 1), .ints([1, 1])),
                .defaulted("pad", .symbol(["same", "valid"]), .symbol("same")),
                .required("kernel", .ints(count: 2, min: 1)),
            ])
        case .batchNormGrad:
            return OpSignature(.fixed(["dy", "x", "gamma", "mean", "var"]), [
                .defaulted("mode", .symbol(["train", "infer"]), .symbol("train")),
                .defaulted("eps", .float, .float(1e-5)),
            ])
        case .batchNormGradGamma:
            return OpSignature(.fixed(["dy", "x", "mean", "var"]), [
                .defaulted("mode", .symbol(["train", "infer"]), .symbol("train")),
                .defaulted("eps", .float, .float(1e-5)),
            ])
        case .maxPoolGrad:
            return OpSignature(.fixed(["dy", "x"]), window)
        case .avgPoolGrad:
            return OpSignature(.fixed(["dy"]), window + [.required("input_size", .ints(count: 2, min: 1))])
        case .globalAvgPoolGrad:
            return OpSignature(.fixed(["dy"]), [.required("input_size", .ints(count: 2, min: 1))])
        case .embeddingGrad:
            return OpSignature(.fixed(["dy", "ids"]), [.required("vocab", .int(min: 1))])
        case .softmaxCrossEntropyGrad:
            return OpSignature(.fixed(["logits", "labels", "dloss"]))
        case .weightedSoftmaxCrossEntropy:
            return OpSignature(.fixed(["logits", "labels", "weights"]))
        case .weightedSoftmaxCrossEntropyGrad:
            return OpSignature(.fixed(["logits", "labels", "weights", "dloss"]))
        default:
            preconditionFailure("'\(op.name)' has neither an elementwise definition nor a signature")
        }
    }
}
