import NascIR

/// Seeded random values for a graph's inputs: f32 inputs standard normal;
/// i32 inputs uniform over the range every use accepts (class labels below
/// the number of logits, embedding ids below the vocabulary size).
public enum RandomInputs {
    public static func make(_ graph: Graph, batch: Int, seed: UInt64) -> [String: Tensor] {
        var rng = SeededGenerator(seed: seed ^ 0x5EED_1A9E)
        var out: [String: Tensor] = [:]
        let limits = indexLimits(graph)
        for input in graph.inputs {
            var t = Tensor(input.type.dtype, shape: input.type.bound(batch: batch))
            let limit = limits[input.name] ?? 2
            for i in 0..<t.count {
                t.data[i] = input.type.dtype == .f32 ? rng.normal() : Double(rng.index(limit))
            }
            out[input.name] = t
        }
        return out
    }

    /// The exclusive upper bound each i32 value must respect, from its uses.
    public static func indexLimits(_ graph: Graph) -> [String: Int] {
        let types = graph.valueTypes
        var limits: [String: Int] = [:]
        func limit(_ v: String, _ n: Int?) {
            guard let n else { return }
            limits[v] = min(limits[v] ?? n, n)
        }
        for node in graph.nodes {
            switch node.op {
            case .softmaxCrossEntropy, .softmaxCrossEntropyGrad:
                limit(node.operands[1], types[node.operands[0]]?.dims[1].staticValue)
            case .embedding:
                limit(node.operands[1], types[node.operands[0]]?.dims[0].staticValue)
            case .embeddingGrad:
                limit(node.operands[1], node.attrs.int("vocab"))
            default:
                break
            }
        }
        return limits
    }
}
