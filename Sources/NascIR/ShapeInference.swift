/// Why a node's type could not be inferred, pointing at the operand or
/// attribute to blame so the diagnostic's caret lands there.
public struct InferError: Error {
    public var message: String
    public var operand: Int? = nil
    public var attribute: String? = nil
}

/// Type and shape inference: one rule per op. Attributes have already been
/// checked against the op's signature (kinds, ranges, defaults filled in).
public enum ShapeInference {
    public static func infer(_ op: Op, _ x: [TensorType], _ attrs: Attributes,
                             declared: TensorType?) throws(InferError) -> TensorType {
        if let e = op.elementwise { return try e.inferType(op, x) }
        switch op {
        case .param, .state:
            let t = try sourceType(op, declared)
            guard !t.hasBatch else { throw InferError(message: "a \(op.name)'s shape must be static (no N)") }
            guard t.dtype == .f32 else { throw InferError(message: "a \(op.name) must be f32") }
            try checkInitializer(attrs)
            return t
        case .const:
            let t = try sourceType(op, declared)
            guard t.dtype == .f32 || attrs.float("value") == attrs.float("value").rounded() else {
                throw InferError(message: "an i32 constant needs an integral value", attribute: "value")
            }
            return t

        case .conv2d:
            try requireF32(x, 0)
            try requireF32(x, 1)
            try requireRank(x, 0, 4, "f32[N,C,H,W]")
            try requireRank(x, 1, 4, "f32[O,C,KH,KW]")
            guard !x[1].hasBatch else { throw InferError(message: "conv2d weights must have a static shape", operand: 1) }
            let (input, w) = (x[0].dims, x[1].dims)
            guard input[1] == w[1] else {
                throw InferError(message: "conv2d weights expect \(w[1]) input channels but the input has \(input[1])", operand: 1)
            }
            let stride = attrs.ints("stride")
            let (kh, kw) = (w[2].staticValue ?? 1, w[3].staticValue ?? 1)
            let h = try window(input[2], kernel: kh, stride: stride[0], pad: attrs.symbol("pad"), what: "height")
            let wd = try window(input[3], kernel: kw, stride: stride[1], pad: attrs.symbol("pad"), what: "width")
            return TensorType(.f32, [input[0], w[0], h, wd])

        case .batchNorm:
            try requireF32(x, 0)
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

        case .biasAdd:
            try requireF32(x, 0)
            try requireF32(x, 1)
            guard x[0].rank >= 2 else { throw InferError(message: "bias_add input needs a channel axis (rank >= 2), got \(x[0])", operand: 0) }
            guard x[1] == TensorType(.f32, [x[0].dims[1]]) else {
                throw InferError(message: "bias must be f32[\(x[0].dims[1])] to match axis 1 of \(x[0]), got \(x[1])", operand: 1)
            }
            return x[0]

        case .matmul:
            try requireF32(x, 0)
            try requireF32(x, 1)
            try requireRank(x, 0, 2, "a matrix")
            try requireRank(x, 1, 2, "a matrix")
            let a = attrs.bool("transpose_a") ? x[0].dims.reversed() : x[0].dims
            let b = attrs.bool("transpose_b") ? x[1].dims.reversed() : x[1].dims
            guard a[1] == b[0] else {
                throw InferError(message: "matmul inner dimensions differ: \(a[1]) (from \(x[0])) vs \(b[0]) (from \(x[1]))", operand: 1)
            }
            return TensorType(.f32, [a[0], b[1]])

        case .maxPool, .avgPool:
            try requireF32(x, 0)
            try requireRank(x, 0, 4, "f32[N,C,H,W]")
            let (k, s, pad) = (attrs.ints("window"), attrs.ints("stride"), attrs.symbol("pad"))
            let d = x[0].dims
            return TensorType(.f32, [d[0], d[1],
                                     try window(d[2], kernel: k[0], stride: s[0], pad: pad, what: "height"),
                                     try window(d[3], kernel: k[1], stride: s[1], pad: pad, what: "width")])

        case .globalAvgPool:
            try requireF32(x, 0)
            try requireRank(x, 0, 4, "f32[N,C,H,W]")
            return TensorType(.f32, [x[0].dims[0], x[0].dims[1]])

        case .concat:
            return try concat(x, axis: attrs.int("axis"))

        case .zeroPad:
            try requireF32(x, 0)
            try requireRank(x, 0, 4, "f32[N,C,H,W]")
            let p = attrs.ints("pads")
            var d = x[0].dims
            for (axis, extra) in [(2, p[0] + p[1]), (3, p[2] + p[3])] {
                guard case .fixed(let size) = d[axis] else { throw InferError(message: "spatial dims must be static", operand: 0) }
                let n = size + extra
                guard n <= Limits.maxDim else { throw InferError(message: "padded size \(n) exceeds the limit of \(Limits.maxDim)", attribute: "pads") }
                d[axis] = .fixed(n)
            }
            return TensorType(.f32, d)

        case .flatten:
            guard x[0].rank >= 2 else { throw InferError(message: "flatten needs rank >= 2, got \(x[0])", operand: 0) }
            let rest = TensorType(x[0].dtype, Array(x[0].dims.dropFirst()))
            guard let n = rest.elementsPerExample, n <= Limits.maxDim else {
                throw InferError(message: "flattened size of \(x[0]) exceeds the limit of \(Limits.maxDim)", operand: 0)
            }
            return TensorType(x[0].dtype, [x[0].dims[0], .fixed(n)])

        case .dropout:
            try requireF32(x, 0)
            guard x[1] == TensorType(.i32, []) else { throw InferError(message: "the dropout seed must be i32[], got \(x[1])", operand: 1) }
            let rate = attrs.float("rate")
            guard rate >= 0, rate < 1 else { throw InferError(message: "rate must be at least 0 and below 1, got \(rate)", attribute: "rate") }
            return x[0]

        case .embedding:
            try requireF32(x, 0)
            try requireRank(x, 0, 2, "a table f32[V,D]")
            guard !x[0].hasBatch else { throw InferError(message: "embedding table must have a static shape", operand: 0) }
            guard x[1].dtype == .i32 else { throw InferError(message: "embedding ids must be i32, got \(x[1])", operand: 1) }
            return TensorType(.f32, x[1].dims + [x[0].dims[1]])

        case .softmax:
            try requireF32(x, 0)
            try requireRank(x, 0, 2, "f32[N,K]")
            return x[0]

        case .weightedSoftmaxCrossEntropy:
            guard x[2] == TensorType(.f32, [x[0].dims.first ?? .fixed(1)]) else {
                throw InferError(message: "weights must be f32[\(x[0].dims.first.map(\.description) ?? "N")], one per row of the logits, got \(x[2])", operand: 2)
            }
            return try infer(.softmaxCrossEntropy, Array(x.prefix(2)), attrs, declared: declared)

        case .softmaxCrossEntropy:
            try checkSmoothing(attrs)
            try requireF32(x, 0)
            try requireRank(x, 0, 2, "logits f32[N,K]")
            guard x[1].dtype == .i32, x[1].rank == 1 else {
                throw InferError(message: "labels must be i32[\(x[0].dims[0])], got \(x[1])", operand: 1)
            }
            guard x[1].dims[0] == x[0].dims[0] else {
                throw InferError(message: "labels i32[\(x[1].dims[0])] do not match the batch of logits \(x[0])", operand: 1)
            }
            return TensorType(.f32, [])

        case .reduceSum, .channelSum, .batchMean, .batchVar, .reshape, .slice, .crop,
             .conv2dGradInput, .conv2dGradFilter,
             .batchNormGrad, .batchNormGradGamma, .maxPoolGrad, .avgPoolGrad, .globalAvgPoolGrad,
             .embeddingGrad, .softmaxGrad, .softmaxCrossEntropyGrad, .weightedSoftmaxCrossEntropyGrad:
            return try inferDerived(op, x, attrs, declared: declared)
        default:
            throw InferError(message: "internal: '\(op.name)' has no shape rule")
        }
    }

