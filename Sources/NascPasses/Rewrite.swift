import NascIR

/// Replacing values: a pass that decides value `a` can stand for value `b`
/// records it here, and `apply` rewrites every use (operands and outputs).
struct Substitution {
    private var map: [String: String] = [:]

    mutating func replace(_ old: String, with new: String) { map[old] = resolve(new) }

    func resolve(_ v: String) -> String {
        var v = v
        while let next = map[v] { v = next }
        return v
    }

    var isEmpty: Bool { map.isEmpty }

    func apply(to graph: inout Graph) {
        for i in graph.nodes.indices { graph.nodes[i].operands = graph.nodes[i].operands.map(resolve) }
        for i in graph.outputs.indices { graph.outputs[i].value = resolve(graph.outputs[i].value) }
    }
}
