/// Type inference for the ops autodiff and the optimizers emit: reductions,
/// reshapes and one gradient op per differentiable layer.
extension ShapeInference {
    static func inferDerived(_ op: Op, _ x: [TensorType], _ attrs: Attributes,
                             declared: TensorType?) throws(InferError) -> TensorType {
        switch op {
        case .reduceSum:
            try requireF32(x, 0)
            return TensorType(.f32, [])

        case .channelSum, .batchMean, .batchVar:
            try requireF32(x, 0)
            guard x[0].rank >= 2 else { throw InferError(message: "'\(op.name)' needs a channel axis (rank >= 2), got \(x[0])", operand: 0) }
            guard case .fixed = x[0].dims[1] else { throw InferError(message: "the channel axis must be static", operand: 0) }
            return TensorType(.f32, [x[0].dims[1]])

        case .reshape:
            let t = try sourceType(op, declared)
            guard t.dtype == x[0].dtype else { throw InferError(message: "reshape cannot change the element type (\(x[0]) to \(t))", operand: 0) }
            guard t.hasBatch == x[0].hasBatch else {
                throw InferError(message: "reshape must keep the batch dimension N on both sides (\(x[0]) to \(t))", operand: 0)
            }
            guard t.elementsPerExample == x[0].elementsPerExample else {
                throw InferError(message: "reshape must keep the number of elements (\(x[0]) to \(t))", operand: 0)
            }
            return t

        case .slice:
            let axis = attrs.int("axis")
            guard axis < x[0].rank else { throw InferError(message: "slice axis \(axis) is out of range for \(x[0])", attribute: "axis") }
            guard case .fixed(let n) = x[0].dims[axis] else { throw InferError(message: "cannot slice the batch dimension", attribute: "axis") }
            let (start, size) = (attrs.int("start"), attrs.int("size"))
            guard start + size <= n else {
                throw InferError(message: "slice [\(start), \(start + size)) is out of range for axis \(axis) of size \(n)", attribute: "size")
            }
            var dims = x[0].dims
            dims[axis] = .fixed(size)
            return TensorType(x[0].dtype, dims)

        case .crop:
            try requireF32(x, 0)
            try requireRank(x, 0, 4, "f32[N,C,H,W]")
            let p = attrs.ints("pads")
            var d = x[0].dims
            for (axis, cut) in [(2, p[0] + p[1]), (3, p[2] + p[3])] {
                guard case .fixed(let size) = d[axis], size > cut else {
                    throw InferError(message: "crop removes \(cut) of \(d[axis]) along axis \(axis)", attribute: "pads")
                }
                d[axis] = .fixed(size - cut)
            }
            return TensorType(.f32, d)

        case .softmaxGrad:
            try requireF32(x, 0)
            try requireRank(x, 0, 2, "f32[N,K]")
            try requireSame(x, op)
            return x[0]

        case .conv2dGradInput:
            try requireF32(x, 0)
            try requireRank(x, 0, 4, "dy: f32[N,O,H',W']")
            try requireRank(x, 1, 4, "w: f32[O,C,KH,KW]")
            let (dy, w) = (x[0].dims, x[1].dims)
            guard dy[1] == w[0] else { throw InferError(message: "dy has \(dy[1]) channels but the filter has \(w[0]) outputs", operand: 1) }
            let size = attrs.ints("input_size")
            try checkWindowed(from: size, kernel: [w[2].staticValue ?? 1, w[3].staticValue ?? 1], attrs, gives: dy)
            return TensorType(.f32, [dy[0], w[1], .fixed(size[0]), .fixed(size[1])])

        case .conv2dGradFilter:
            try requireF32(x, 0)
            try requireF32(x, 1)
            try requireRank(x, 0, 4, "x: f32[N,C,H,W]")
            try requireRank(x, 1, 4, "dy: f32[N,O,H',W']")
            let (input, dy) = (x[0].dims, x[1].dims)
            guard input[0] == dy[0] else { throw InferError(message: "x and dy have different batch sizes", operand: 1) }
            let kernel = attrs.ints("kernel")
            try checkWindowed(from: [input[2].staticValue ?? 0, input[3].staticValue ?? 0], kernel: kernel, attrs, gives: dy)
            return TensorType(.f32, [dy[1], input[1], .fixed(kernel[0]), .fixed(kernel[1])])

        case .batchNormGrad, .batchNormGradGamma:
            try requireF32(x, 0)
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

        case .maxPoolGrad:
            try requireF32(x, 0)
            try requireRank(x, 1, 4, "x: f32[N,C,H,W]")
            let d = x[1].dims
            try checkWindowed(from: [d[2].staticValue ?? 0, d[3].staticValue ?? 0], kernel: attrs.ints("window"), attrs, gives: x[0].dims,
                              channels: d[1], batch: d[0])
            return x[1]

        case .avgPoolGrad:
            try requireF32(x, 0)
            try requireRank(x, 0, 4, "dy: f32[N,C,H',W']")
            let size = attrs.ints("input_size")
            try checkWindowed(from: size, kernel: attrs.ints("window"), attrs, gives: x[0].dims)
            return TensorType(.f32, [x[0].dims[0], x[0].dims[1], .fixed(size[0]), .fixed(size[1])])

        case .globalAvgPoolGrad:
            try requireF32(x, 0)
            try requireRank(x, 0, 2, "dy: f32[N,C]")
            let size = attrs.ints("input_size")
            return TensorType(.f32, x[0].dims + [.fixed(size[0]), .fixed(size[1])])

        case .embeddingGrad:
            try requireF32(x, 0)
            guard x[1].dtype == .i32 else { throw InferError(message: "ids must be i32, got \(x[1])", operand: 1) }
            guard x[0].rank == x[1].rank + 1, Array(x[0].dims.dropLast()) == x[1].dims else {
                throw InferError(message: "dy \(x[0]) does not match ids \(x[1]) plus an embedding axis", operand: 0)
            }
            guard case .fixed = x[0].dims.last! else { throw InferError(message: "the embedding axis must be static", operand: 0) }
            return TensorType(.f32, [.fixed(attrs.int("vocab")), x[0].dims.last!])

        case .weightedSoftmaxCrossEntropyGrad:
            guard x[2] == TensorType(.f32, [x[0].dims.first ?? .fixed(1)]) else {
                throw InferError(message: "weights must be f32[\(x[0].dims.first.map(\.description) ?? "N")], got \(x[2])", operand: 2)
            }
            return try inferDerived(.softmaxCrossEntropyGrad, [x[0], x[1], x[3]], attrs, declared: declared)

        case .softmaxCrossEntropyGrad:
            try checkSmoothing(attrs)
            try requireF32(x, 0)
            try requireRank(x, 0, 2, "logits f32[N,K]")
            guard x[1].dtype == .i32, x[1].dims == [x[0].dims[0]] else {
                throw InferError(message: "labels must be i32[\(x[0].dims[0])], got \(x[1])", operand: 1)
            }
            guard x[2] == TensorType(.f32, []) else { throw InferError(message: "dloss must be f32[], got \(x[2])", operand: 2) }
            return x[0]

        default:
            throw InferError(message: "internal: '\(op.name)' has no derived inference rule")
        }
    }

