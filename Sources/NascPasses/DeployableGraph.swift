import NascIR

/// A trained architecture ready to leave nasc (standalone C, ONNX): its
/// inference graph with the logits as the only output and the one f32 input
/// it reads, dead code removed, and the weights it reads, each present, of
/// the graph's shape and finite. Every exporter starts here, so each
/// refuses the same bad checkpoints with the same words.
public struct DeployableGraph: Sendable {
    public var graph: Graph
    public var weights: [String: Tensor]
    /// The image input (`%x`) and the logits output.
    public var input: GraphInput
    public var output: GraphOutput

    /// `simplify` also canonicalizes and merges common subexpressions, for
    /// backends that compile the graph; an exporter that keeps the user's
    /// structure passes false. Without weights (an architecture alone) only
    /// the graph is checked.
    public static func prepare(_ forward: Graph, weights: [String: Tensor]?, for target: String,
                               simplify: Bool = true) throws(PassError) -> DeployableGraph {
        var g = try InferenceGraph.run(forward)
        g.outputs.removeAll { $0.label == "loss" }
        guard g.outputs.count == 1, g.outputs[0].type.dtype == .f32 else {
            throw PassError("@\(forward.name) needs exactly one f32 output besides 'loss' (the logits) for \(target)")
        }
        g = try DeadCodeElimination.run(g)
        if simplify { g = try Pipeline.simplify(g) }
        let used = Set(g.nodes.flatMap(\.operands) + g.outputs.map(\.value))
        let inputs = g.inputs.filter { used.contains($0.name) }
        guard inputs.count == 1, inputs[0].type.dtype == .f32 else {
            throw PassError("\(target) takes one f32 input; @\(forward.name) uses \(inputs.map { "%" + $0.name }.joined(separator: ", "))")
        }
        g.inputs = inputs
        let deployable = DeployableGraph(graph: g, weights: weights ?? [:], input: inputs[0], output: g.outputs[0])
        if let weights { try checkWeights(weights, of: g) }
        return deployable
    }

    /// Every parameter and state of `graph` has a finite tensor of its shape in `weights`.
    public static func checkWeights(_ weights: [String: Tensor], of graph: Graph) throws(PassError) {
        for n in graph.nodes where n.op == .param || n.op == .state {
            guard let v = weights[n.result] else { throw PassError("the weights have no tensor for '%\(n.result)'") }
            guard v.shape == n.type!.bound(batch: 1) else { throw PassError("'%\(n.result)' is \(v.shape) in the weights but \(n.type!) in the graph") }
        }
        try checkFinite(weights, of: graph, " in the weights")
    }

    /// Each value's users; a graph output counts as one (an identity named
    /// after its label), so an exporter folds nothing away that the graph returns.
    public var users: [String: [Node]] {
        var out: [String: [Node]] = [:]
        for n in graph.nodes { for v in n.operands { out[v, default: []].append(n) } }
        for o in graph.outputs { out[o.value, default: []].append(Node(result: o.label, op: .identity)) }
        return out
    }

    /// Weights become constants in the exported model: a NaN or an infinity
    /// there means training diverged, and would compute nothing useful.
    public func checkFinite(_ context: String) throws(PassError) {
        try Self.checkFinite(weights, of: graph, context)
    }

    static func checkFinite(_ weights: [String: Tensor], of graph: Graph, _ context: String) throws(PassError) {
        for n in graph.nodes where n.op == .param || n.op == .state {
            guard let t = weights[n.result], let bad = t.data.firstIndex(where: { !Float($0).isFinite }) else { continue }
            throw PassError("'%\(n.result)' holds \(t.data[bad]) at element \(bad)\(context): exporting needs finite weights (did training diverge?)")
        }
    }
}
