import NascIR
import NascInterpreter
import XCTest

/// The interpreter's semantics against values worked out by hand.
final class InterpreterTests: XCTestCase {
    func testSamePaddingSplitsAsTensorFlowDoes() throws {
        // 4x4 input, 3x3 kernel of ones, stride 2, same: 2x2 outputs, total
        // padding 1 per axis, all of it after (top/left 0), so output (0,0)
        // sums rows 0-2 x cols 0-2 and output (1,1) sums rows 2-3 x cols 2-3.
        let g = try graph("""
            graph @g(%x: f32[1,1,4,4]) -> (y: f32[1,1,2,2]) {
              %w = param {init = ones} : f32[1,1,3,3]
              %y = conv2d %x, %w {stride = [2, 2], pad = same}
              return %y
            }
            """)
        let x = Tensor(shape: [1, 1, 4, 4], data: (0..<16).map(Double.init))
        let r = try evaluate(g, ["x": x], ["w": Tensor(shape: [1, 1, 3, 3], repeating: 1)])
        // rows 0-2, cols 0-2: 0+1+2+4+5+6+8+9+10 = 45; rows 0-2, cols 2-3: 2+3+6+7+10+11 = 39
        // rows 2-3, cols 0-2: 8+9+10+12+13+14 = 66; rows 2-3, cols 2-3: 10+11+14+15 = 50
        XCTAssertEqual(r.output("y")!.data, [45, 39, 66, 50])
    }

    func testNonSquareKernelWithOddPadding() throws {
        // 1x4 kernel, same, stride 1 on width 5: padding 3 = 1 before, 2 after.
        let g = try graph("""
            graph @g(%x: f32[1,1,1,5]) -> (y: f32[1,1,1,5]) {
              %w = param {init = ones} : f32[1,1,1,4]
              %y = conv2d %x, %w
              return %y
            }
            """)
        let r = try evaluate(g, ["x": Tensor(shape: [1, 1, 1, 5], data: [1, 2, 3, 4, 5])], ["w": Tensor(shape: [1, 1, 1, 4], repeating: 1)])
        let expected: [Double] = [6, 10, 14, 12, 9]  // windows [-1,2], [0,3], [1,4], [2,5], [3,6]
        XCTAssertEqual(r.output("y")!.data, expected)
    }

    func testPoolsWithSamePaddingSeeOnlyTheImage() throws {
        let g = try graph("""
            graph @g(%x: f32[1,1,3,3]) -> (mx: f32[1,1,2,2], av: f32[1,1,2,2]) {
              %mx = max_pool %x {window = [2, 2], stride = [2, 2], pad = same}
              %av = avg_pool %x {window = [2, 2], stride = [2, 2], pad = same}
              return %mx, %av
            }
            """)
        let x = Tensor(shape: [1, 1, 3, 3], data: [-1, -2, -3, -4, -5, -6, -7, -8, -9])
        let r = try evaluate(g, ["x": x])
        XCTAssertEqual(r.output("mx")!.data, [-1, -3, -7, -9])  // padding is not a zero maximum
        XCTAssertEqual(r.output("av")!.data, [-3, -4.5, -7.5, -9])  // divided by in-image taps
    }

    func testBatchNormTrainNormalizesAndInferUsesRunningStatistics() throws {
        let g = try graph("""
            graph @g(%x: f32[N,2]) -> (t: f32[N,2], i: f32[N,2]) {
              %g = param {init = ones} : f32[2]
              %b = param {init = zeros} : f32[2]
              %m = state {init = zeros} : f32[2]
              %v = state {init = ones} : f32[2]
              %t = batch_norm %x, %g, %b, %m, %v {mode = train, eps = 0.0001}
              %i = batch_norm %x, %g, %b, %m, %v {mode = infer, eps = 0.0001}
              return %t, %i
            }
            """)
        let x = Tensor(shape: [4, 2], data: [1, 10, 2, 20, 3, 30, 4, 40])
        let sources = ["g": Tensor(shape: [2], data: [2, 1]), "b": Tensor(shape: [2], data: [0.5, 0]),
                       "m": Tensor(shape: [2], data: [1, 0]), "v": Tensor(shape: [2], data: [4, 1])]
        let r = try evaluate(g, ["x": x], sources)
        let t = r.output("t")!.data
        // Channel 0: mean 2.5, biased variance 1.25.
        let s0 = (1.25 + 0.0001).squareRoot()
        assertClose([t[0], t[2], t[4], t[6]], [1, 2, 3, 4].map { 2 * ($0 - 2.5) / s0 + 0.5 })
        let i = r.output("i")!.data
        assertClose([i[0], i[1]], [2 * (1 - 1) / (4.0001).squareRoot() + 0.5, 10 / (1.0001).squareRoot()])
    }

