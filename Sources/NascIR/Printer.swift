/// Prints a graph in the canonical text form: one statement per line,
/// two-space indent, attributes in the op's declared order. Parsing the
/// output and printing again gives the same bytes.
public enum Printer {
    public static func print(_ graph: Graph) -> String {
        var out = "graph @\(graph.name)("
        out += graph.inputs.map { "%\($0.name): \($0.type)" }.joined(separator: ", ")
        out += ") -> ("
        out += graph.outputs.map { "\($0.label): \($0.type)" }.joined(separator: ", ")
        out += ") {\n"
        var open: String? = nil
        for node in graph.nodes {
            if node.kernel != open {
                if open != nil { out += "  }\n" }
                if let k = node.kernel { out += "  kernel @\(k) {\n" }
                open = node.kernel
            }
            out += (open == nil ? "  " : "    ") + print(node) + "\n"
        }
        if open != nil { out += "  }\n" }
        out += "  return"
        if !graph.outputs.isEmpty {
            out += " " + graph.outputs.map { "%" + $0.value }.joined(separator: ", ")
        }
        out += "\n}\n"
        return out
    }

    public static func print(_ node: Node) -> String {
        var line = "%\(node.result) = \(node.op.name)"
        if !node.operands.isEmpty {
            line += " " + node.operands.map { "%" + $0 }.joined(separator: ", ")
        }
        if !node.attrs.isEmpty {
            line += " {" + node.attrs.entries.map { "\($0.name) = \($0.value)" }.joined(separator: ", ") + "}"
        }
        if let type = node.type {
            line += " : \(type)"
        }
        return line
    }
}
