/// Ops that move elements without arithmetic: concat, pad and crop, slice,
/// flatten and reshape.
enum LayoutOps {
    static let concat = OpDefinition(OpSignature(.variadic(min: 1), [.defaulted("axis", .int(min: 0), .int(1))]), .injective, .perExampleUnlessAlongN,
                                     shape: { x, attrs, _ throws(InferError) in
        let (first, axis) = (x[0], attrs.int("axis"))
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
    })

    static let zeroPad = OpDefinition(OpSignature(.fixed(["x"]), [AnchorOps.pads]), .injective, .perExample, shape: { x, attrs, _ throws(InferError) in
        try ShapeInference.requireF32(x, 0)
        try ShapeInference.requireRank(x, 0, 4, "f32[N,C,H,W]")
        let p = attrs.ints("pads")
        var d = x[0].dims
        for (axis, extra) in [(2, p[0] + p[1]), (3, p[2] + p[3])] {
            guard case .fixed(let size) = d[axis] else { throw InferError(message: "spatial dims must be static", operand: 0) }
            let n = size + extra
            guard n <= Limits.maxDim else { throw InferError(message: "padded size \(n) exceeds the limit of \(Limits.maxDim)", attribute: "pads") }
            d[axis] = .fixed(n)
        }
        return TensorType(.f32, d)
    })

    /// The inverse of zero_pad (its gradient).
    static let crop = OpDefinition(OpSignature(.fixed(["x"]), [AnchorOps.pads]), .injective, .perExample, shape: { x, attrs, _ throws(InferError) in
        try ShapeInference.requireF32(x, 0)
        try ShapeInference.requireRank(x, 0, 4, "f32[N,C,H,W]")
        let p = attrs.ints("pads")
        var d = x[0].dims
        for (axis, cut) in [(2, p[0] + p[1]), (3, p[2] + p[3])] {
            guard case .fixed(let size) = d[axis], size > cut else {
                throw InferError(message: "crop removes \(cut) of \(d[axis]) along axis \(axis)", attribute: "pads")
            }
            d[axis] = .fixed(size - cut)
        }
        return TensorType(.f32, d)
    })

    static let flatten = OpDefinition(AnchorOps.unary, .injective, .perExample, shape: { x, _, _ throws(InferError) in
        guard x[0].rank >= 2 else { throw InferError(message: "flatten needs rank >= 2, got \(x[0])", operand: 0) }
        let rest = TensorType(x[0].dtype, Array(x[0].dims.dropFirst()))
        guard let n = rest.elementsPerExample, n <= Limits.maxDim else {
            throw InferError(message: "flattened size of \(x[0]) exceeds the limit of \(Limits.maxDim)", operand: 0)
        }
        return TensorType(x[0].dtype, [x[0].dims[0], .fixed(n)])
    })

    /// The result type is written in the text, as for sources.
    static let reshape = OpDefinition(AnchorOps.unary, .injective, shape: { x, _, declared throws(InferError) in
        let t = try ShapeInference.sourceType(.reshape, declared)
        guard t.dtype == x[0].dtype else { throw InferError(message: "reshape cannot change the element type (\(x[0]) to \(t))", operand: 0) }
        guard t.hasBatch == x[0].hasBatch else {
            throw InferError(message: "reshape must keep the batch dimension N on both sides (\(x[0]) to \(t))", operand: 0)
        }
        guard t.elementsPerExample == x[0].elementsPerExample else {
            throw InferError(message: "reshape must keep the number of elements (\(x[0]) to \(t))", operand: 0)
        }
        return t
    })

    /// A range along one axis (concat's gradient).
    static let slice = OpDefinition(OpSignature(.fixed(["x"]), [.required("axis", .int(min: 1)), .required("start", .int(min: 0)), .required("size", .int(min: 1))]),
                                    .injective, .perExampleUnlessAlongN, shape: { x, attrs, _ throws(InferError) in
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
    })
}