    func testSoftmaxCrossEntropyIsTheMeanNegativeLogLikelihood() throws {
        let g = try graph("""
            graph @g(%z: f32[N,3], %y: i32[N]) -> (loss: f32[]) {
              %loss = softmax_cross_entropy %z, %y
              return %loss
            }
            """)
        let z = Tensor(shape: [2, 3], data: [0, 0, 0, 1000, 0, 0])
        let r = try evaluate(g, ["z": z, "y": Tensor(.i32, shape: [2], data: [1, 0])])
        // Row 0: log 3; row 1: the label has all the mass (no overflow at 1000).
        assertClose(r.output("loss")!.data, [(log(3.0) + 0) / 2])
    }

    func testEmbeddingLooksUpRows() throws {
        let g = try graph("""
            graph @g(%ids: i32[N,2]) -> (e: f32[N,2,2]) {
              %t = param {init = zeros} : f32[3,2]
              %e = embedding %t, %ids
              return %e
            }
            """)
        let r = try evaluate(g, ["ids": Tensor(.i32, shape: [1, 2], data: [2, 0])], ["t": Tensor(shape: [3, 2], data: [0, 1, 2, 3, 4, 5])])
        XCTAssertEqual(r.output("e")!.data, [4, 5, 0, 1])
    }

    func testConcatSliceAndCropAreInverses() throws {
        let g = try graph("""
            graph @g(%a: f32[N,1,2,2], %b: f32[N,2,2,2]) -> (back: f32[N,2,2,2], crop: f32[N,1,2,2]) {
              %c = concat %a, %b
              %back = slice %c {axis = 1, start = 1, size = 2}
              %p = zero_pad %a {pads = [1, 0, 2, 1]}
              %crop = crop %p {pads = [1, 0, 2, 1]}
              return %back, %crop
            }
            """)
        let a = Tensor(shape: [2, 1, 2, 2], data: (0..<8).map(Double.init))
        let b = Tensor(shape: [2, 2, 2, 2], data: (0..<16).map { Double($0) + 100 })
        let r = try evaluate(g, ["a": a, "b": b])
        XCTAssertEqual(r.output("back")!.data, b.data)
        XCTAssertEqual(r.output("crop")!.data, a.data)
    }

    func testBadDataIsAnErrorNotACrash() throws {
        let g = try graph("""
            graph @g(%z: f32[N,3], %y: i32[N]) -> (loss: f32[]) {
              %loss = softmax_cross_entropy %z, %y
              return %loss
            }
            """)
        let z = Tensor(shape: [2, 3], repeating: 0)
        XCTAssertThrowsError(try evaluate(g, ["z": z, "y": Tensor(.i32, shape: [2], data: [0, 3])])) { error in
            XCTAssertEqual("\(error)", "'%loss = softmax_cross_entropy': label 3 at position 1 is out of range 0..<3")
        }
        XCTAssertThrowsError(try evaluate(g, ["z": z, "y": Tensor(.i32, shape: [3], data: [0, 1, 2])])) { error in
            XCTAssertEqual("\(error)", "input '%y' has batch size 3 but an earlier input has 2")
        }
        XCTAssertThrowsError(try evaluate(g, ["z": z])) { error in
            XCTAssertEqual("\(error)", "missing input '%y' (i32[N])")
        }
    }

    func testInitializersAreSeededAndScaled() throws {
        let g = try graph("""
            graph @g() -> (w: f32[64,32,3,3]) {
              %w = param {init = he_normal} : f32[64,32,3,3]
              return %w
            }
            """)
        let a = Initializers.initializeAll(g, seed: 7)["w"]!, b = Initializers.initializeAll(g, seed: 7)["w"]!
        XCTAssertEqual(a, b)
        XCTAssertNotEqual(a, Initializers.initializeAll(g, seed: 8)["w"]!)
        var sumOfSquares = 0.0
        for v in a.data { sumOfSquares += v * v }
        let variance = sumOfSquares / Double(a.count)
        let expected = 2.0 / Double(32 * 9)  // He: 2 / fan_in
        XCTAssertEqual(variance, expected, accuracy: 0.1 * expected)
    }

    /// Label smoothing ε: the loss is -sum_k q_k log p_k with q = (1 - ε)
    /// onehot + ε / K, worked out by hand; ε must be in [0, 1).
    func testLabelSmoothingMovesTheTarget() throws {
        let text = """
            graph @ls(%z: f32[N,3], %y: i32[N]) -> (loss: f32[]) {
              %loss = softmax_cross_entropy %z, %y {smoothing = 0.3}
              return %loss
            }
            """
        let r = try evaluate(try graph(text), ["z": Tensor(shape: [1, 3], data: [1, 2, 3]), "y": Tensor(.i32, shape: [1], data: [0])])
        let logZ = log(exp(1.0) + exp(2.0) + exp(3.0))
        XCTAssertEqual(r.output("loss")!.data[0], logZ - 0.7 * 1 - 0.3 * 2, accuracy: 1e-12)
        let bad = text.replacingOccurrences(of: "0.3", with: "1.0")
        XCTAssertThrowsError(try Verifier.parseAndVerify(Array(bad.utf8))) { error in
            let rendered = (error as? DiagnosticError)?.render(file: "ls", source: SourceText(Array(bad.utf8))) ?? "\(error)"
            XCTAssertTrue(rendered.contains("smoothing must be at least 0 and below 1"), rendered)
        }
    }
}
