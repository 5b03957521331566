import NascIR

/// What a gradient rule sees: the forward node, which operand it
/// differentiates, and the gradient of the node's result (`dy`).
struct GradientSite {
    let node: Node
    let operand: Int
    let dy: String
    /// Base name for the nodes the rule adds, e.g. `w1.grad`.
    let name: String

    var x: [String] { node.operands }
    var y: String { node.result }
    var attrs: Attributes { node.attrs }
    func attr(_ key: String) -> AttrValue { node.attrs[key]! }
}

/// One rule per op: the gradient of an op's result with respect to one of its
/// operands, built from IR ops. A rule returns the value holding that
/// operand's contribution, or nil when the contribution is zero (batch
/// norm's running statistics in train mode). Ops without a rule are not
/// differentiable: their gradient ops, and reductions autodiff only emits.
enum GradientRules {
    typealias Rule = (inout GradientBuilder, GradientSite) throws(PassError) -> String?

    static func rule(for op: Op) -> Rule? {
        switch op.kind {
        case .elementwise(let e):
            switch e.gradient {
            case .none: return nil
            case .passThrough: return { _, s in s.dy }
            case .op(let gradient, let values): return { b, s throws(PassError) in
                let operands = values.map { v in
                    switch v {
                    case .dy: return s.dy
                    case .result: return s.y
                    case .operand(let k): return s.x[k]
                    }
                }
                var attrs: [String: AttrValue] = [:]
                for spec in gradient.signature.attributes { attrs[spec.name] = s.node.attrs[spec.name] }
                return try b.add(gradient, operands, attrs, name: s.name)
            }
            case .rule(let rule): return arithmetic(rule)
            }
        case .anchor(let a): return anchor(a)
        }
    }

    private static func arithmetic(_ rule: ElementwiseDefinition.ArithmeticRule) -> Rule {
        switch rule {
        case .sqrt:
            // d sqrt(x) = dy / (2 sqrt(x)) = (dy / y) * 0.5
            return { b, s throws(PassError) in
                let q = try b.add(.div, [s.dy, s.y], name: s.name)
                return try b.add(.mul, [q, try b.scalar(0.5)], name: s.name)
            }
        case .add: return { b, s throws(PassError) in try b.unbroadcast(s.dy, to: s.x[s.operand], name: s.name) }
        case .sub:
            return { b, s throws(PassError) in
                let d = s.operand == 0 ? s.dy : try b.add(.neg, [s.dy], name: s.name)
                return try b.unbroadcast(d, to: s.x[s.operand], name: s.name)
            }
        case .mul:
            return { b, s throws(PassError) in
                let d = try b.add(.mul, [s.dy, s.x[1 - s.operand]], name: s.name)
                return try b.unbroadcast(d, to: s.x[s.operand], name: s.name)
            }
        case .div:
            // d(a/b)/da = 1/b; d(a/b)/db = -(a/b)/b = -y/b.
            return { b, s throws(PassError) in
                if s.operand == 0 {
                    return try b.unbroadcast(try b.add(.div, [s.dy, s.x[1]], name: s.name), to: s.x[0], name: s.name)
                }
                let t = try b.add(.mul, [s.dy, s.y], name: s.name)
                let u = try b.add(.div, [t, s.x[1]], name: s.name)
                return try b.unbroadcast(try b.add(.neg, [u], name: s.name), to: s.x[1], name: s.name)
            }
        }
    }

