/// `param`, `state` and `const`: values that come from nowhere but the op
/// itself. Their type is written in the text; no kernel computes them.
enum SourceOps {
    static let initialization: [AttrSpec] = [
        .required("init", .symbol(OpSignature.initializers)),
        .optional("scale", .float),
        .optional("value", .float),
    ]

    /// A trainable parameter or a non-trainable buffer (batch-norm running statistics).
    static func parameter(_ op: Op) -> OpDefinition {
        .init(OpSignature(.fixed([]), initialization), .source, shape: { _, attrs, declared throws(InferError) in
            let t = try ShapeInference.sourceType(op, declared)
            guard !t.hasBatch else { throw InferError(message: "a \(op.name)'s shape must be static (no N)") }
            guard t.dtype == .f32 else { throw InferError(message: "a \(op.name) must be f32") }
            try checkInitializer(attrs)
            return t
        }, flops: FlopCount.none)
    }

    /// A splat constant.
    static let constant = OpDefinition(OpSignature(.fixed([]), [.required("value", .float)]), .source, shape: { _, attrs, declared throws(InferError) in
        let t = try ShapeInference.sourceType(.const, declared)
        guard t.dtype == .f32 || attrs.float("value") == attrs.float("value").rounded() else {
            throw InferError(message: "an i32 constant needs an integral value", attribute: "value")
        }
        return t
    }, flops: FlopCount.none)

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
}
