import Foundation
import NascIR
import NascInterpreter
import NascPasses
import NascTestSupport
import XCTest

/// Property: the optimizing pipeline (canonicalize, cse, dce, fuse) never
/// changes what a graph computes. Random forward graphs and their training
/// steps run through the interpreter before and after it, on the same inputs
/// and parameters, and every output must agree.
final class PassEquivalenceTests: XCTestCase {
    private func outputs(_ g: Graph, _ inputs: [String: Tensor], _ sources: [String: Tensor]) throws -> [String: [Double]] {
        let r = try Interpreter(g).run(inputs: inputs, sources: sources)
        return Dictionary(uniqueKeysWithValues: r.outputs.map { ($0.label, $0.value.data) })
    }

    func testPipelinePreservesResultsOnRandomGraphs() throws {
        let env = ProcessInfo.processInfo.environment
        let cases = Int(env["NASC_GRAPH_CASES"] ?? "") ?? 150
        let firstSeed = UInt64(env["NASC_GRAPH_SEED"] ?? "") ?? 1
        var worst = 0.0, opsBefore = 0, kernelsAfter = 0
        for seed in firstSeed..<firstSeed + UInt64(cases) {
            var generator = RandomGraphs(seed: seed)
            let text = generator.make()
            let forward = try graph(text)
            let optimizer: Optimizer = seed % 2 == 0 ? .sgd(momentum: 0.9, nesterov: seed % 4 == 0) : .adamDefault
            let training = try Pipeline.run(forward, upTo: .train, TrainingOptions(optimizer: optimizer, weightDecay: 0.01))
            for (name, before) in [("forward", forward), ("training", training)] {
                let after = try Fusion.run(try Pipeline.simplify(before))
                opsBefore += GraphStatistics(before).ops
                kernelsAfter += GraphStatistics(after).kernels
                var inputs = RandomInputs.make(before, batch: 3, seed: seed)
                if before.inputs.contains(where: { $0.name == "lr" }) { inputs["lr"] = .scalar(0.1) }
                let sources = Initializers.initializeAll(before, seed: seed)
                let expected = try outputs(before, inputs, sources)
                let actual = try outputs(after, inputs, sources)
                XCTAssertEqual(Set(expected.keys), Set(actual.keys), "seed \(seed) \(name): outputs differ")
                for (label, e) in expected {
                    guard let a = actual[label], a.count == e.count else { XCTFail("seed \(seed) \(name): \(label) missing"); continue }
                    for (x, y) in zip(e, a) {
                        let error = abs(x - y) / max(1, abs(x))
                        worst = max(worst, error)
                        if error > 1e-9 {
                            XCTFail("seed \(seed) \(name): output \(label) differs (\(x) vs \(y))\n\(text)")
                            break
                        }
                    }
                }
            }
        }
        print("pass equivalence: \(cases) random graphs, forward and training: \(opsBefore) ops became \(kernelsAfter) kernels, worst difference \(worst)")
    }
}
