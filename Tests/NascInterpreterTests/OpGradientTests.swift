import NascIR
import NascInterpreter
@testable import NascPasses
import NascTestSupport
import XCTest

/// Every differentiable op's gradient rule against finite differences, on
/// small graphs that exercise its attributes (kernel shapes, strides,
/// padding, transposes, broadcasting). Outputs that are not scalars are
/// checked through half their sum of squares.
final class OpGradientTests: XCTestCase {

    func testEveryDifferentiableOpMatchesFiniteDifferences() throws {
        var covered = Set<Op>()
        for (name, text) in SharedOpGraphs.all {
            let g = try graph(text)
            covered.formUnion(g.nodes.map(\.op))
            var options = GradientCheck.Options()
            options.batch = 3
            options.seed = 11
            options.samplesPerParameter = 24
            options.loss = g.outputs[0].label
            let check = try GradientCheck.run(g, options)
            XCTAssertTrue(check.passed, "\(name): worst error \(check.worstError) in \(check.reports.filter { $0.worstError > options.tolerance }.map(\.name))")
            XCTAssertFalse(check.reports.isEmpty, name)
        }
        // Guard: a new op with a gradient rule must get a case above.
        let differentiable = Op.allCases.filter { GradientRules.rule(for: $0) != nil }
        let missing = differentiable.filter { !covered.contains($0) }
        XCTAssertEqual(missing, [], "ops with gradient rules but no gradient check: \(missing.map(\.name))")
    }

    /// The check has teeth: in every small per-op graph, scaling any single
    /// backward op's result by 1.001 makes it fail. (The whole-pipeline graphs
    /// have gradients that cancel to nearly zero, a scalar before batch norm,
    /// where a 0.1% change is below any tolerance.)
    func testTheCheckCatchesEveryPlantedError() throws {
        var mutants = 0
        for (name, text) in SharedOpGraphs.gradientChecks + SharedOpGraphs.activations {
            let g = try graph(text)
            var options = GradientCheck.Options()
            options.batch = 3
            options.seed = 11
            options.samplesPerParameter = 24
            options.loss = g.outputs[0].label
            let forward = try GradientCheck.withScalarLoss(g, options.loss)
            let training = try Autodiff.run(forward, loss: options.loss)
            for k in forward.nodes.count..<training.nodes.count where training.nodes[k].op != .const {
                let victim = training.nodes[k]
                let check = try GradientCheck.run(g, options) { t in
                    var m = t
                    m.nodes[k].result = victim.result + ".true"
                    m.nodes.append(Node(result: victim.result + ".factor", op: .const, attrs: Attributes([("value", .float(1.001))]),
                                        type: TensorType(.f32, [])))
                    m.nodes.append(Node(result: victim.result, op: .mul, operands: [victim.result + ".true", victim.result + ".factor"]))
                    return try Verifier.verify(m)
                }
                XCTAssertFalse(check.passed, "\(name): scaling '%\(victim.result) = \(victim.op.name)' went unnoticed")
                mutants += 1
            }
        }
        print("gradient check caught \(mutants) of \(mutants) planted errors")
    }

    func testErrorMeasure() throws {
        XCTAssertLessThan(GradientCheck.error(0.5, 0.5 + 1e-10), 1e-8)
        XCTAssertGreaterThan(GradientCheck.error(1.0, -1.0), 1)
        XCTAssertGreaterThan(GradientCheck.error(0.02, 0.01), 0.4)
        XCTAssertGreaterThan(GradientCheck.error(0, 0.01), 0.9)
    }
}
