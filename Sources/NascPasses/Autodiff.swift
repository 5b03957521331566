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
        // Contributions a merged sum replaced are read by nothing now.
        builder.removeNodes(Set(b.made.keys).subtracting(DeadCodeElimination.liveValues(builder.graph)))
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
        let parts = try mergingProducts(try mergingSlices(parts, &b, name: name), &b, name: name)
        var total = parts[0]
        for p in parts.dropFirst() { total = try b.add(.add, [total, p], name: name) }
        return total
    }

    /// A value read in pieces (the gates of an LSTM, the time steps of a
    /// sequence) gets one contribution per piece: the piece's gradient with
    /// zeros around it (the slice rule). When the pieces do not overlap,
    /// their sum is one concat of the pieces' gradients, zeros in the gaps.
    private static func mergingSlices(_ parts: [String], _ b: inout GradientBuilder, name: String) throws(PassError) -> [String] {
        struct Piece { var part: String, axis: Int, start: Int, size: Int, value: String }
        func isZeros(_ v: String) -> Bool {
            guard let n = b.made[v], n.op == .const, case .float(0)? = n.attrs["value"] else { return false }
            return true
        }
        func piece(_ v: String) -> Piece? {
            guard let n = b.made[v], n.op == .concat else { return nil }
            let axis = n.attrs.int("axis")
            let inner = n.operands.filter { !isZeros($0) }
            guard inner.count == 1, n.operands.count <= 3, let k = n.operands.firstIndex(of: inner[0]) else { return nil }
            let start = n.operands[..<k].reduce(0) { $0 + (b.type(of: $1).dims[axis].staticValue ?? 0) }
            guard let size = b.type(of: inner[0]).dims[axis].staticValue else { return nil }
            return Piece(part: v, axis: axis, start: start, size: size, value: inner[0])
        }
        // The pieces along the first one's axis, skipping any that overlaps
        // one taken before it (it stays a separate term of the sum).
        var pieces: [Piece] = []
        for p in parts.compactMap(piece).sorted(by: { $0.start < $1.start }) {
            guard p.axis == (pieces.first?.axis ?? p.axis), p.start >= (pieces.last.map { $0.start + $0.size } ?? 0) else { continue }
            pieces.append(p)
        }
        guard pieces.count >= 2 else { return parts }
        let type = b.type(of: pieces[0].part), axis = pieces[0].axis
        guard let total = type.dims[axis].staticValue else { return parts }
        var operands: [String] = [], at = 0
        func zeros(_ length: Int) throws(PassError) {
            guard length > 0 else { return }
            var dims = type.dims
            dims[axis] = .fixed(length)
            operands.append(try b.add(.const, [], ["value": .float(0)], name: name + ".zeros", type: TensorType(.f32, dims)))
        }
        for p in pieces {
            try zeros(p.start - at)
            operands.append(p.value)
            at = p.start + p.size
        }
        try zeros(total - at)
        let merged = try b.add(.concat, operands, ["axis": .int(axis)], name: name + ".pieces")
        let used = Set(pieces.map(\.part))
        return [merged] + parts.filter { !used.contains($0) }
    }

    /// A weight read by many matrix products (a recurrent cell's matrix at
    /// every time step) gets one contribution aᵢᵀ·bᵢ per product; their sum
    /// is one product of the stacked rows, [a₁; a₂; ...]ᵀ·[b₁; b₂; ...]:
    /// one large GEMM instead of many small ones and the additions between
    /// them. Only for static shapes (rows of N cannot be stacked in a type).
    private static func mergingProducts(_ parts: [String], _ b: inout GradientBuilder, name: String) throws(PassError) -> [String] {
        func stackable(_ v: String) -> Node? {
            guard let n = b.made[v], n.op == .matmul, n.attrs.bool("transpose_a"), !n.attrs.bool("transpose_b"),
                  !n.operands.contains(where: { b.type(of: $0).hasBatch }) else { return nil }
            return n
        }
        let products = parts.compactMap(stackable)
        guard products.count >= 2 else { return parts }
        let rest = parts.filter { stackable($0) == nil }
        let lhs = try b.add(.concat, products.map { $0.operands[0] }, ["axis": .int(0)], name: name + ".stacked_lhs")
        let rhs = try b.add(.concat, products.map { $0.operands[1] }, ["axis": .int(0)], name: name + ".stacked_rhs")
        let merged = try b.add(.matmul, [lhs, rhs], ["transpose_a": .bool(true), "transpose_b": .bool(false)], name: name + ".stacked")
        return [merged] + rest
    }
}
