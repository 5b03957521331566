import NascIR
import NascPasses

/// Folds inference-mode batch norm into the convolution before it, with the
/// trained values: w' = w * gamma / sqrt(var + eps) per output channel, and a
/// bias b' = beta - gamma * mean / sqrt(var + eps) (plus the conv's own bias,
/// scaled). The deployed code then runs one conv and one bias per layer.
enum FoldBatchNorm {
    static func run(_ graph: Graph, _ values: inout [String: Tensor]) throws -> Graph {
        var g = graph
        let defining = g.definingNode
        var uses: [String: Int] = [:]
        for n in g.nodes { for v in n.operands { uses[v, default: 0] += 1 } }
        for o in g.outputs { uses[o.value, default: 0] += 1 }
        var replaced = false
        for (i, n) in g.nodes.enumerated() where n.op == .batchNorm && n.attrs.symbol("mode") == "infer" {
            guard let ci = defining[n.operands[0]], g.nodes[ci].op == .conv2d, uses[g.nodes[ci].result] == 1,
                  let w = values[g.nodes[ci].operands[1]],
                  let gamma = values[n.operands[1]], let beta = values[n.operands[2]],
                  let mean = values[n.operands[3]], let variance = values[n.operands[4]] else { continue }
            let eps = n.attrs.float("eps")
            let channels = w.shape[0], per = w.count / channels
            var folded = w
            var bias = Tensor(shape: [channels])
            for o in 0..<channels {
                let scale = gamma.data[o] / (variance.data[o] + eps).squareRoot()
                for k in 0..<per { folded.data[o * per + k] = w.data[o * per + k] * scale }
                bias.data[o] = beta.data[o] - mean.data[o] * scale
            }
            let wName = n.result + "_w", bName = n.result + "_b"
            values[wName] = folded
            values[bName] = bias
            let conv = g.nodes[ci]
            g.nodes.append(Node(result: wName, op: .param, attrs: Attributes([("init", .symbol("zeros"))]), type: TensorType(.f32, w.shape.map { .fixed($0) })))
            g.nodes.append(Node(result: bName, op: .param, attrs: Attributes([("init", .symbol("zeros"))]), type: TensorType(.f32, [.fixed(channels)])))
            g.nodes[ci].operands[1] = wName
            g.nodes[i] = Node(result: n.result, op: .biasAdd, operands: [conv.result, bName])
            replaced = true
        }
        guard replaced else { return graph }
        // Every type stays what it was (the bias_add has its batch norm's); the verifier checks them.
        return try CEmitterError.wrap { try DeadCodeElimination.run(try Verifier.verify(g).sorted()) }
    }
}