    static func requireSame(_ x: [TensorType], _ op: Op) throws(InferError) {
        guard x[0] == x[1] else { throw InferError(message: "'\(op.name)' operands must have the same type: \(x[0]) and \(x[1])", operand: 1) }
    }

    /// Checks that a window op over `size` with these attributes produces the
    /// spatial size (and optionally channels and batch) of `output`, so a
    /// gradient op cannot silently disagree with its forward op.
    private static func checkWindowed(from size: [Int], kernel: [Int], _ attrs: Attributes, gives output: [Dim],
                                      channels: Dim? = nil, batch: Dim? = nil) throws(InferError) {
        let stride = attrs.ints("stride"), pad = attrs.symbol("pad")
        let h = try window(.fixed(size[0]), kernel: kernel[0], stride: stride[0], pad: pad, what: "height")
        let w = try window(.fixed(size[1]), kernel: kernel[1], stride: stride[1], pad: pad, what: "width")
        guard output.count == 4, output[2] == h, output[3] == w else {
            throw InferError(message: "a \(size[0])x\(size[1]) input gives \(h)x\(w) outputs with these attributes, which does not match dy \(TensorType(.f32, output))", operand: 0)
        }
        if let c = channels, output[1] != c { throw InferError(message: "dy has \(output[1]) channels, x has \(c)", operand: 0) }
        if let n = batch, output[0] != n { throw InferError(message: "dy and x have different batch sizes", operand: 0) }
    }
}
