/// Why a node's type could not be inferred, pointing at the operand or
/// attribute to blame so the diagnostic's caret lands there.
public struct InferError: Error {
    public var message: String
    public var operand: Int? = nil
    public var attribute: String? = nil
}

/// Type and shape inference: each op's rule is in its entry of the op table
/// (Ops/); these are the checks the rules share. Attributes have already
/// been checked against the op's signature (kinds, ranges, defaults filled in).
public enum ShapeInference {
    public static func infer(_ op: Op, _ x: [TensorType], _ attrs: Attributes,
                             declared: TensorType?) throws(InferError) -> TensorType {
        try op.definition.shape(x, attrs, declared)
    }

    static func sourceType(_ op: Op, _ declared: TensorType?) throws(InferError) -> TensorType {
        guard let t = declared else {
            throw InferError(message: "'\(op.name)' needs its type written after ':', e.g. ': f32[36,1,3,3]'")
        }
        return t
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

    static func requireSame(_ x: [TensorType], _ op: Op) throws(InferError) {
        guard x[0] == x[1] else { throw InferError(message: "'\(op.name)' operands must have the same type: \(x[0]) and \(x[1])", operand: 1) }
    }

    /// Output size along one spatial axis. `same` keeps ceil(size / stride)
    /// (TensorFlow's rule); `valid` needs the window (its dilated extent) to fit.
    static func window(_ size: Dim, kernel: Int, stride: Int, pad: String, dilation: Int = 1, what: String) throws(InferError) -> Dim {
        guard case .fixed(let n) = size else { throw InferError(message: "spatial \(what) must be static", operand: 0) }
        if pad == "same" { return .fixed((n - 1) / stride + 1) }
        let extent = dilation * (kernel - 1) + 1
        guard extent <= n else {
            let dilated = dilation == 1 ? "" : " (\(kernel) taps with dilation \(dilation))"
            throw InferError(message: "window \(what) \(extent)\(dilated) is larger than the input \(what) \(n) with pad = valid", operand: 0)
        }
        return .fixed((n - extent) / stride + 1)
    }

    /// Output height and width of a window op over `input` [N,C,H,W] with the
    /// node's stride, pad and (for convolutions) dilation.
    static func windowed(_ input: [Dim], kernel: [Int], _ attrs: Attributes) throws(InferError) -> (Dim, Dim) {
        let (stride, pad, dilation) = (attrs.ints("stride"), attrs.symbol("pad"), attrs.dilation)
        return (try window(input[2], kernel: kernel[0], stride: stride[0], pad: pad, dilation: dilation[0], what: "height"),
                try window(input[3], kernel: kernel[1], stride: stride[1], pad: pad, dilation: dilation[1], what: "width"))
    }

    /// Checks that a window op over `size` with these attributes produces the
    /// spatial size (and optionally channels and batch) of `output`, so a
    /// gradient op cannot silently disagree with its forward op.
    static func checkWindowed(from size: [Int], kernel: [Int], _ attrs: Attributes, gives output: [Dim],
                              channels: Dim? = nil, batch: Dim? = nil) throws(InferError) {
        let (h, w) = try windowed([.fixed(1), .fixed(1), .fixed(size[0]), .fixed(size[1])], kernel: kernel, attrs)
        guard output.count == 4, output[2] == h, output[3] == w else {
            throw InferError(message: "a \(size[0])x\(size[1]) input gives \(h)x\(w) outputs with these attributes, which does not match dy \(TensorType(.f32, output))", operand: 0)
        }
        if let c = channels, output[1] != c { throw InferError(message: "dy has \(output[1]) channels, x has \(c)", operand: 0) }
        if let n = batch, output[0] != n { throw InferError(message: "dy and x have different batch sizes", operand: 0) }
    }
}
