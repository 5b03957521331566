import NascIR
import NascInterpreter
import NascPasses
import NascRuntime

/// SynFlow (Tanaka et al. 2020; as a proxy, Abdelfattah et al. 2021): the
/// network's parameters replaced by their absolute values, one image of
/// ones, R the sum of the logits; the score sums |theta * dR/dtheta|, the
/// "synaptic flow" through every weight. No data, no labels. Batch norm
/// uses its initial running statistics (inference mode), as the proxy's
/// authors evaluate it: with batch statistics one image would normalize to
/// zero.
struct SynFlow: ZeroCostProxy {
    var kind: ProxyKind { .synflow }

    func score(_ child: Graph, on batch: ProxyBatch, seed: UInt64, threads: Int) throws -> Double {
        try checkInputs(child)
        var b = GraphBuilder(try InferenceGraph.run(child))
        let logits = child.outputs.first { $0.label == "logits" }!.value
        let r = try b.add(.reduceSum, [logits], name: "synflow.r")
        b.removeOutputs { _ in true }
        b.addOutput("synflow", r)
        let training = try Pipeline.run(try b.finish(pass: "synflow"), upTo: .autodiff, TrainingOptions(loss: "synflow"))
        let params = Set(child.nodes.filter { $0.op == .param }.map(\.result))
        func absolute(_ initial: [String: Tensor]) -> [String: Tensor] {
            var out = initial
            for name in params { out[name]?.data = initial[name]!.data.map { abs($0) } }
            return out
        }
        let compiled = try compiled(training, initialOf: child, seed: seed, batch: 1, threads: threads, sources: absolute)
        let pixels = batch.images.count / batch.count
        let initial = absolute(Initializers.initializeAll(child, seed: seed))
        let image = [Float](repeating: 1, count: pixels)
        let outputs = try compiled.run(floats: ["x": image], ints: ["y": [0]], batch: 1, reading: Set(params.map { "grad." + $0 }))
        var gradients = outputs.mapValues { $0.values.map(Double.init) }
        if gradients.values.contains(where: { $0.contains { !$0.isFinite } }) {
            // The flow of a deep network can pass f32's range (the JIT's;
            // the proxy's authors use f64): then the interpreter, in f64,
            // computes the same graph, one image, once.
            let shape = child.inputs.first { $0.name == "x" }!.type.bound(batch: 1)
            let values = try Interpreter(training).run(inputs: ["x": Tensor(shape: shape, repeating: 1), "y": Tensor(.i32, shape: [1], data: [0])],
                                                       sources: initial).values
            gradients = Dictionary(uniqueKeysWithValues: training.outputs.filter { $0.label.hasPrefix("grad.") }.map { ($0.label, values[$0.value]!.data) })
        }
        var sum = 0.0
        for p in params {
            guard let g = gradients["grad." + p] else { continue }
            let theta = initial[p]!.data
            for i in g.indices { sum += abs(g[i] * theta[i]) }
        }
        return sum
    }
}
