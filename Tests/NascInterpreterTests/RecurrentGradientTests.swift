import NascIR
import NascInterpreter
import NascPasses
import NascTestSupport
import XCTest

/// The unrolled language model's gradients against finite differences:
/// through several time steps, both layers and the memory cell, and the
/// clipping of the optimizer update.
final class RecurrentGradientTests: XCTestCase {
    func model(_ cell: String, vocabulary: Int = 7, batch: Int = 2, steps: Int = 4, layers: Int = 2) throws -> Graph {
        try LanguageModel.unroll(try Verifier.parseAndVerify(Array(cell.utf8)),
                                 LanguageModel.Shape(vocabulary: vocabulary, batch: batch, steps: steps, layers: layers, initScale: 0.5))
    }

    func testUnrolledModelsMatchFiniteDifferences() throws {
        for (name, cell) in [("lstm", lstmCellText(size: 3)), ("elman", elmanCellText(size: 3))] {
            let g = try model(cell)
            var options = GradientCheck.Options()
            options.seed = 3
            options.samplesPerParameter = 24
            let check = try GradientCheck.run(g, options)
            XCTAssertTrue(check.passed, "\(name): worst error \(check.worstError)")
            // Every parameter, the ones shared by all steps among them, was checked.
            XCTAssertEqual(Set(check.reports.map(\.name)), Set(g.nodes.filter { $0.op == .param }.map(\.result)), name)
        }
    }

    /// The state leaving the last step is the cell applied step after step:
    /// the unrolled model's `h.l0` equals the cell run T times by hand.
    func testUnrollingIsTheCellAppliedStepAfterStep() throws {
        let cell = try Verifier.parseAndVerify(Array(elmanCellText(size: 3).utf8))
        let g = try model(elmanCellText(size: 3), steps: 3, layers: 1)
        var step = TrainingStep(g, seed: 4)
        let tokens = Tensor(.i32, shape: [2, 3], data: [1, 5, 2, 6, 0, 3])
        let h0 = Tensor(shape: [2, 3], data: [0.1, -0.2, 0.3, 0.0, 0.5, -0.5])
        let out = try step.step(["tokens": tokens, "targets": Tensor(.i32, shape: [6], data: [5, 2, 4, 0, 3, 1]), "h0.l0": h0])
        // By hand: the cell's parameters are the layer's, x_t is row t of the embedding.
        var sources: [String: Tensor] = [:]
        for p in ["W", "U", "b"] { sources[p] = step.sources["l0." + p]! }
        let table = step.sources["embedding"]!
        var h = h0
        for t in 0..<3 {
            var x = Tensor(shape: [2, 3], data: [Double](repeating: 0, count: 6))
            for r in 0..<2 {
                let id = Int(tokens.data[r * 3 + t])
                for k in 0..<3 { x.data[r * 3 + k] = table.data[id * 3 + k] }
            }
            h = try Interpreter(cell).run(inputs: ["x": x, "h": h], sources: sources).output("h")!
        }
        let unrolled = out.output("h.l0")!
        for i in 0..<6 { XCTAssertEqual(unrolled.data[i], h.data[i], accuracy: 1e-12) }
    }

    /// With clipping, every parameter moves by lr * g * clip / max(|g|, clip),
    /// |g| the norm of all gradients together.
    func testClippingScalesAllGradientsByTheGlobalNorm() throws {
        let g = try model(lstmCellText(size: 3), steps: 3)
        let inputs = RandomInputs.make(g, batch: 1, seed: 2)
        let differentiated = try Pipeline.run(g, upTo: .autodiff)
        let grads = try Interpreter(differentiated).run(inputs: inputs, sources: TrainingStep(differentiated, seed: 9).sources).outputs
            .filter { $0.label.hasPrefix("grad.") }
        let norm = grads.reduce(0) { $0 + $1.value.data.reduce(0) { $0 + $1 * $1 } }.squareRoot()
        XCTAssertGreaterThan(norm, 0.1)
        for clip in [norm / 4, norm * 2] {
            let training = try Pipeline.run(g, upTo: .train, TrainingOptions(optimizer: .sgd(momentum: 0, nesterov: false), clipNorm: clip))
            var step = TrainingStep(training, seed: 9)
            let before = step.sources
            var withRate = inputs
            withRate["lr"] = .scalar(0.5)
            try step.step(withRate)
            let scale = clip / max(norm, clip)
            for (label, gradient) in grads.map({ ($0.label, $0.value) }) {
                let p = String(label.dropFirst(5))
                for i in 0..<gradient.count {
                    XCTAssertEqual(step.sources[p]!.data[i], before[p]!.data[i] - 0.5 * gradient.data[i] * scale, accuracy: 1e-12, "\(p)[\(i)] clip \(clip)")
                }
            }
        }
    }

