/// The elementwise ops, each defined once: its operands and attributes, its
/// shape rule, its meaning as a scalar formula, and its gradient. Every
/// stage reads this table, so adding an activation is one entry here (plus
/// its case in `Op` and in `ElementwiseOp`, its ONNX and PyTorch operator,
/// a spec and a test): the verifier types it, the interpreter and constant
/// folding evaluate it, fusion puts it in epilogues, kernels run it as
/// batch chunks, autodiff differentiates it, and the LLVM and C backends
/// print its formula.
public struct ElementwiseDefinition: Sendable {
    public let operands: [String]
    public let attributes: [AttrSpec]
    public let formula: ScalarFormula
    public let shape: ShapeRule
    public let gradient: Gradient
    public let commutative: Bool

    public enum ShapeRule: Sendable, Equatable {
        /// One f32 operand; the result has its type.
        case unary
        /// Two f32 operands of one shape, or one of them a scalar f32[]
        /// broadcast to the other (fusion's broadcast pattern).
        case broadcast
        /// Operands of one f32 type (gradient ops); the result has it.
        case sameType
    }

    /// How autodiff differentiates the op.
    public enum Gradient: Sendable {
        /// Not differentiated: gradient ops are only emitted by autodiff.
        case none
        /// The result's gradient is the operand's.
        case passThrough
        /// One gradient op on these values, with the node's attributes that
        /// the gradient op declares (leaky_relu's slope).
        case op(Op, [GradientValue])
        /// A rule in NascPasses' GradientRules, by name: arithmetic whose
        /// operands may be broadcast, and sqrt.
        case rule(ArithmeticRule)
    }

    public enum GradientValue: Sendable { case dy, result, operand(Int) }

    /// The gradients GradientRules writes out as IR (one rule per name).
    public enum ArithmeticRule: Sendable { case sqrt, add, sub, mul, div }

    init(_ operands: [String], _ shape: ShapeRule, _ formula: ScalarFormula, attributes: [AttrSpec] = [],
         gradient: Gradient, commutative: Bool = false) {
        self.operands = operands
        self.attributes = attributes
        self.shape = shape
        self.formula = formula
        self.gradient = gradient
        self.commutative = commutative
    }

    public var signature: OpSignature { OpSignature(.fixed(operands), attributes, commutative: commutative) }

    func inferType(_ op: Op, _ x: [TensorType]) throws(InferError) -> TensorType {
        for i in x.indices { try ShapeInference.requireF32(x, i) }
        switch shape {
        case .unary:
            return x[0]
        case .broadcast:
            if x[0].dims == x[1].dims || x[1].isScalar { return x[0] }
            if x[0].isScalar { return x[1] }
            throw InferError(message: "'\(op.name)' operands must have the same shape (or one be a scalar f32[]): got \(x[0]) and \(x[1])", operand: 1)
        case .sameType:
            try ShapeInference.requireSame(x, op)
            return x[0]
        }
    }
}

extension ElementwiseDefinition.Gradient {
    /// False for gradient ops, which autodiff emits but never differentiates.
    public var isDifferentiated: Bool {
        if case .none = self { return false }
        return true
    }
}

extension Op {
    /// The op's entry in the elementwise table, or nil for other ops.
    public var elementwise: ElementwiseDefinition? { ElementwiseOps.all[self]?.definition }
    /// The op as an elementwise op (for exhaustive switches), or nil.
    public var elementwiseOp: ElementwiseOp? { ElementwiseOps.all[self]?.op }
}

/// Every elementwise op, for the table's exhaustive switch: the same cases
/// as in `Op` (a test checks that this and `AnchorOp` partition it).
public enum ElementwiseOp: CaseIterable, Sendable {
    case identity, relu, tanh, sigmoid, neg, sqrt, leakyRelu, silu
    case add, sub, mul, div
    case reluGrad, tanhGrad, sigmoidGrad, leakyReluGrad, siluGrad
}

enum ElementwiseOps {
    /// The table, built once (stages ask for entries per node).
    static let all: [Op: (op: ElementwiseOp, definition: ElementwiseDefinition)] = {
        let byName = Dictionary(uniqueKeysWithValues: Op.allCases.map { ("\($0)", $0) })
        return Dictionary(uniqueKeysWithValues: ElementwiseOp.allCases.map { e in
            guard let op = byName["\(e)"] else { preconditionFailure("ElementwiseOp.\(e) has no case of that name in Op") }
            return (op, (e, definition(e)))
        })
    }()

    static let x: ScalarFormula = .operand(0), y: ScalarFormula = .operand(1)
    static let sigmoidOfX: ScalarFormula = 1 / (1 + .exp(-x))

    static func definition(_ op: ElementwiseOp) -> ElementwiseDefinition {
        switch op {
        case .identity: return .init(["x"], .unary, x, gradient: .passThrough)
        // relu(x) > 0 exactly where x > 0: masking the gradient by the result
        // lets the pre-activation die in its kernel instead of living until backward.
        case .relu: return .init(["x"], .unary, .ifPositive(x, then: x, otherwise: 0), gradient: .op(.reluGrad, [.dy, .result]))
        case .tanh: return .init(["x"], .unary, .tanh(x), gradient: .op(.tanhGrad, [.dy, .result]))
        case .sigmoid: return .init(["x"], .unary, sigmoidOfX, gradient: .op(.sigmoidGrad, [.dy, .result]))
        case .neg: return .init(["x"], .unary, -x, gradient: .op(.neg, [.dy]))
        case .sqrt: return .init(["x"], .unary, .sqrt(x), gradient: .rule(.sqrt))
        case .add: return .init(["lhs", "rhs"], .broadcast, x + y, gradient: .rule(.add), commutative: true)
        case .sub: return .init(["lhs", "rhs"], .broadcast, x - y, gradient: .rule(.sub))
        case .mul: return .init(["lhs", "rhs"], .broadcast, x * y, gradient: .rule(.mul), commutative: true)
        case .div: return .init(["lhs", "rhs"], .broadcast, x / y, gradient: .rule(.div))
        case .reluGrad: return .init(["dy", "x"], .sameType, .ifPositive(y, then: x, otherwise: 0), gradient: .none)
        case .tanhGrad: return .init(["dy", "y"], .sameType, x * (1 - y * y), gradient: .none)
        case .sigmoidGrad: return .init(["dy", "y"], .sameType, (x * y) * (1 - y), gradient: .none)
        case .leakyRelu:
            return .init(["x"], .unary, .ifPositive(x, then: x, otherwise: .attribute("slope") * x), attributes: [slope],
                         gradient: .op(.leakyReluGrad, [.dy, .operand(0)]))
        case .leakyReluGrad:
            return .init(["dy", "x"], .sameType, .ifPositive(y, then: x, otherwise: .attribute("slope") * x), attributes: [slope],
                         gradient: .none)
        // silu(x) = x sigmoid(x) (swish); silu'(x) = s (1 + x (1 - s)) with s = sigmoid(x).
        case .silu: return .init(["x"], .unary, x * sigmoidOfX, gradient: .op(.siluGrad, [.dy, .operand(0)]))
        case .siluGrad:
            let s: ScalarFormula = 1 / (1 + .exp(-y))
            return .init(["dy", "x"], .sameType, x * (s * (1 + y * (1 - s))), gradient: .none)
        }
    }

    static let slope = AttrSpec.defaulted("slope", .float, .float(0.01))
}