    // MARK: - Helpers

    static func sourceType(_ op: Op, _ declared: TensorType?) throws(InferError) -> TensorType {
        guard let t = declared else {
            throw InferError(message: "'\(op.name)' needs its type written after ':', e.g. ': f32[36,1,3,3]'")
        }
        return t
    }

    private static func checkInitializer(_ attrs: Attributes) throws(InferError) {
        let kind = attrs.symbol("init")
        let needsScale = kind == "uniform" || kind == "normal"
        if needsScale {
            guard let s = attrs["scale"]?.floatValue else {
                throw InferError(message: "init = \(kind) needs 'scale' (\(kind == "uniform" ? "the bound" : "the standard deviation"))", attribute: "init")
            }
            guard s > 0 else { throw InferError(message: "scale must be positive", attribute: "scale") }
        } else if attrs["scale"] != nil {
            throw InferError(message: "'scale' is only used with init = uniform or normal", attribute: "scale")
        }
        if kind == "constant" {
            guard attrs["value"] != nil else { throw InferError(message: "init = constant needs 'value'", attribute: "init") }
        } else if attrs["value"] != nil {
            throw InferError(message: "'value' is only used with init = constant", attribute: "value")
        }
    }

    static func checkSmoothing(_ attrs: Attributes) throws(InferError) {
        if let e = attrs["smoothing"]?.floatValue, !(e >= 0 && e < 1) {
            throw InferError(message: "smoothing must be at least 0 and below 1, got \(e)", attribute: "smoothing")
        }
    }

