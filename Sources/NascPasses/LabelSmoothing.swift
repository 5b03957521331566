import NascIR

/// Sets label smoothing ε on every softmax_cross_entropy of a graph (the
/// op's `smoothing` attribute), for training a final network: the target
/// becomes 1 - ε on the label and ε / classes on every class (Szegedy et
/// al., 2016). Weighted cross-entropy (REINFORCE's loss) is left alone.
public enum LabelSmoothing {
    public static func apply(_ epsilon: Double, to graph: Graph) -> Graph {
        var g = graph
        for i in g.nodes.indices where g.nodes[i].op == .softmaxCrossEntropy { g.nodes[i].attrs["smoothing"] = .float(epsilon) }
        return g
    }
}
