import NascIR

/// The graph for evaluation and deployment: every batch norm switches to
/// inference mode (normalizing by the running statistics the training steps
/// kept), so a prediction does not depend on the rest of its batch, and
/// every dropout and drop-path becomes the identity (its scaling at
/// training keeps expectations equal). A seed (or rate) input no op reads
/// any more stays an input.
public enum InferenceGraph {
    public static func run(_ graph: Graph) throws(PassError) -> Graph {
        var g = graph
        for i in g.nodes.indices where g.nodes[i].op == .batchNorm {
            g.nodes[i].attrs["mode"] = .symbol("infer")
        }
        for i in g.nodes.indices where g.nodes[i].op == .dropout || g.nodes[i].op == .dropPath {
            g.nodes[i] = Node(result: g.nodes[i].result, op: .identity, operands: [g.nodes[i].operands[0]], type: g.nodes[i].type)
        }
        return try GraphBuilder(g).finish(pass: "inference")
    }
}
