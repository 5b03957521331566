import NascIR
import NascInterpreter
import NascPasses
import NascRuntime
import NascTestSupport
import XCTest

/// drop_path's mask: whole examples dropped, about `rate` of them, the kept
/// ones scaled by 1 / (1 - rate), drawn from the seed and stream; the rate
/// a runtime input clamped into [0, 1); the JIT draws exactly the
/// interpreter's mask at every rate, and the inference graph drops nothing.
final class DropPathTests: XCTestCase {
    let text = graphText("%x: f32[N,3,2,2], %seed: i32[], %rate: f32[]", "y: f32[N,3,2,2]", """
      %y = drop_path %x, %seed, %rate {stream = 4}
      return %y
    """)

    func inputs(seed: Int, rate: Double, examples: Int = 400) -> [String: Tensor] {
        ["x": Tensor(shape: [examples, 3, 2, 2], repeating: 2), "seed": Tensor(.i32, shape: [], data: [Double(seed)]), "rate": .scalar(rate)]
    }

    func testWholeExamplesAreDroppedAtTheRuntimeRate() throws {
        let g = try Verifier.parseAndVerify(Array(text.utf8))
        let y = try Interpreter(g).run(inputs: inputs(seed: 9, rate: 0.25, examples: 2000), sources: [:]).output("y")!.data
        let examples = stride(from: 0, to: y.count, by: 12).map { Array(y[$0..<($0 + 12)]) }
        XCTAssertTrue(examples.allSatisfy { e in e.allSatisfy { $0 == 0 } || e.allSatisfy { abs($0 - 2 / 0.75) < 1e-6 } }, "all or nothing per example")
        let dropped = examples.filter { $0[0] == 0 }.count
        XCTAssertEqual(Double(dropped) / 2000, 0.25, accuracy: 0.03, "\(dropped) of 2000 examples dropped")
        let other = try Interpreter(g).run(inputs: inputs(seed: 10, rate: 0.25, examples: 2000), sources: [:]).output("y")!.data
        XCTAssertNotEqual(y, other, "another seed, another mask")
        for rate in [0.0, -1, .nan] {
            XCTAssertEqual(try Interpreter(g).run(inputs: inputs(seed: 9, rate: rate), sources: [:]).output("y")!.data, [Double](repeating: 2, count: 4800), "rate \(rate): nothing dropped")
        }
        let inference = try Interpreter(try InferenceGraph.run(g)).run(inputs: inputs(seed: 9, rate: 0.5), sources: [:]).output("y")!.data
        XCTAssertEqual(inference, [Double](repeating: 2, count: 4800))
    }

    func testTheJITDrawsTheInterpretersMaskAtEveryRate() throws {
        let g = try Verifier.parseAndVerify(Array(text.utf8))
        let compiled = try CompiledGraph.compile(g, maxBatch: 400, settings: ExecutionSettings(threads: 2))
        for (seed, rate) in [(1, 0.0), (2, 0.1), (3, 0.5), (4, 0.9), (5, 1.0), (6, 7.0), (7, -0.5), (8, Double.nan)] {
            let want = try Interpreter(g).run(inputs: inputs(seed: seed, rate: rate), sources: [:]).output("y")!.data
            let got = try compiled.run(inputs(seed: seed, rate: rate))["y"]!.data
            XCTAssertEqual(got.count, want.count)
            let worst = zip(got, want).map { abs($0 - $1) / max(abs($1), 1) }.max() ?? 0
            XCTAssertLessThan(worst, 1e-5, "rate \(rate)")
            XCTAssertEqual(got.map { $0 == 0 }, want.map { $0 == 0 }, "rate \(rate): the same examples dropped")
        }
    }
}
