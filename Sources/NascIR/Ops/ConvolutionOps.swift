/// 2-D convolution and its two gradients. Weights are [O, C/groups, KH, KW]:
/// with `groups` g the C input channels and O output channels form g groups,
/// and output channel o sees only the C/g input channels of its group
/// (depthwise: g = C = O). `dilation` spaces the filter's taps (a 3x3 filter
/// with dilation 2 spans 5x5). Both are optional attributes, absent meaning
/// 1, so graphs written before them print and hash as they did.
enum ConvolutionOps {
    static let window: [AttrSpec] = [
        .defaulted("stride", .ints(count: 2, min: 1), .ints([1, 1])),
        .defaulted("pad", .symbol(["same", "valid"]), .symbol("same")),
        .optional("groups", .int(min: 1)),
        .optional("dilation", .ints(count: 2, min: 1)),
    ]

    static let conv2d = OpDefinition(OpSignature(.fixed(["x", "w"]), window), .outElementwiseFusable, .perExample, shape: { x, attrs, _ throws(InferError) in
        try ShapeInference.requireF32(x, 0)
        try ShapeInference.requireF32(x, 1)
        try ShapeInference.requireRank(x, 0, 4, "f32[N,C,H,W]")
        try ShapeInference.requireRank(x, 1, 4, "f32[O,C/groups,KH,KW]")
        guard !x[1].hasBatch else { throw InferError(message: "conv2d weights must have a static shape", operand: 1) }
        let (input, w) = (x[0].dims, x[1].dims)
        let channels = try groupedChannels(input[1], outputs: w[0], attrs, what: "the input")
        guard w[1] == .fixed(channels) else {
            if attrs.groups == 1 { throw InferError(message: "conv2d weights expect \(w[1]) input channels but the input has \(channels)", operand: 1) }
            throw InferError(message: "conv2d weights expect \(w[1]) input channels per group but the input has \(channels) per group (\(input[1]) in \(attrs.groups) groups)", operand: 1)
        }
        let (h, wd) = try ShapeInference.windowed(input, kernel: [w[2].staticValue ?? 1, w[3].staticValue ?? 1], attrs)
        return TensorType(.f32, [input[0], w[0], h, wd])
    }, flops: { c in
        // Every output element: a multiply-add per input channel of its group and tap.
        2 * c.out * c.operands[1][1] * c.operands[1][2] * c.operands[1][3]
    })

    static let conv2dGradInput = OpDefinition(OpSignature(.fixed(["dy", "w"]), window + [AnchorOps.inputSize]), .outElementwiseFusable, .perExample,
                                              shape: { x, attrs, _ throws(InferError) in
        try ShapeInference.requireF32(x, 0)
        try ShapeInference.requireRank(x, 0, 4, "dy: f32[N,O,H',W']")
        try ShapeInference.requireRank(x, 1, 4, "w: f32[O,C/groups,KH,KW]")
        let (dy, w) = (x[0].dims, x[1].dims)
        guard dy[1] == w[0] else { throw InferError(message: "dy has \(dy[1]) channels but the filter has \(w[0]) outputs", operand: 1) }
        _ = try groupedChannels(.fixed((w[1].staticValue ?? 1) * attrs.groups), outputs: w[0], attrs, what: "the filter")
        let size = attrs.ints("input_size")
        try ShapeInference.checkWindowed(from: size, kernel: [w[2].staticValue ?? 1, w[3].staticValue ?? 1], attrs, gives: dy)
        return TensorType(.f32, [dy[0], .fixed((w[1].staticValue ?? 1) * attrs.groups), .fixed(size[0]), .fixed(size[1])])
    }, flops: { c in
        // Each dy element reaches C/groups inputs through every tap.
        2 * c.elements(0) * c.operands[1][1] * c.operands[1][2] * c.operands[1][3]
    })

    static let conv2dGradFilter = OpDefinition(OpSignature(.fixed(["x", "dy"]), window + [.required("kernel", .ints(count: 2, min: 1))]),
                                               .outElementwiseFusable, shape: { x, attrs, _ throws(InferError) in
        try ShapeInference.requireF32(x, 0)
        try ShapeInference.requireF32(x, 1)
        try ShapeInference.requireRank(x, 0, 4, "x: f32[N,C,H,W]")
        try ShapeInference.requireRank(x, 1, 4, "dy: f32[N,O,H',W']")
        let (input, dy) = (x[0].dims, x[1].dims)
        guard input[0] == dy[0] else { throw InferError(message: "x and dy have different batch sizes", operand: 1) }
        let channels = try groupedChannels(input[1], outputs: dy[1], attrs, what: "x")
        let kernel = attrs.ints("kernel")
        try ShapeInference.checkWindowed(from: [input[2].staticValue ?? 0, input[3].staticValue ?? 0], kernel: kernel, attrs, gives: dy)
        return TensorType(.f32, [dy[1], .fixed(channels), .fixed(kernel[0]), .fixed(kernel[1])])
    }, flops: { c in
        // Each dy element meets C/groups inputs at every tap: out / O per dy element.
        2 * c.elements(1) * c.out / max(c.operands[1][1], 1)
    }, sumsOverBatch: { _ in true })

    /// Input channels per group, checking that the groups divide both the
    /// input channels and the outputs.
    private static func groupedChannels(_ channels: Dim, outputs: Dim, _ attrs: Attributes, what: String) throws(InferError) -> Int {
        let groups = attrs.groups
        guard case .fixed(let c) = channels else { throw InferError(message: "the channel axis must be static", operand: 0) }
        guard c % groups == 0 else {
            throw InferError(message: "groups = \(groups) does not divide the \(c) channels of \(what)", attribute: "groups")
        }
        guard let o = outputs.staticValue, o % groups == 0 else {
            throw InferError(message: "groups = \(groups) does not divide the \(outputs) output channels", attribute: "groups")
        }
        return c / groups
    }
}

extension Attributes {
    /// A convolution's groups (1 when absent).
    public var groups: Int { self["groups"]?.intValue ?? 1 }
    /// A convolution's dilation along height and width ([1, 1] when absent).
    public var dilation: [Int] { self["dilation"]?.intsValue ?? [1, 1] }
}
