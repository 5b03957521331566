/// Every operation of the IR, by its name in the text. Each op has one
/// entry in the op table (Ops/): elementwise ops in ElementwiseOps.swift,
/// which every stage reads; the others (anchors) in their family's file,
/// reached through `AnchorOp`, over which every stage switches without
/// `default:` so the compiler names a stage that lacks a new op.
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
    case dropout        // see NormalizationOps
    case dropPath = "drop_path"

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

    public var signature: OpSignature { definition.signature }
}

/// How many operands an op takes.
public enum Arity: Sendable {
    /// Exactly these operands, named for error messages.
    case fixed([String])
    /// At least `min` operands of the same role.
    case variadic(min: Int)
}

/// An op's operands and attributes, as its definition gives them
/// (Ops/).
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

    public init(_ arity: Arity, _ attributes: [AttrSpec] = [], commutative: Bool = false) {
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
}