    /// Ops without a rule return nil: sources, the gradient ops and the
    /// statistics only autodiff emits (autodiff names any op it meets
    /// without a rule on the path to the loss).
    private static func anchor(_ op: AnchorOp) -> Rule? {
        switch op {
        case .conv2d:
            return { b, s throws(PassError) in
                // The gradient ops take the convolution's window as it is
                // written (groups and dilation only where present).
                var window = ["stride": s.attr("stride"), "pad": s.attr("pad")]
                for optional in ["groups", "dilation"] { window[optional] = s.attrs[optional] }
                if s.operand == 0 {
                    let x = b.type(of: s.x[0]).dims
                    return try b.add(.conv2dGradInput, [s.dy, s.x[1]],
                                     window.merging(["input_size": .ints([x[2].staticValue!, x[3].staticValue!])]) { a, _ in a },
                                     name: s.name)
                }
                let w = b.type(of: s.x[1]).dims
                return try b.add(.conv2dGradFilter, [s.x[0], s.dy],
                                 window.merging(["kernel": .ints([w[2].staticValue!, w[3].staticValue!])]) { a, _ in a },
                                 name: s.name)
            }
        case .batchNorm:
            return { b, s throws(PassError) in
                let stats: [String: AttrValue] = ["mode": s.attr("mode"), "eps": s.attr("eps")]
                switch s.operand {
                case 0: return try b.add(.batchNormGrad, [s.dy, s.x[0], s.x[1], s.x[3], s.x[4]], stats, name: s.name)
                case 1: return try b.add(.batchNormGradGamma, [s.dy, s.x[0], s.x[3], s.x[4]], stats, name: s.name)
                case 2: return try b.add(.channelSum, [s.dy], name: s.name)
                default:
                    // Train mode normalizes by batch statistics: the running ones do not matter.
                    if s.attrs.symbol("mode") == "train" { return nil }
                    throw PassError("autodiff: gradients through the running \(s.operand == 3 ? "mean" : "variance") of an inference-mode batch_norm ('%\(s.y)') are not supported")
                }
            }
        case .biasAdd:
            return { b, s throws(PassError) in s.operand == 0 ? s.dy : try b.add(.channelSum, [s.dy], name: s.name) }
        case .matmul:
            return { b, s throws(PassError) in try matmulGradient(&b, s) }
        case .maxPool:
            return { b, s throws(PassError) in
                try b.add(.maxPoolGrad, [s.dy, s.x[0]], ["window": s.attr("window"), "stride": s.attr("stride"), "pad": s.attr("pad")], name: s.name)
            }
        case .avgPool:
            return { b, s throws(PassError) in
                try b.add(.avgPoolGrad, [s.dy], ["window": s.attr("window"), "stride": s.attr("stride"), "pad": s.attr("pad"),
                                                 "input_size": b.spatialSize(of: s.x[0])], name: s.name)
            }
        case .globalAvgPool:
            return { b, s throws(PassError) in
                try b.add(.globalAvgPoolGrad, [s.dy], ["input_size": b.spatialSize(of: s.x[0])], name: s.name)
            }
        case .concat:
            return { b, s throws(PassError) in
                let axis = s.attrs.int("axis")
                let start = s.x[..<s.operand].reduce(0) { $0 + b.type(of: $1).dims[axis].staticValue! }
                let size = b.type(of: s.x[s.operand]).dims[axis].staticValue!
                return try b.add(.slice, [s.dy], ["axis": .int(axis), "start": .int(start), "size": .int(size)], name: s.name)
            }
        case .zeroPad: return { b, s throws(PassError) in try b.add(.crop, [s.dy], ["pads": s.attr("pads")], name: s.name) }
        case .flatten, .reshape:
            return { b, s throws(PassError) in try b.add(.reshape, [s.dy], name: s.name, type: b.type(of: s.x[0])) }
        case .dropout:
            // The same mask on dy; the seed has no gradient.
            return { b, s throws(PassError) in
                guard s.operand == 0 else { return nil }
                return try b.add(.dropout, [s.dy, s.x[1]], ["rate": s.attr("rate"), "stream": s.attr("stream")], name: s.name)
            }
        case .dropPath:
            // The same examples dropped in dy; seed and rate have no gradient.
            return { b, s throws(PassError) in
                guard s.operand == 0 else { return nil }
                return try b.add(.dropPath, [s.dy, s.x[1], s.x[2]], ["stream": s.attr("stream")], name: s.name)
            }
        case .embedding:
            return { b, s throws(PassError) in
                guard s.operand == 0 else { throw PassError("internal: embedding ids are not differentiable") }
                return try b.add(.embeddingGrad, [s.dy, s.x[1]], ["vocab": .int(b.type(of: s.x[0]).dims[0].staticValue!)], name: s.name)
            }
        case .softmax: return { b, s throws(PassError) in try b.add(.softmaxGrad, [s.dy, s.y], name: s.name) }
        case .softmaxCrossEntropy:
            return { b, s throws(PassError) in
                guard s.operand == 0 else { throw PassError("internal: labels are not differentiable") }
                let smoothing = s.attrs["smoothing"].map { ["smoothing": $0] } ?? [:]
                return try b.add(.softmaxCrossEntropyGrad, [s.x[0], s.x[1], s.dy], smoothing, name: s.name)
            }
        case .weightedSoftmaxCrossEntropy:
            return { b, s throws(PassError) in
                guard s.operand == 0 else {
                    throw PassError("autodiff: '%\(s.y)': gradients with respect to the labels or weights of weighted_softmax_cross_entropy are not supported")
                }
                return try b.add(.weightedSoftmaxCrossEntropyGrad, [s.x[0], s.x[1], s.x[2], s.dy], name: s.name)
            }
        case .reduceSum:
            // Every element receives the scalar dy.
            return { b, s throws(PassError) in
                let ones = try b.add(.const, [], ["value": .float(1)], name: s.name, type: b.type(of: s.x[0]))
                return try b.add(.mul, [ones, s.dy], name: s.name)
            }

        case .slice:
            // The slice's gradient in place, zeros around it: a concat of
            // constant blocks (which the JIT fills without memory traffic
            // from elsewhere) and dy.
            return { b, s throws(PassError) in
                let x = b.type(of: s.x[0])
                let (axis, start, size) = (s.attrs.int("axis"), s.attrs.int("start"), s.attrs.int("size"))
                let total = x.dims[axis].staticValue!
                func zeros(_ length: Int) throws(PassError) -> [String] {
                    guard length > 0 else { return [] }
                    var dims = x.dims
                    dims[axis] = .fixed(length)
                    return [try b.add(.const, [], ["value": .float(0)], name: s.name + ".zeros", type: TensorType(.f32, dims))]
                }
                let parts = try zeros(start) + [s.dy] + zeros(total - start - size)
                return try b.add(.concat, parts, ["axis": .int(axis)], name: s.name)
            }
        case .param, .state, .const,
             .conv2dGradInput, .conv2dGradFilter, .batchNormGrad, .batchNormGradGamma, .batchMean, .batchVar, .channelSum,
             .maxPoolGrad, .avgPoolGrad, .globalAvgPoolGrad, .crop, .embeddingGrad, .softmaxGrad,
             .softmaxCrossEntropyGrad, .weightedSoftmaxCrossEntropyGrad:
            return nil
        }
    }

