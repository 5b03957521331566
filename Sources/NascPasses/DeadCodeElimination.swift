import NascIR

/// Removes every node no output depends on. Graph inputs stay: they are
/// the graph's signature, used or not.
public enum DeadCodeElimination {
    public static func run(_ graph: Graph) throws(PassError) -> Graph {
        let live = liveValues(graph)
        var g = graph
        g.nodes.removeAll { !live.contains($0.result) }
        return g
    }

    /// Values some output depends on.
    static func liveValues(_ graph: Graph) -> Set<String> {
        let defining = graph.definingNode
        var live = Set(graph.outputs.map(\.value))
        var work = Array(live)
        while let v = work.popLast() {
            guard let i = defining[v] else { continue }
            for operand in graph.nodes[i].operands where live.insert(operand).inserted { work.append(operand) }
        }
        return live
    }
}
