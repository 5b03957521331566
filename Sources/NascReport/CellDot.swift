import NascSearch

/// A child of the cell space drawn as the papers draw its cells (NASNet's
/// figure 4, ENAS's figure 7): for the normal and the reduction cell, the
/// two inputs c_{k-2} and c_{k-1}, one node per block (the add of its two
/// branches), an edge per branch labelled with its operation, and the
/// cell's output c_{k}, the concatenation of the loose ends. The network
/// these cells are stacked into is what `GraphDot` draws.
public enum CellDot {
    public static func text(_ space: CellSpace, _ choices: [Int], title: String = "cells") -> String {
        let choices = space.canonical(choices)
        var out = "digraph \(GraphDot.quote(title)) {\n"
        out += "  rankdir=LR; newrank=true;\n  node [fontname=\"Helvetica\", fontsize=10];\n  edge [fontname=\"Helvetica\", fontsize=9, color=\"#555555\"];\n"
        for (k, kind) in CellSpace.CellKind.allCases.enumerated() {
            let blocks = space.cell(kind, choices)
            let id = { (state: Int) in "k\(k)s\(state)" }
            out += "  subgraph cluster_\(kind.rawValue) {\n"
            out += "    label=\(GraphDot.quote("\(kind.rawValue) cell")); style=rounded; color=\"#999999\"; fontsize=11;\n"
            out += "    \(id(0)) [shape=box, style=filled, fillcolor=\"#dbe9f6\", label=\"c_{k-2}\"];\n"
            out += "    \(id(1)) [shape=box, style=filled, fillcolor=\"#dbe9f6\", label=\"c_{k-1}\"];\n"
            for b in blocks.indices {
                out += "    \(id(b + 2)) [shape=circle, style=filled, fillcolor=\"#e8f4e0\", label=\"\(b)\"];\n"
            }
            out += "    k\(k)out [shape=box, style=filled, fillcolor=\"#fbe3d6\", label=\"c_{k}\\nconcat\"];\n"
            for (b, block) in blocks.enumerated() {
                for (input, op) in [(block.inputs.0, block.ops.0), (block.inputs.1, block.ops.1)] {
                    // Stride 2 where a reduction cell's op reads a cell input.
                    let strided = kind == .reduction && input < 2 && op != .identity ? ", stride 2" : kind == .reduction && input < 2 ? " (1x1, stride 2)" : ""
                    out += "    \(id(input)) -> \(id(b + 2)) [label=\(GraphDot.quote(op.label + strided))];\n"
                }
            }
            for end in CellSpace.looseEnds(blocks) { out += "    \(id(end)) -> k\(k)out;\n" }
            out += "  }\n"
        }
        return out + "}\n"
    }
}
