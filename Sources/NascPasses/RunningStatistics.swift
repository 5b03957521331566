import NascIR

/// Batch-norm running statistics as graph arithmetic. For every train-mode
/// `batch_norm` whose mean and variance operands are `state` nodes, adds
///
///     next = state + momentum * (batch statistic - state)
///
/// (the batch variance unbiased, as PyTorch tracks it) and returns it as the
/// output `next.<state>`, which a training step writes back into the state.
public enum RunningStatistics {
    public static func run(_ graph: Graph) throws(PassError) -> Graph {
        var b = GraphBuilder(graph)
        let defining = graph.definingNode
        var owner: [String: String] = [:]
        for node in graph.nodes where node.op == .batchNorm && node.attrs.symbol("mode") == "train" {
            for (k, stat) in [(3, Op.batchMean), (4, Op.batchVar)] {
                let state = node.operands[k]
                guard let d = defining[state], graph.nodes[d].op == .state else { continue }
                if let first = owner[state] {
                    throw PassError("running statistics: state '%\(state)' is used by two train-mode batch_norm ops ('%\(first)' and '%\(node.result)'); give each its own")
                }
                owner[state] = node.result
                let batch = try b.add(stat, [node.operands[0]], stat == .batchVar ? ["unbiased": .bool(true)] : [:],
                                      name: node.result + (k == 3 ? ".mean" : ".var"))
                let delta = try b.add(.sub, [batch, state], name: state + ".delta")
                let step = try b.add(.mul, [delta, try b.scalar(node.attrs.float("momentum"))], name: state + ".step")
                b.addOutput("next." + state, try b.add(.add, [state, step], name: state + ".next"))
            }
        }
        return try b.finish(pass: "running statistics")
    }
}
