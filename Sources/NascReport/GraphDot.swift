import NascIR
import NascPasses

/// A graph as Graphviz text, to see a stage rather than read it: one box
/// per op (its op and value name), inputs, parameters and states as their
/// own shapes, every edge labelled with the type of the value it carries.
/// After fusion, the ops of each kernel sit in a cluster named after it;
/// with a memory plan, each edge also says how large its buffer is and
/// where it lives (the arena offset, or the value it overwrites).
public enum GraphDot {
    public static func text(_ graph: Graph, plan: MemoryPlan? = nil) -> String {
        var ids: [String: String] = [:]
        var out = "digraph \(quote("@" + graph.name)) {\n"
        // newrank: Graphviz's older ranking fails ("trouble in init_rank") on
        // some graphs whose clusters edges cross.
        out += "  rankdir=TB; newrank=true;\n  node [fontname=\"Helvetica\", fontsize=10];\n  edge [fontname=\"Helvetica\", fontsize=8, color=\"#555555\"];\n"
        for (i, input) in graph.inputs.enumerated() {
            ids[input.name] = "in\(i)"
            out += "  in\(i) [shape=ellipse, style=filled, fillcolor=\"#dbe9f6\", label=\(quote("%\(input.name)\n\(input.type)"))];\n"
        }
        let buffers = Dictionary((plan?.buffers ?? []).map { ($0.value, $0) }, uniquingKeysWith: { a, _ in a })
        // Kernels as clusters, in the order they run; ops outside any kernel at top level.
        var kernelOrder: [String] = []
        var members: [String: [Int]] = [:]
        for (i, node) in graph.nodes.enumerated() {
            ids[node.result] = "n\(i)"
            guard let k = node.kernel else { continue }
            if members[k] == nil { kernelOrder.append(k) }
            members[k, default: []].append(i)
        }
        func box(_ i: Int, indent: String) -> String {
            let node = graph.nodes[i]
            let (shape, fill) = style(node.op)
            return "\(indent)n\(i) [shape=\(shape), style=filled, fillcolor=\"\(fill)\", label=\(quote("\(node.op.rawValue)\n%\(node.result)"))];\n"
        }
        for (i, node) in graph.nodes.enumerated() where node.kernel == nil { out += box(i, indent: "  ") }
        for (c, k) in kernelOrder.enumerated() {
            out += "  subgraph cluster_\(c) {\n    label=\(quote("@" + k)); style=rounded; color=\"#c0504d\"; fontcolor=\"#c0504d\"; fontsize=9;\n"
            for i in members[k]! { out += box(i, indent: "    ") }
            out += "  }\n"
        }
        let types = graph.valueTypes
        for (i, node) in graph.nodes.enumerated() {
            for operand in node.operands {
                guard let from = ids[operand] else { continue }
                out += "  \(from) -> n\(i) [label=\(quote(edgeLabel(operand, types[operand], buffers[operand])))];\n"
            }
        }
        for (i, output) in graph.outputs.enumerated() {
            out += "  out\(i) [shape=plaintext, label=\(quote(output.label))];\n"
            if let from = ids[output.value] {
                out += "  \(from) -> out\(i) [label=\(quote(edgeLabel(output.value, types[output.value], buffers[output.value]))), style=dashed];\n"
            }
        }
        return out + "}\n"
    }

    static func edgeLabel(_ value: String, _ type: TensorType?, _ buffer: MemoryPlan.Buffer?) -> String {
        var label = type.map { "\($0)" } ?? ""
        if let buffer {
            switch buffer.placement {
            case .arena(let offset): label += "\n\(MemoryPlan.human(buffer.bytes)) @\(offset)"
            case .inPlace(let of): label += "\n\(MemoryPlan.human(buffer.bytes)) in %\(of)"
            }
        }
        return label
    }

    /// Box shape and colour by what an op is: data, elementwise, or an anchor.
    static func style(_ op: Op) -> (String, String) {
        if op == .param { return ("box", "#f2e6c9") }
        if op == .state { return ("box", "#e6e6e6") }
        if op == .const { return ("box", "#eeeeee") }
        return op.elementwise != nil ? ("box", "#e8f4e0") : ("box", "#fbe3d6")
    }

    /// A Graphviz string literal.
    public static func quote(_ s: String) -> String {
        "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\n", with: "\\n") + "\""
    }
}
