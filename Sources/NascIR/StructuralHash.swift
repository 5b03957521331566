/// The canonical structural hash of a verified graph: the identity of a child
/// architecture. It ignores value names and the textual order of ops, and
/// ignores operand order for commutative ops; everything else (ops,
/// attributes, types, edges, which values are shared, the outputs) changes it.
///
/// Each value gets a Merkle hash of its definition: op, attributes, type and
/// its operands' hashes (inputs hash by position and type). Merkle hashes
/// alone cannot tell one shared value from two identical ones, so the graph's
/// hash also covers the sorted multiset of (value hash, number of uses).
public enum StructuralHash {
    public static func hash(_ graph: Graph) -> String {
        var valueHash: [String: String] = [:]
        var uses: [String: Int] = [:]
        for (i, input) in graph.inputs.enumerated() {
            valueHash[input.name] = SHA256.hex("input \(i) \(input.type)")
        }
        for i in graph.topologicalOrder() {
            let node = graph.nodes[i]
            var operands = node.operands.map { valueHash[$0] ?? "?" }
            if node.op.signature.commutative { operands.sort() }
            for operand in node.operands { uses[operand, default: 0] += 1 }
            let attrs = node.attrs.entries.map { "\($0.name)=\($0.value)" }.joined(separator: ",")
            let type = node.type.map(\.description) ?? "?"
            valueHash[node.result] = SHA256.hex("\(node.op.name) {\(attrs)} : \(type) (\(operands.joined(separator: ",")))")
        }
        for output in graph.outputs { uses[output.value, default: 0] += 1 }

        var summary = "graph"
        for output in graph.outputs {
            summary += "\nout \(output.label): \(output.type) = \(valueHash[output.value] ?? "?")"
        }
        let values = graph.inputs.map(\.name) + graph.nodes.map(\.result)
        for entry in values.map({ "\(valueHash[$0] ?? "?") x\(uses[$0] ?? 0)" }).sorted() {
            summary += "\n" + entry
        }
        return SHA256.hex(summary)
    }
}
