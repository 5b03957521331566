import NascIR

/// Seeded random values for a graph's inputs: f32 inputs standard normal;
/// i32 inputs uniform over the range every use accepts (class labels below
/// the number of logits, embedding ids below the vocabulary size).
public enum RandomInputs {
    public static func make(_ graph: Graph, batch: Int, seed: UInt64) -> [String: Tensor] {
        var rng = SeededGenerator(seed: seed ^ 0x5EED_1A9E)
        var out: [String: Tensor] = [:]
        let limits = graph.indexLimits()
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
}
