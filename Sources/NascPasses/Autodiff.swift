import NascIR

/// Reverse-mode automatic differentiation on the graph.
///
/// Input: a verified graph with a scalar `f32[]` output (the loss, labelled
/// `loss` unless told otherwise). Output: the same graph plus the backward
/// nodes, with one more output per parameter, `grad.<param>`, holding the
/// loss's gradient with respect to that `param`. The backward nodes are
/// ordinary IR ops (see GradientRules.swift), so later passes fuse and lower
/// them like the forward ones.
///
/// Only values that depend on a parameter and lead to the loss get
/// gradients; a parameter the loss does not use gets a zero gradient.
public enum Autodiff {
    public static func run(_ graph: Graph, loss lossLabel: String = "loss") throws(PassError) -> Graph {
        guard let lossOutput = graph.outputs.first(where: { $0.label == lossLabel }) else {
            let labels = graph.outputs.map(\.label)
            throw PassError("autodiff: @\(graph.name) has no output labelled '\(lossLabel)' (outputs: \(labels.isEmpty ? "none" : labels.joined(separator: ", ")))")
        }
        guard lossOutput.type == TensorType(.f32, []) else {
            throw PassError("autodiff: the loss '\(lossLabel)' must be a scalar f32[], but it is \(lossOutput.type)")
        }
        let params = graph.nodes.filter { $0.op == .param }.map(\.result)
        let order = graph.topologicalOrder()
        let active = activeValues(graph, order: order, from: Set(params), to: lossOutput.value)

        var b = GradientBuilder(builder: GraphBuilder(graph))
        var contributions: [String: [String]] = [:]
        let seed = try b.add(.const, [], ["value": .float(1)], name: lossOutput.value + ".grad", type: TensorType(.f32, []))
        contributions[lossOutput.value] = [seed]

        var gradient: [String: String] = [:]
        for i in order.reversed() {
            let node = graph.nodes[i]
            guard active.contains(node.result), let parts = contributions[node.result] else { continue }
            let dy = try sum(parts, &b, name: node.result + ".grad")
            gradient[node.result] = dy
            guard node.operands.contains(where: active.contains) else { continue }
            guard let rule = GradientRules.rule(for: node.op) else {
                throw PassError("autodiff: '\(node.op.name)' (defining '%\(node.result)') has no gradient rule")
            }
            for (k, operand) in node.operands.enumerated() where active.contains(operand) {
                let site = GradientSite(node: node, operand: k, dy: dy, name: operand + ".grad")
                if let part = try rule(&b, site) { contributions[operand, default: []].append(part) }
            }
        }

        var builder = b.builder
        for p in params {
            let g: String
            if let existing = gradient[p] {
                g = existing
            } else {
                g = try builder.add(.const, [], ["value": .float(0)], name: p + ".grad", type: builder.type(of: p))
            }
            builder.addOutput("grad." + p, g)
        }
        return try builder.finish(pass: "autodiff")
    }

    /// Values on a path from a parameter to the loss.
    static func activeValues(_ graph: Graph, order: [Int], from params: Set<String>, to loss: String) -> Set<String> {
        var dependsOnParam = params
        for i in order {
            let n = graph.nodes[i]
            if n.operands.contains(where: dependsOnParam.contains) { dependsOnParam.insert(n.result) }
        }
        var leadsToLoss: Set<String> = [loss]
        for i in order.reversed() where leadsToLoss.contains(graph.nodes[i].result) {
            leadsToLoss.formUnion(graph.nodes[i].operands)
        }
        return dependsOnParam.intersection(leadsToLoss)
    }

    /// Adds up a value's gradient contributions (a value used twice gets two).
    private static func sum(_ parts: [String], _ b: inout GradientBuilder, name: String) throws(PassError) -> String {
        var total = parts[0]
        for p in parts.dropFirst() { total = try b.add(.add, [total, p], name: name) }
        return total
    }
}
