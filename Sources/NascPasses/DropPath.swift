import NascIR

/// Drop-path for training a final network (Larsson et al. 2017; NASNet and
/// DARTS train their cells with it): each path into a sum is zeroed for a
/// whole example with probability `rate`, so a network cannot lean on any
/// one path. A *path* is an operand of an `add` that only that sum reads:
/// the operations of a cell's block, the residual branch of a residual
/// block (stochastic depth). An operand read elsewhere too (a cell input
/// another block also reads, a skip connection) is kept, as DARTS keeps
/// identity branches. Like label smoothing it changes the training graph
/// only: the architecture (its hash, which checkpoints carry), inference
/// and every export stay as written.
///
/// The rate is a runtime input (`rateInput`, f32[]) so that the trainer's
/// schedule raises it step by step without a new kernel; the masks come
/// from `seedInput` (i32[]), one stream per path.
public enum DropPath {
    public static let seedInput = "drop_path.seed"
    public static let rateInput = "drop_path.rate"

    /// `graph` with a drop_path on every path; `paths` is how many.
    public static func apply(to graph: Graph) -> (graph: Graph, paths: Int) {
        var g = graph
        let types = g.valueTypes
        var uses: [String: Int] = [:]
        for node in g.nodes { for v in node.operands { uses[v, default: 0] += 1 } }
        for output in g.outputs { uses[output.value, default: 0] += 1 }
        let computed = Dictionary(g.nodes.map { ($0.result, $0.op) }, uniquingKeysWith: { a, _ in a })
        var names = Set(g.inputs.map(\.name) + g.nodes.map(\.result))
        var added: [Node] = []
        for i in g.nodes.indices where g.nodes[i].op == .add {
            let operands = g.nodes[i].operands
            guard operands.count == 2, operands[0] != operands[1], types[operands[0]] == types[operands[1]] else { continue }
            for k in 0..<2 {
                let v = operands[k]
                guard uses[v] == 1, let op = computed[v], op != .param, op != .state, op != .const,
                      let type = types[v], type.hasBatch, type.dtype == .f32 else { continue }
                var name = v + ".dropped", n = 0
                while names.contains(name) { n += 1; name = v + ".dropped.\(n)" }
                names.insert(name)
                var attrs = Attributes()
                attrs["stream"] = .int(added.count)
                added.append(Node(result: name, op: .dropPath, operands: [v, seedInput, rateInput], attrs: attrs, type: type))
                g.nodes[i].operands[k] = name
            }
        }
        guard !added.isEmpty else { return (graph, 0) }
        g.inputs += [GraphInput(name: seedInput, type: TensorType(.i32, [])), GraphInput(name: rateInput, type: TensorType(.f32, []))]
        g.nodes += added
        return (g, added.count)
    }
}
