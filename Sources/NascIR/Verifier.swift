/// Checks a parsed graph and completes it: every value defined exactly once,
/// no cycles, operands and attributes as each op's signature requires, and
/// every type inferred and matched against the written one. Reports all
/// errors it can find (not just the first), sorted by position.
///
/// On success returns the graph with attribute defaults filled in,
/// attributes in canonical order and every node's type set. Node order is
/// kept; `Graph.sorted()` gives the canonical order.
public enum Verifier {
    public static func verify(_ input: Graph) throws(DiagnosticError) -> Graph {
        var graph = input
        var errors: [Diagnostic] = []
        func error(_ loc: SourceLoc, _ message: String) { errors.append(Diagnostic(loc, message)) }

        // Types of graph inputs and outputs, and unique names.
        var definedAt: [String: SourceLoc] = [:]
        var types: [String: TensorType] = [:]
        for input in graph.inputs {
            if let first = definedAt[input.name] {
                error(input.loc, "redefinition of '%\(input.name)' (first defined at line \(first.line))")
                continue
            }
            definedAt[input.name] = input.loc
            if let problem = typeProblem(input.type) {
                error(input.loc, "input '%\(input.name)': \(problem)")
            } else {
                types[input.name] = input.type
            }
        }
        var labels: Set<String> = []
        for output in graph.outputs {
            if !labels.insert(output.label).inserted { error(output.loc, "output '\(output.label)' is declared twice") }
            if let problem = typeProblem(output.type) { error(output.loc, "output '\(output.label)': \(problem)") }
        }

        // Definitions, operands, arity, attributes: checks that need no types.
        var broken = Set<Int>()   // nodes that cannot be typed
        for (i, node) in graph.nodes.enumerated() {
            if let first = definedAt[node.result] {
                error(node.loc, "redefinition of '%\(node.result)' (first defined at line \(first.line))")
                broken.insert(i)
            } else {
                definedAt[node.result] = node.loc
            }
        }
        for (i, node) in graph.nodes.enumerated() {
            for (k, operand) in node.operands.enumerated() where definedAt[operand] == nil {
                error(loc(node.operandLocs, k, node.loc), "use of undefined value '%\(operand)'")
                broken.insert(i)
            }
            if let message = arityProblem(node) {
                error(node.opLoc, message)
                broken.insert(i)
            }
            switch checkAttributes(node) {
            case .success(let attrs): graph.nodes[i].attrs = attrs
            case .failure(let d):
                errors.append(d)
                broken.insert(i)
            }
        }

        // Kernels (from fusion): one block each, no sources inside.
        var kernelEnd: [String: Int] = [:]
        for (i, node) in graph.nodes.enumerated() {
            guard let k = node.kernel else { continue }
            if let last = kernelEnd[k], last != i - 1, graph.nodes[i - 1].kernel != k {
                error(node.kernelLoc, "kernel @\(k) appears in two blocks; a kernel's nodes must be in one block")
            }
            kernelEnd[k] = i
            if node.op == .param || node.op == .state {
                error(node.opLoc, "a kernel cannot hold a '\(node.op.name)': parameters and states live outside kernels")
            }
        }

        // Cycles: whatever a topological sort cannot reach lies on or after one.
        let order = graph.topologicalOrder()
        if order.count < graph.nodes.count {
            let found = cycles(in: graph, ordered: Set(order))
            for cycle in found {
                let names = cycle.map { "%" + graph.nodes[$0].result }
                error(graph.nodes[cycle[0]].loc,
                      "cycle in the graph: \((names + [names[0]]).joined(separator: " -> ")) (each value feeds the next)")
            }
            if found.isEmpty {
                // No cycle among values: a kernel reaches itself through outside nodes.
                let left = Set(0..<graph.nodes.count).subtracting(order)
                var reported = Set<String>()
                for i in left.sorted() {
                    guard let k = graph.nodes[i].kernel, reported.insert(k).inserted else { continue }
                    error(graph.nodes[i].kernelLoc, "kernel @\(k) is not convex: a value it produces flows back into it through nodes outside it")
                }
            }
            broken.formUnion(Set(0..<graph.nodes.count).subtracting(order))
        }

        // Type inference in dependency order. A node whose operand failed is
        // skipped silently: its root cause is already reported.
        for i in order {
            let node = graph.nodes[i]
            guard !broken.contains(i) else { continue }
            let operandTypes = node.operands.compactMap { types[$0] }
            guard operandTypes.count == node.operands.count else { continue }
            let inferred: TensorType
            do {
                inferred = try ShapeInference.infer(node.op, operandTypes, graph.nodes[i].attrs, declared: node.type)
            } catch {
                let at = error.operand.map { loc(node.operandLocs, $0, node.opLoc) }
                    ?? error.attribute.map { node.attrLocs[$0] ?? node.opLoc }
                    ?? (node.op.signature.isSource && node.type != nil ? node.typeLoc : node.opLoc)
                errors.append(Diagnostic(at, error.message))
                continue
            }
            if let problem = typeProblem(inferred) {
                error(node.type != nil ? node.typeLoc : node.opLoc, "result of '\(node.op.name)': \(problem)")
                continue
            }
            if let declared = node.type, declared != inferred {
                error(node.typeLoc, "'\(node.op.name)' produces \(inferred), but the written type is \(declared)")
                continue
            }
            graph.nodes[i].type = inferred
            types[node.result] = inferred
        }

        // Outputs.
        for output in graph.outputs {
            guard definedAt[output.value] != nil else {
                error(output.valueLoc, "use of undefined value '%\(output.value)'")
                continue
            }
            if let t = types[output.value], t != output.type {
                error(output.valueLoc, "output '\(output.label)' is declared \(output.type) but '%\(output.value)' is \(t)")
            }
        }

        if !errors.isEmpty {
            throw DiagnosticError(errors.sorted { $0.loc < $1.loc })
        }
        return graph
    }

