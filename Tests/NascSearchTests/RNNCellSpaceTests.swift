import NascIR
import NascInterpreter
import NascSearch
import XCTest

/// The NAS-RL recurrent cell space: every decision sequence is a cell that
/// verifies, the tree, inject and indices land where the decisions say, and
/// cells' gradients check against finite differences.
final class RNNCellSpaceTests: XCTestCase {
    func random(_ space: RNNCellSpace, _ rng: inout SeededGenerator) -> [Int] { space.decisions.map { rng.index($0.options) } }

    func testEveryCellVerifies() throws {
        var rng = SeededGenerator(seed: 11)
        for base in [2, 4, 8, 16] {
            let space = RNNCellSpace(base: base)
            XCTAssertEqual(space.decisions.count, 2 * (2 * base - 1) + 4)
            for _ in 0..<25 {
                let text = space.ir(random(space, &rng))
                let graph = try Verifier.parseAndVerify(Array(text.utf8))
                XCTAssertEqual(graph.outputs.map(\.label), ["h", "c"])
                XCTAssertEqual(graph.nodes.filter { $0.op == .param }.count, 3 * base)
            }
        }
    }

    func testDecisionsLandWhereTheySay() throws {
        // Base 2: leaf 0 add+tanh, leaf 1 mul+relu, root mul+sigmoid;
        // inject add+relu into leaf 1; c_t from leaf 0.
        let text = RNNCellSpace(base: 2).ir([0, 1, 1, 3, 1, 2, 0, 3, 0, 1])
        for line in ["%z0 = add %xw0, %hu0", "%a0 = tanh %z0", "%z1 = mul %xw1, %hu1", "%a1 = relu %z1",
                     "%c_next = identity %a0", "%inj_z = add %a1, %c", "%inj = relu %inj_z",
                     "%z2 = mul %a0, %inj", "%a2 = sigmoid %z2", "%h_next = identity %a2"] {
            XCTAssertTrue(text.contains(line), "missing '\(line)' in\n\(text)")
        }
    }

    func testCellGradientsCheck() throws {
        var rng = SeededGenerator(seed: 12)
        let space = RNNCellSpace(base: 4)
        for k in 0..<3 {
            let graph = try Verifier.parseAndVerify(Array(space.ir(random(space, &rng), inputSize: 6, hidden: 5).utf8))
            var options = GradientCheck.Options()
            options.loss = "h"
            options.seed = UInt64(k)
            let check = try GradientCheck.run(graph, options)
            XCTAssertTrue(check.passed, "cell \(k): worst error \(check.worstError)")
        }
    }
}