    /// C = op(A) op(B), op a transpose or not. dop(A) = dy op(B)^T and
    /// dop(B) = op(A)^T dy; transposing back where the operand was transposed
    /// gives one matmul per operand with the flags below.
    private static func matmulGradient(_ b: inout GradientBuilder, _ s: GradientSite) throws(PassError) -> String {
        let (ta, tb) = (s.attrs.bool("transpose_a"), s.attrs.bool("transpose_b"))
        let (a, bm, dy) = (s.x[0], s.x[1], s.dy)
        let (lhs, rhs, flagA, flagB): (String, String, Bool, Bool)
        if s.operand == 0 {
            (lhs, rhs, flagA, flagB) = ta ? (bm, dy, tb, true) : (dy, bm, false, !tb)
        } else {
            (lhs, rhs, flagA, flagB) = tb ? (dy, a, true, ta) : (a, dy, !ta, false)
        }
        return try b.add(.matmul, [lhs, rhs], ["transpose_a": .bool(flagA), "transpose_b": .bool(flagB)], name: s.name)
    }
}

/// The graph builder as gradient rules use it.
struct GradientBuilder {
    var builder: GraphBuilder
    /// The nodes the gradient rules added, by result.
    private(set) var made: [String: Node] = [:]

    init(builder: GraphBuilder) { self.builder = builder }

    func type(of v: String) -> TensorType { builder.type(of: v) }

    mutating func add(_ op: Op, _ operands: [String], _ attrs: [String: AttrValue] = [:], name: String,
                      type: TensorType? = nil) throws(PassError) -> String {
        let result = try builder.add(op, operands, attrs, name: name, type: type)
        made[result] = builder.graph.nodes.last
        return result
    }

    mutating func scalar(_ v: Double) throws(PassError) -> String { try builder.scalar(v) }

    func spatialSize(of v: String) -> AttrValue {
        let d = type(of: v).dims
        return .ints([d[2].staticValue!, d[3].staticValue!])
    }

    /// The gradient of an operand that was broadcast: a scalar operand of a
    /// full-shaped result receives the sum of the result's gradient.
    mutating func unbroadcast(_ d: String, to operand: String, name: String) throws(PassError) -> String {
        if type(of: operand).isScalar && !type(of: d).isScalar {
            return try add(.reduceSum, [d], name: name)
        }
        return d
    }
}