    /// Parses and verifies in one step; parse errors come back as a one-element `DiagnosticError`.
    public static func parseAndVerify(_ bytes: [UInt8]) throws(DiagnosticError) -> Graph {
        let parsed: Graph
        do { parsed = try Parser.parse(bytes) } catch { throw DiagnosticError([error]) }
        return try verify(parsed)
    }

    // MARK: - Checks

    /// Why a type cannot be a value's type, or nil if it can.
    static func typeProblem(_ t: TensorType) -> String? {
        if let i = t.dims.firstIndex(of: .batch), i != 0 || t.dims.lastIndex(of: .batch) != 0 {
            return "the batch dimension N may only be the leading dimension, got \(t)"
        }
        guard let n = t.elementsPerExample, n <= Limits.maxElements else {
            return "\(t) has more than \(Limits.maxElements) elements per example"
        }
        return nil
    }

    private static func arityProblem(_ node: Node) -> String? {
        let count = node.operands.count
        switch node.op.signature.arity {
        case .fixed(let names):
            guard count != names.count else { return nil }
            let list = names.isEmpty ? "" : " (" + names.joined(separator: ", ") + ")"
            return "'\(node.op.name)' takes \(names.count) operand\(names.count == 1 ? "" : "s")\(list), got \(count)"
        case .variadic(let min):
            return count >= min ? nil : "'\(node.op.name)' takes at least \(min) operand(s), got \(count)"
        }
    }

    /// Checks attributes against the signature; returns them complete (defaults
    /// filled in) and in the signature's order.
    private static func checkAttributes(_ node: Node) -> Result<Attributes, Diagnostic> {
        let signature = node.op.signature
        var out = Attributes()
        for entry in node.attrs.entries where signature.attribute(named: entry.name) == nil {
            let known = signature.attributes.map(\.name)
            let hint = known.isEmpty ? " ('\(node.op.name)' takes none)"
                : Suggest.didYouMean(entry.name, known).isEmpty ? " (expected: \(known.joined(separator: ", ")))"
                : Suggest.didYouMean(entry.name, known)
            return .failure(Diagnostic(node.attrLocs[entry.name] ?? node.opLoc,
                                       "unknown attribute '\(entry.name)' for '\(node.op.name)'\(hint)"))
        }
        for spec in signature.attributes {
            if let given = node.attrs[spec.name] {
                guard let value = spec.kind.accept(given) else {
                    return .failure(Diagnostic(node.attrLocs[spec.name] ?? node.opLoc,
                                               "attribute '\(spec.name)' of '\(node.op.name)' must be \(spec.kind.expectation), got \(given)"))
                }
                out[spec.name] = value
            } else if let value = spec.defaultValue {
                out[spec.name] = value
            } else if !spec.optional {
                return .failure(Diagnostic(node.opLoc, "'\(node.op.name)' needs attribute '\(spec.name)' (\(spec.kind.expectation))"))
            }
        }
        return .success(out)
    }

    /// One representative cycle per strongly connected group among the nodes a
    /// topological sort left out, each as node indices in dependency order.
    private static func cycles(in graph: Graph, ordered: Set<Int>) -> [[Int]] {
        let defining = graph.definingNode
        var found: [[Int]] = []
        var onReportedCycle = Set<Int>()
        for start in 0..<graph.nodes.count where !ordered.contains(start) && !onReportedCycle.contains(start) {
            // Walk operand edges among unsorted nodes; every unsorted node has
            // one, so the walk must revisit a node, closing a cycle.
            var path: [Int] = []
            var position: [Int: Int] = [:]
            var current: Int? = start
            while let node = current, position[node] == nil {
                position[node] = path.count
                path.append(node)
                current = graph.nodes[node].operands.lazy
                    .compactMap({ defining[$0] }).first(where: { !ordered.contains($0) })
            }
            guard let closing = current, let begin = position[closing] else { continue }
            // The walk goes from users to operands; reversed, values flow along the arrows.
            let cycle = Array(path[begin...].reversed())
            if cycle.contains(where: onReportedCycle.contains) { continue }
            onReportedCycle.formUnion(cycle)
            // Report from the node that comes first in the text.
            let first = cycle.firstIndex(of: cycle.min()!)!
            found.append(Array(cycle[first...] + cycle[..<first]))
        }
        return found
    }

    private static func loc(_ locs: [SourceLoc], _ i: Int, _ fallback: SourceLoc) -> SourceLoc {
        i < locs.count ? locs[i] : fallback
    }
}