    static func requireF32(_ x: [TensorType], _ i: Int) throws(InferError) {
        guard x[i].dtype == .f32 else { throw InferError(message: "expected an f32 tensor, got \(x[i])", operand: i) }
    }

    static func requireRank(_ x: [TensorType], _ i: Int, _ rank: Int, _ shape: String) throws(InferError) {
        guard x[i].rank == rank else { throw InferError(message: "expected \(shape), got \(x[i])", operand: i) }
    }

    /// Output size along one spatial axis. `same` keeps ceil(size / stride)
    /// (TensorFlow's rule); `valid` needs the window to fit.
    static func window(_ size: Dim, kernel: Int, stride: Int, pad: String, what: String) throws(InferError) -> Dim {
        guard case .fixed(let n) = size else { throw InferError(message: "spatial \(what) must be static", operand: 0) }
        if pad == "same" { return .fixed((n - 1) / stride + 1) }
        guard kernel <= n else {
            throw InferError(message: "window \(what) \(kernel) is larger than the input \(what) \(n) with pad = valid", operand: 0)
        }
        return .fixed((n - kernel) / stride + 1)
    }

    private static func concat(_ x: [TensorType], axis: Int) throws(InferError) -> TensorType {
        let first = x[0]
        guard axis < first.rank else {
            throw InferError(message: "concat axis \(axis) is out of range for \(first)", attribute: "axis")
        }
        var total = 0
        for (i, t) in x.enumerated() {
            guard t.dtype == first.dtype, t.rank == first.rank else {
                throw InferError(message: "concat operands must have the same element type and rank: \(first) vs \(t)", operand: i)
            }
            for d in 0..<t.rank where d != axis && t.dims[d] != first.dims[d] {
                throw InferError(message: "concat operands must match except on axis \(axis): \(first) vs \(t)", operand: i)
            }
            guard case .fixed(let n) = t.dims[axis] else {
                throw InferError(message: "cannot concatenate along the batch dimension", operand: i)
            }
            total += n
            guard total <= Limits.maxDim else {
                throw InferError(message: "concatenated size exceeds the limit of \(Limits.maxDim)", operand: i)
            }
        }
        var dims = first.dims
        dims[axis] = .fixed(total)
        return TensorType(first.dtype, dims)
    }
}
