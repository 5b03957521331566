import NascIR
import XCTest

/// Shape inference, op by op, and the verifier's whole-graph checks.
final class VerifierTests: XCTestCase {
    /// Verifies a one-op graph over the given inputs; returns the op's type or the first error.
    private func infer(_ inputs: String, _ op: String) -> Result<TensorType, Diagnostic> {
        let text = "graph @g(\(inputs)) -> () {\n  %r = \(op)\n  return\n}\n"
        do {
            let g = try Verifier.parseAndVerify(Array(text.utf8))
            return .success(g.nodes.last!.type!)
        } catch {
            return .failure(error.diagnostics[0])
        }
    }

    private func assertType(_ inputs: String, _ op: String, _ expected: String, line: UInt = #line) {
        switch infer(inputs, op) {
        case .success(let t): XCTAssertEqual(t.description, expected, op, line: line)
        case .failure(let d): XCTFail("\(op): \(d.message)", line: line)
        }
    }

    private func assertError(_ inputs: String, _ op: String, _ fragment: String, line: UInt = #line) {
        switch infer(inputs, op) {
        case .success(let t): XCTFail("\(op) verified as \(t), expected an error", line: line)
        case .failure(let d): XCTAssertTrue(d.message.contains(fragment), "\(d.message)", line: line)
        }
    }

    func testConvolutionShapes() {
        let x = "%x: f32[N,3,28,28], %w: f32[8,3,3,5], %k: f32[8,3,7,1]"
        assertType(x, "conv2d %x, %w", "f32[N,8,28,28]")
        assertType(x, "conv2d %x, %w {stride = [2, 2]}", "f32[N,8,14,14]")
        assertType(x, "conv2d %x, %w {stride = [3, 3]}", "f32[N,8,10,10]")
        assertType(x, "conv2d %x, %w {stride = [1, 2], pad = valid}", "f32[N,8,26,12]")
        assertType(x, "conv2d %x, %k {stride = [3, 1], pad = valid}", "f32[N,8,8,28]")
        assertError("%x: f32[N,3,28,28], %w: f32[N,3,3,3]", "conv2d %x, %w", "weights must have a static shape")
        assertError("%x: f32[N,3,28], %w: f32[8,3,3,3]", "conv2d %x, %w", "expected f32[N,C,H,W]")
    }

    func testPoolingShapes() {
        let x = "%x: f32[N,4,9,9]"
        assertType(x, "max_pool %x {window = [2, 2], stride = [2, 2]}", "f32[N,4,4,4]")
        assertType(x, "avg_pool %x {window = [3, 3], stride = [2, 2], pad = same}", "f32[N,4,5,5]")
        assertType(x, "global_avg_pool %x", "f32[N,4]")
        assertError(x, "max_pool %x {window = [10, 1]}", "larger than the input height")
    }

    func testElementwiseBroadcastOnlyFromScalars() {
        assertType("%a: f32[N,5], %s: f32[]", "mul %a, %s", "f32[N,5]")
        assertType("%a: f32[N,5], %s: f32[]", "sub %s, %a", "f32[N,5]")
        assertError("%a: f32[N,5], %b: f32[5]", "add %a, %b", "same shape")
    }

    func testMatmulTransposes() {
        let x = "%x: f32[N,4], %w: f32[4,3], %g: f32[N,3]"
        assertType(x, "matmul %x, %w", "f32[N,3]")
        assertType(x, "matmul %g, %w {transpose_b = true}", "f32[N,4]")
        assertType(x, "matmul %x, %g {transpose_a = true}", "f32[4,3]")
        assertError(x, "matmul %x, %x", "inner dimensions differ")
    }

    func testConcatPadFlattenEmbeddingLosses() {
        assertType("%a: f32[N,2,5,5], %b: f32[N,3,5,5]", "concat %a, %b, %a", "f32[N,7,5,5]")
        assertError("%a: f32[N,2], %b: f32[N,2]", "concat %a, %b {axis = 0}", "batch dimension")
        assertError("%a: f32[N,2]", "concat %a {axis = 2}", "out of range")
        assertType("%a: f32[N,2,5,5]", "zero_pad %a {pads = [0, 1, 2, 3]}", "f32[N,2,6,10]")
        assertType("%a: f32[N,2,5,5]", "flatten %a", "f32[N,50]")
        assertType("%t: f32[50,8], %i: i32[N,7]", "embedding %t, %i", "f32[N,7,8]")
        assertType("%l: f32[N,10], %y: i32[N]", "softmax_cross_entropy %l, %y", "f32[]")
        assertType("%l: f32[N,10]", "softmax %l", "f32[N,10]")
        assertType("%x: f32[N,6], %b: f32[6]", "bias_add %x, %b", "f32[N,6]")
        assertError("%x: f32[N,6], %b: f32[5]", "bias_add %x, %b", "bias must be f32[6]")
    }

    func testBatchNormTakesPerChannelParameters() {
        let x = "%x: f32[N,6,4,4], %p: f32[6], %d: f32[N,6]"
        assertType(x, "batch_norm %x, %p, %p, %p, %p", "f32[N,6,4,4]")
        assertType(x, "batch_norm %d, %p, %p, %p, %p {mode = infer}", "f32[N,6]")
        assertError(x, "batch_norm %x, %p, %p, %p, %p {eps = 0.0}", "eps must be positive")
        assertError(x, "batch_norm %x, %p, %p, %p, %p {momentum = 1.5}", "momentum must be in [0, 1]")
    }

    func testEveryOpHasAnInferenceRuleReachedBySomeValidFile() {
        // The reference models and specs together use every op; a new op
        // without a spec that uses it fails here.
        let used = Set(Fixtures.validGraphs().flatMap { $0.graph.nodes.map(\.op) })
        XCTAssertEqual(Set(Op.allCases).subtracting(used), [], "ops no valid spec uses")
    }

    func testVerifiedGraphHasDefaultsAndTypesFilledIn() throws {
        let g = try Verifier.parseAndVerify(Array("""
            graph @g(%x: f32[N,1,8,8]) -> (y: f32[N,2,8,8]) {
              %w = param {init = he_normal} : f32[2,1,3,3]
              %y = conv2d %x, %w
              return %y
            }
            """.utf8))
        XCTAssertEqual(g.nodes[1].attrs.entries.map(\.name), ["stride", "pad"])
        XCTAssertEqual(g.nodes[1].attrs["pad"], .symbol("same"))
        XCTAssertEqual(g.nodes[1].type?.description, "f32[N,2,8,8]")
    }

    func testErrorsAreSortedAndDoNotCascade() {
        let text = """
            graph @g(%x: f32[N,4]) -> (y: f32[N,4]) {
              %c = relu %b : f32[N,4]
              %b = add %x, %q : f32[N,4]
              return %c
            }
            """
        XCTAssertThrowsError(try Verifier.parseAndVerify(Array(text.utf8))) { error in
            let d = (error as! DiagnosticError).diagnostics
            XCTAssertEqual(d.map(\.message), ["use of undefined value '%q'"])
            XCTAssertEqual(d.first?.loc, SourceLoc(line: 3, col: 16))
        }
    }
}
