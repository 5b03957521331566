import NascIR

/// The graph for evaluation and deployment: every batch norm switches to
/// inference mode (normalizing by the running statistics the training steps
/// kept), so a prediction does not depend on the rest of its batch.
public enum InferenceGraph {
    public static func run(_ graph: Graph) throws(PassError) -> Graph {
        var g = graph
        for i in g.nodes.indices where g.nodes[i].op == .batchNorm {
            g.nodes[i].attrs["mode"] = .symbol("infer")
        }
        return try GraphBuilder(g).finish(pass: "inference")
    }
}
