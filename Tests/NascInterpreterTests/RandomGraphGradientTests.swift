import Foundation
import NascIR
import NascInterpreter
import NascTestSupport
import XCTest

/// Property: on random composite graphs (RandomGraphs.swift), autodiff's
/// gradients agree with finite differences. Seeded and reproducible: a
/// failure names the seed and prints the graph, and NASC_GRAPH_SEED=<seed>
/// NASC_GRAPH_CASES=1 reruns exactly that graph.
final class RandomGraphGradientTests: XCTestCase {
    func testRandomGraphsMatchFiniteDifferences() throws {
        let env = ProcessInfo.processInfo.environment
        let cases = Int(env["NASC_GRAPH_CASES"] ?? "") ?? 200
        let firstSeed = UInt64(env["NASC_GRAPH_SEED"] ?? "") ?? 1
        var checkedParameters = 0, worst = 0.0
        var opsSeen = Set<Op>()
        for seed in firstSeed..<firstSeed + UInt64(cases) {
            var generator = RandomGraphs(seed: seed)
            let text = generator.make()
            let g = try graph(text)
            opsSeen.formUnion(g.nodes.map(\.op))
            var options = GradientCheck.Options()
            options.seed = seed
            options.batch = 2
            options.samplesPerParameter = 6
            let check = try GradientCheck.run(g, options)
            checkedParameters += check.reports.count
            worst = max(worst, check.worstError)
            if !check.passed {
                let bad = check.reports.filter { $0.worstError > options.tolerance }
                XCTFail("seed \(seed): \(bad.map { "%\($0.name) error \($0.worstError) (analytic \($0.analytic), numeric \($0.numeric))" }.joined(separator: "; "))\n\(text)")
            }
        }
        print("random graphs: \(cases) graphs, \(checkedParameters) parameters checked, worst error \(worst), ops: \(opsSeen.map(\.name).sorted().joined(separator: " "))")
    }
}
