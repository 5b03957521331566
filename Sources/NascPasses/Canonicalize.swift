import Foundation
import NascIR

/// Local simplifications, one rule per line of the table below, applied in
/// dependency order until nothing changes: drop identities (x·1, x+0, x−0,
/// x/1, identity, reshapes to the same type, −(−x)) and fold ops whose
/// operands are all constants. A rule only replaces a value by one of
/// exactly the same type, so no shape ever changes.
public enum Canonicalize {
    /// What a rule does with a node: nothing, use an existing value instead,
    /// or become a constant.
    enum Rewrite {
        case value(String)
        case constant(Double)
    }

    struct Context {
        let types: [String: TensorType]
        let nodes: [String: Node]

        func constant(_ v: String) -> Double? {
            guard let n = nodes[v], n.op == .const else { return nil }
            return n.attrs.float("value")
        }
        func sameType(_ a: String, _ b: String) -> Bool { types[a] == types[b] }
    }

    typealias Rule = (name: String, apply: (Node, Context) -> Rewrite?)

    static let rules: [Rule] = [
        ("identity", { n, _ in n.op == .identity ? .value(n.operands[0]) : nil }),
        ("same-type reshape", { n, c in
            (n.op == .reshape || n.op == .flatten) && c.types[n.operands[0]] == n.type ? .value(n.operands[0]) : nil }),
        ("double negation", { n, c in
            guard n.op == .neg, let inner = c.nodes[n.operands[0]], inner.op == .neg else { return nil }
            return .value(inner.operands[0]) }),
        ("x * 1, 1 * x", { n, c in
            guard n.op == .mul else { return nil }
            for (k, other) in [(1, 0), (0, 1)] where c.constant(n.operands[k]) == 1 && c.sameType(n.operands[other], n.result) {
                return .value(n.operands[other])
            }
            return nil }),
        ("x + 0, 0 + x", { n, c in
            guard n.op == .add else { return nil }
            for (k, other) in [(1, 0), (0, 1)] where c.constant(n.operands[k]) == 0 && c.sameType(n.operands[other], n.result) {
                return .value(n.operands[other])
            }
            return nil }),
        ("x - 0, x / 1", { n, c in
            guard (n.op == .sub && c.constant(n.operands[1]) == 0) || (n.op == .div && c.constant(n.operands[1]) == 1),
                  c.sameType(n.operands[0], n.result) else { return nil }
            return .value(n.operands[0]) }),
        ("constant folding", { n, c in
            let values = n.operands.map(c.constant)
            guard !n.operands.isEmpty, values.allSatisfy({ $0 != nil }), n.type?.dtype == .f32,
                  let v = fold(n, values.map { $0! }), v.isFinite else { return nil }
            return .constant(v) }),
    ]

    /// An elementwise op on constants, by its formula (the rule above keeps
    /// only finite results: no sqrt of a negative, no division by zero).
    static func fold(_ node: Node, _ x: [Double]) -> Double? {
        node.op.elementwise?.formula.evaluate(x, node.attrs)
    }

    public static func run(_ graph: Graph) throws(PassError) -> Graph {
        var g = graph.sorted()
        var changed = true
        while changed {
            changed = false
            var substitution = Substitution()
            var byName = Dictionary(uniqueKeysWithValues: g.nodes.map { ($0.result, $0) })
            let types = g.valueTypes
            for i in g.nodes.indices {
                g.nodes[i].operands = g.nodes[i].operands.map(substitution.resolve)
                let node = g.nodes[i]
                let context = Context(types: types, nodes: byName)
                for rule in rules {
                    guard let rewrite = rule.apply(node, context) else { continue }
                    switch rewrite {
                    case .value(let v):
                        substitution.replace(node.result, with: v)
                    case .constant(let v):
                        g.nodes[i] = Node(result: node.result, op: .const, attrs: Attributes([("value", .float(v))]), type: node.type)
                        byName[node.result] = g.nodes[i]
                    }
                    changed = true
                    break
                }
            }
            substitution.apply(to: &g)
            g = try DeadCodeElimination.run(g)
        }
        return try GraphBuilder(g).finish(pass: "canonicalize")
    }
}
