import NascIR
import NascInterpreter
import NascPasses
import NascRuntime

/// Proxies from one gradient of the training loss on one minibatch at the
/// initial weights (Abdelfattah et al. 2021's grad_norm and snip).
struct GradientProxy: ZeroCostProxy {
    let kind: ProxyKind

    func score(_ child: Graph, on batch: ProxyBatch, seed: UInt64, threads: Int) throws -> Double {
        try checkInputs(child)
        let training = try Pipeline.run(child, upTo: .autodiff, TrainingOptions(loss: "loss"))
        let n = batch.count
        let compiled = try compiled(training, initialOf: child, seed: seed, batch: n, threads: threads)
        let params = child.nodes.filter { $0.op == .param }.map(\.result)
        let outputs = try compiled.run(floats: ["x": batch.images], ints: ["y": batch.labels], batch: n,
                                       reading: Set(params.map { "grad." + $0 }))
        let initial = Initializers.initializeAll(child, seed: seed)
        var sum = 0.0
        for p in params {
            guard let g = outputs["grad." + p]?.values else { continue }  // a parameter the loss does not read
            let theta = initial[p]!.data
            for i in g.indices {
                let d = Double(g[i])
                switch kind {
                case .gradNorm: sum += d * d
                case .snip: sum += abs(d * theta[i])
                case .naswot, .synflow: preconditionFailure("\(kind) is not a gradient proxy")
                }
            }
        }
        return kind == .gradNorm ? sum.squareRoot() : sum
    }
}
