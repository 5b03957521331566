import NascIR

/// Common subexpression elimination: two nodes with the same op, attributes,
/// type and operands (in any order for commutative ops) compute the same
/// value, so the later one is replaced by the earlier. Parameters and states
/// are never merged: two equal declarations are two different tensors.
public enum CommonSubexpressions {
    struct Key: Hashable {
        let op: Op
        let attrs: Attributes
        let type: TensorType?
        let operands: [String]
    }

    public static func run(_ graph: Graph) throws(PassError) -> Graph {
        var g = graph.sorted()
        var seen: [Key: String] = [:]
        var substitution = Substitution()
        for node in g.nodes where node.op != .param && node.op != .state {
            var operands = node.operands.map(substitution.resolve)
            if node.op.signature.commutative { operands.sort() }
            let key = Key(op: node.op, attrs: node.attrs, type: node.type, operands: operands)
            if let first = seen[key] {
                substitution.replace(node.result, with: first)
            } else {
                seen[key] = node.result
            }
        }
        substitution.apply(to: &g)
        return try GraphBuilder(try DeadCodeElimination.run(g)).finish(pass: "cse")
    }
}
