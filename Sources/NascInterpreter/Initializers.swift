import NascIR

/// Initial values of `param` and `state` nodes from their `init` attribute.
///
/// Fan-in and fan-out follow the usual convention: for a conv filter
/// [O, C, KH, KW], fan_in = C*KH*KW and fan_out = O*KH*KW; for a matrix
/// [I, O] (matmul's right operand), fan_in = I and fan_out = O; a vector uses
/// its length for both.
public enum Initializers {
    public static func initialize(_ node: Node, _ rng: inout SeededGenerator) -> Tensor {
        let shape = (node.type ?? TensorType(.f32, [])).bound(batch: 1)
        var t = Tensor(shape: shape)
        let (fanIn, fanOut) = fans(shape)
        let kind = node.attrs.symbol("init")
        for i in 0..<t.count {
            switch kind {
            case "zeros": t.data[i] = 0
            case "ones": t.data[i] = 1
            case "constant": t.data[i] = node.attrs.float("value")
            case "uniform": t.data[i] = rng.uniform(node.attrs.float("scale"))
            case "normal": t.data[i] = rng.normal() * node.attrs.float("scale")
            case "he_normal": t.data[i] = rng.normal() * (2.0 / Double(fanIn)).squareRoot()
            case "he_uniform": t.data[i] = rng.uniform((6.0 / Double(fanIn)).squareRoot())
            case "glorot_normal": t.data[i] = rng.normal() * (2.0 / Double(fanIn + fanOut)).squareRoot()
            case "glorot_uniform": t.data[i] = rng.uniform((6.0 / Double(fanIn + fanOut)).squareRoot())
            default: t.data[i] = 0  // the verifier admits only the kinds above
            }
        }
        return t
    }

    static func fans(_ shape: [Int]) -> (Int, Int) {
        switch shape.count {
        case 0: return (1, 1)
        case 1: return (shape[0], shape[0])
        case 2: return (shape[0], shape[1])
        default:
            let receptive = shape.dropFirst(2).reduce(1, *)
            return (shape[1] * receptive, shape[0] * receptive)
        }
    }

    /// Fresh values for every `param` and `state` of a graph, by name.
    /// Each node draws from its own stream seeded by the seed and its position
    /// among the sources, so adding a layer leaves earlier layers' values unchanged.
    public static func initializeAll(_ graph: Graph, seed: UInt64) -> [String: Tensor] {
        var out: [String: Tensor] = [:]
        var k: UInt64 = 0
        for node in graph.nodes where node.op == .param || node.op == .state {
            var rng = SeededGenerator(seed: seed &* 0x1000_0001 &+ k)
            out[node.result] = initialize(node, &rng)
            k += 1
        }
        return out
    }
}