    func testCellsThatCannotBeUnrolledAreRefused() throws {
        let cnn = try Verifier.parseAndVerify(Array(graphText("%x: f32[N,3], %y: i32[N]", "loss: f32[]", """
          %w = param {init = zeros} : f32[3,2]
          %z = matmul %x, %w
          %loss = softmax_cross_entropy %z, %y
          return %loss
        """).utf8))
        XCTAssertThrowsError(try LanguageModel.unroll(cnn, .init(vocabulary: 5))) { error in
            XCTAssertTrue("\(error)".contains("is not a recurrent cell"), "\(error)")
        }
        let wide = try Verifier.parseAndVerify(Array(lstmCellText(size: 3).replacingOccurrences(of: "%x: f32[N,3]", with: "%x: f32[N,5]")
            .replacingOccurrences(of: "f32[3,12]\n  %U", with: "f32[5,12]\n  %U").utf8))
        XCTAssertThrowsError(try LanguageModel.unroll(wide, .init(vocabulary: 5, layers: 2))) { error in
            XCTAssertTrue("\(error)".contains("must be equal"), "\(error)")
        }
        XCTAssertNoThrow(try LanguageModel.unroll(wide, .init(vocabulary: 5, layers: 1)))
    }
}

/// Dropout's mask: drawn from the seed, the same every time, another for
/// another seed or stream, about `rate` of the elements dropped, the kept
/// ones scaled; the inference graph drops nothing.
final class DropoutTests: XCTestCase {
    func run(_ seed: Int, stream: Int = 0, rate: Double = 0.3, inference: Bool = false) throws -> [Double] {
        var g = try Verifier.parseAndVerify(Array(graphText("%x: f32[N,100], %seed: i32[]", "y: f32[N,100]", """
          %y = dropout %x, %seed {rate = \(rate), stream = \(stream)}
          return %y
        """).utf8))
        if inference { g = try InferenceGraph.run(g) }
        let x = Tensor(shape: [40, 100], repeating: 2)
        return try Interpreter(g).run(inputs: ["x": x, "seed": Tensor(.i32, shape: [], data: [Double(seed)])], sources: [:]).output("y")!.data
    }

    func testTheMaskIsDeterministicFromTheSeedAndStream() throws {
        let a = try run(7)
        XCTAssertEqual(a, try run(7))
        XCTAssertNotEqual(a, try run(8))
        XCTAssertNotEqual(a, try run(7, stream: 1))
        let dropped = a.filter { $0 == 0 }.count
        XCTAssertEqual(Double(dropped) / Double(a.count), 0.3, accuracy: 0.03, "\(dropped) of \(a.count) dropped")
        XCTAssertTrue(a.allSatisfy { $0 == 0 || abs($0 - 2 / 0.7) < 1e-12 })
        XCTAssertEqual(try run(7, rate: 0), [Double](repeating: 2, count: 4000))
        XCTAssertEqual(try run(7, inference: true), [Double](repeating: 2, count: 4000))
    }

    func testARateOfOneOrMoreIsRefused() {
        XCTAssertThrowsError(try Verifier.parseAndVerify(Array(graphText("%x: f32[N,4], %seed: i32[]", "y: f32[N,4]", """
          %y = dropout %x, %seed {rate = 1.0}
          return %y
        """).utf8))) { error in XCTAssertTrue("\(error)".contains("rate must be at least 0 and below 1"), "\(error)") }
    }
}
