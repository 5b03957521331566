/// IR text of a graph `@g` from its signature parts and body lines (ending
/// in `return`), for the per-op test graphs.
public func graphText(_ inputs: String, _ output: String, _ lines: String) -> String {
    "graph @g(\(inputs)) -> (\(output)) {\n\(lines)\n}\n"
}

/// Per-op test graphs that the gradient checks (NascInterpreterTests) and
/// the JIT differential tests (NascLLVMTests) share: an op added through
/// the elementwise table gets both by appearing here.
public enum SharedOpGraphs {
    /// The activations search spaces choose among, at negative and positive
    /// inputs, with leaky_relu's slope set and defaulted.
    public static let activations: [(String, String)] = [
        ("activations: leaky_relu and silu", graphText("%x: f32[N,4,3], %y: i32[N]", "loss: f32[]", """
              %s = param {init = uniform, scale = 2.0} : f32[]
              %q = mul %x, %s
              %a = leaky_relu %q {slope = 0.2}
              %b = leaky_relu %a
              %c = silu %q
              %d = silu %b
              %e = add %c, %d
              %f = mul %e, %a
              %z = flatten %f
              %w = param {init = glorot_uniform} : f32[12,3]
              %logits = matmul %z, %w
              %loss = softmax_cross_entropy %logits, %y
              return %loss
            """)),
    ]
}
