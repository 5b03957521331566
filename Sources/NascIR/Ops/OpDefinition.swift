/// Every op's entry in the op table. Elementwise ops have theirs in
/// ElementwiseOps.swift; every other op (an *anchor*: sources, layers,
/// layout, reductions, losses and the gradient ops) has one in the family
/// file next to this one (Convolution.swift, Pooling.swift, ...), reached
/// through the one exhaustive switch in `AnchorOps.definition`.
///
/// An entry says everything about the op that does not depend on a
/// backend: operands and attributes, shape rule, FLOP count, fusion
/// pattern, how it treats the examples of a batch, which operand is an
/// index. Its meaning (the interpreter), gradient (NascPasses'
/// GradientRules) and lowerings (LLVM, C, ONNX, PyTorch) switch over
/// `AnchorOp` without `default:`, so adding a case to it makes the
/// compiler name every stage that lacks the op.
public struct OpDefinition: Sendable {
    public typealias ShapeRule = @Sendable (_ operands: [TensorType], _ attrs: Attributes, _ declared: TensorType?) throws(InferError) -> TensorType
    public typealias FlopRule = @Sendable (FlopCount) -> Int

    public let signature: OpSignature
    let pattern: @Sendable (Attributes) -> PatternKind
    public let batch: BatchBehaviour
    let shape: ShapeRule
    let flops: FlopRule
    /// Whether the op adds one contribution per example into a result
    /// without N (see PatternKind.sumsOverBatch), given its attributes.
    let sumsOverBatch: @Sendable (Attributes) -> Bool
    /// The i32 operand that indexes something, and the exclusive bound it
    /// must respect given the node and the graph's types (labels below the
    /// number of logits, ids below the vocabulary).
    let index: (@Sendable (Node, [String: TensorType]) -> (operand: Int, limit: Int?))?

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

    init(_ signature: OpSignature, _ pattern: PatternKind, _ batch: BatchBehaviour = .wholeBatch,
         shape: @escaping ShapeRule, flops: @escaping FlopRule = FlopCount.perOutput,
         sumsOverBatch: @escaping @Sendable (Attributes) -> Bool = { _ in false },
         index: (@Sendable (Node, [String: TensorType]) -> (operand: Int, limit: Int?))? = nil) {
        self.init(signature, pattern: { _ in pattern }, batch, shape: shape, flops: flops, sumsOverBatch: sumsOverBatch, index: index)
    }

    init(_ signature: OpSignature, pattern: @escaping @Sendable (Attributes) -> PatternKind, _ batch: BatchBehaviour,
         shape: @escaping ShapeRule, flops: @escaping FlopRule = FlopCount.perOutput,
         sumsOverBatch: @escaping @Sendable (Attributes) -> Bool = { _ in false },
         index: (@Sendable (Node, [String: TensorType]) -> (operand: Int, limit: Int?))? = nil) {
        self.signature = signature
        self.pattern = pattern
        self.batch = batch
        self.shape = shape
        self.flops = flops
        self.sumsOverBatch = sumsOverBatch
        self.index = index
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

    /// Floating-point operations of one node (a multiply-add counts 2).
    public func flops(of node: Node, _ types: [String: TensorType], batch: Int) -> Int {
        guard let t = node.type else { return 0 }
        return flops(FlopCount(out: t.bound(batch: batch).reduce(1, *),
                               operands: node.operands.map { types[$0]!.bound(batch: batch) }, attrs: node.attrs))
    }
}

/// What a FLOP rule sees: the result's element count and the operands'
/// shapes with N bound.
public struct FlopCount: Sendable {
    public let out: Int
    public let operands: [[Int]]
    public let attrs: Attributes

    public func elements(_ operand: Int) -> Int { operands[operand].reduce(1, *) }

    /// One operation per result element (elementwise ops, layout, losses).
    public static let perOutput: OpDefinition.FlopRule = { $0.out }
    /// One per element of the first operand (reductions, statistics).
    public static let perInput: OpDefinition.FlopRule = { $0.elements(0) }
    /// Nothing computed (sources).
    public static let none: OpDefinition.FlopRule = { _ in 0 }
}

/// What kind of op an `Op` is, for stages that treat the two halves of the
/// table differently: elementwise ops by their formula, anchors one by one.
public enum OpKind: Sendable {
    case elementwise(ElementwiseDefinition)
    case anchor(AnchorOp)
}

/// Every op that is not elementwise, for exhaustive switches: the same
/// cases as in `Op` (a test checks that the two tables partition it).
public enum AnchorOp: CaseIterable, Sendable {
    case param, state, const
    case conv2d, conv2dGradInput, conv2dGradFilter
    case matmul, biasAdd
    case batchNorm, batchNormGrad, batchNormGradGamma, batchMean, batchVar
    case maxPool, avgPool, globalAvgPool, maxPoolGrad, avgPoolGrad, globalAvgPoolGrad
    case dropout, dropPath
    case concat, zeroPad, flatten, reshape, slice, crop
    case reduceSum, channelSum
    case embedding, embeddingGrad
    case softmax, softmaxGrad
    case softmaxCrossEntropy, softmaxCrossEntropyGrad, weightedSoftmaxCrossEntropy, weightedSoftmaxCrossEntropyGrad

