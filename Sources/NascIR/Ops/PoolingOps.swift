/// Max and average pools over windows, the global average pool, and their gradients.
enum PoolingOps {
    static let window: [AttrSpec] = [
        .required("window", .ints(count: 2, min: 1)),
        .defaulted("stride", .ints(count: 2, min: 1), .ints([1, 1])),
        .defaulted("pad", .symbol(["valid", "same"]), .symbol("valid")),
    ]

    /// max_pool and avg_pool (an average pool divides by the taps inside the input).
    static let pool = OpDefinition(OpSignature(.fixed(["x"]), window), .reduction, .perExample, shape: { x, attrs, _ throws(InferError) in
        try ShapeInference.requireF32(x, 0)
        try ShapeInference.requireRank(x, 0, 4, "f32[N,C,H,W]")
        let (h, w) = try ShapeInference.windowed(x[0].dims, kernel: attrs.ints("window"), attrs)
        return TensorType(.f32, [x[0].dims[0], x[0].dims[1], h, w])
    }, flops: { c in c.out * c.attrs.ints("window")[0] * c.attrs.ints("window")[1] })

    static let globalAvgPool = OpDefinition(AnchorOps.unary, .reduction, .perExample, shape: { x, _, _ throws(InferError) in
        try ShapeInference.requireF32(x, 0)
        try ShapeInference.requireRank(x, 0, 4, "f32[N,C,H,W]")
        return TensorType(.f32, [x[0].dims[0], x[0].dims[1]])
    }, flops: FlopCount.perInput)

    /// dx: dy routed to the tap that won each window.
    static let maxPoolGrad = OpDefinition(OpSignature(.fixed(["dy", "x"]), window), .opaque, .perExample, shape: { x, attrs, _ throws(InferError) in
        try ShapeInference.requireF32(x, 0)
        try ShapeInference.requireRank(x, 1, 4, "x: f32[N,C,H,W]")
        let d = x[1].dims
        try ShapeInference.checkWindowed(from: [d[2].staticValue ?? 0, d[3].staticValue ?? 0], kernel: attrs.ints("window"), attrs,
                                         gives: x[0].dims, channels: d[1], batch: d[0])
        return x[1]
    })

    /// dx: dy shared among the in-image taps of each window.
    static let avgPoolGrad = OpDefinition(OpSignature(.fixed(["dy"]), window + [AnchorOps.inputSize]), .opaque, .perExample,
                                          shape: { x, attrs, _ throws(InferError) in
        try ShapeInference.requireF32(x, 0)
        try ShapeInference.requireRank(x, 0, 4, "dy: f32[N,C,H',W']")
        let size = attrs.ints("input_size")
        try ShapeInference.checkWindowed(from: size, kernel: attrs.ints("window"), attrs, gives: x[0].dims)
        return TensorType(.f32, [x[0].dims[0], x[0].dims[1], .fixed(size[0]), .fixed(size[1])])
    })

    static let globalAvgPoolGrad = OpDefinition(OpSignature(.fixed(["dy"]), [AnchorOps.inputSize]), .injective, .perExample,
                                                shape: { x, attrs, _ throws(InferError) in
        try ShapeInference.requireF32(x, 0)
        try ShapeInference.requireRank(x, 0, 2, "dy: f32[N,C]")
        let size = attrs.ints("input_size")
        return TensorType(.f32, x[0].dims + [.fixed(size[0]), .fixed(size[1])])
    })
}