    /// The same op as an `Op`.
    public var op: Op { AnchorOps.ops[self]! }
    public var name: String { op.name }
}

extension Op {
    /// The op's entry: from the elementwise table or the anchor table.
    public var definition: OpDefinition { AnchorOps.all[self]! }

    public var kind: OpKind {
        if let e = elementwise { return .elementwise(e) }
        return .anchor(anchor!)
    }

    /// The op as an anchor, or nil for elementwise ops.
    public var anchor: AnchorOp? { AnchorOps.anchors[self] }
}

enum AnchorOps {
    /// Case names match between `Op` and `AnchorOp`.
    static let anchors: [Op: AnchorOp] = {
        let byName = Dictionary(uniqueKeysWithValues: Op.allCases.map { ("\($0)", $0) })
        return Dictionary(uniqueKeysWithValues: AnchorOp.allCases.map { a in
            guard let op = byName["\(a)"] else { preconditionFailure("AnchorOp.\(a) has no case of that name in Op") }
            return (op, a)
        })
    }()
    static let ops: [AnchorOp: Op] = Dictionary(uniqueKeysWithValues: anchors.map { ($1, $0) })

    /// Every op's definition, built once (stages ask for them per node).
    static let all: [Op: OpDefinition] = Dictionary(uniqueKeysWithValues: Op.allCases.map { op in
        if let e = op.elementwise {
            return (op, OpDefinition(e.signature, e.shape == .broadcast ? .broadcast : .elementwise, .perExample,
                                     shape: { x, _, _ throws(InferError) in try e.inferType(op, x) }))
        }
        guard let a = anchors[op] else { preconditionFailure("'\(op.name)' is in neither ElementwiseOps nor AnchorOp") }
        return (op, definition(a))
    })

    /// The anchor table: one line per op, its entry in the op's family file.
    static func definition(_ op: AnchorOp) -> OpDefinition {
        switch op {
        case .param, .state: return SourceOps.parameter(op.op)
        case .const: return SourceOps.constant

        case .conv2d: return ConvolutionOps.conv2d
        case .conv2dGradInput: return ConvolutionOps.conv2dGradInput
        case .conv2dGradFilter: return ConvolutionOps.conv2dGradFilter
        case .matmul: return LinearOps.matmul
        case .biasAdd: return LinearOps.biasAdd

        case .batchNorm: return NormalizationOps.batchNorm
        case .batchNormGrad: return NormalizationOps.batchNormGrad
        case .batchNormGradGamma: return NormalizationOps.batchNormGradGamma
        case .dropout: return NormalizationOps.dropout
        case .dropPath: return NormalizationOps.dropPath

        case .maxPool, .avgPool: return PoolingOps.pool
        case .globalAvgPool: return PoolingOps.globalAvgPool
        case .maxPoolGrad: return PoolingOps.maxPoolGrad
        case .avgPoolGrad: return PoolingOps.avgPoolGrad
        case .globalAvgPoolGrad: return PoolingOps.globalAvgPoolGrad

        case .concat: return LayoutOps.concat
        case .zeroPad: return LayoutOps.zeroPad
        case .crop: return LayoutOps.crop
        case .flatten: return LayoutOps.flatten
        case .reshape: return LayoutOps.reshape
        case .slice: return LayoutOps.slice

        case .reduceSum: return ReductionOps.reduceSum
        case .channelSum: return ReductionOps.channelSum
        case .batchMean, .batchVar: return ReductionOps.statistic(op.op)

        case .embedding: return LossOps.embedding
        case .embeddingGrad: return LossOps.embeddingGrad
        case .softmax: return LossOps.softmax
        case .softmaxGrad: return LossOps.softmaxGrad
        case .softmaxCrossEntropy: return LossOps.crossEntropy(weighted: false)
        case .weightedSoftmaxCrossEntropy: return LossOps.crossEntropy(weighted: true)
        case .softmaxCrossEntropyGrad: return LossOps.crossEntropyGrad(weighted: false)
        case .weightedSoftmaxCrossEntropyGrad: return LossOps.crossEntropyGrad(weighted: true)
        }
    }

    // Attribute groups several families share.
    static let unary = OpSignature(.fixed(["x"]))
    static let inputSize = AttrSpec.required("input_size", .ints(count: 2, min: 1))
    static let pads = AttrSpec.required("pads", .ints(count: 4, min: 0))
    static let normalization: [AttrSpec] = [
        .defaulted("mode", .symbol(["train", "infer"]), .symbol("train")),
        .defaulted("eps", .float, .float(1e-5)),
    ]
}

extension AnchorOp {
    /// The case of a backend's family enum with this op's name (the LLVM
    /// backend's kinds of batch statistics), or nil: how a family's helper
    /// switches exhaustively over its own ops.
    public func member<Family: CaseIterable>(of family: Family.Type) -> Family? {
        Family.allCases.first { "\($0)" == "\(self)" }
    }
}
