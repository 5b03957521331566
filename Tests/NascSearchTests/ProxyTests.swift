import Foundation
import NascInterpreter
import NascIR
import NascPasses
import NascSearch
import XCTest

/// Zero-cost proxies against what they are by definition, on networks small
/// enough to work out by hand, and the gradient proxies against the
/// interpreter.
final class ProxyTests: XCTestCase {
    /// %r = relu %x: each image's code is the sign pattern of its own pixels.
    let codes = """
        graph @codes(%x: f32[N,3], %y: i32[N]) -> (loss: f32[], logits: f32[N,2]) {
          %r = relu %x
          %w = param {init = he_normal} : f32[3,2]
          %logits = matmul %r, %w
          %loss = softmax_cross_entropy %logits, %y
          return %loss, %logits
        }
        """

    /// Two layers without biases: positively homogeneous of degree 1 in each.
    let twoLayers = """
        graph @two(%x: f32[N,3], %y: i32[N]) -> (loss: f32[], logits: f32[N,2]) {
          %w1 = param {init = he_normal} : f32[3,4]
          %h = matmul %x, %w1
          %r = relu %h
          %w2 = param {init = he_normal} : f32[4,2]
          %logits = matmul %r, %w2
          %loss = softmax_cross_entropy %logits, %y
          return %loss, %logits
        }
        """

    func graph(_ text: String) throws -> Graph { try Verifier.parseAndVerify(Array(text.utf8)) }

    func testLogDeterminant() {
        XCTAssertEqual(NASWOT.logAbsDeterminant([[2, 0], [0, 3]]), log(6), accuracy: 1e-12)
        XCTAssertEqual(NASWOT.logAbsDeterminant([[0, 1], [1, 0]]), 0, accuracy: 1e-12)  // det -1: a pivot swap
        XCTAssertEqual(NASWOT.logAbsDeterminant([[1, 2], [3, 4]]), log(2), accuracy: 1e-12)
        XCTAssertEqual(NASWOT.logAbsDeterminant([[1, 2], [2, 4]]), -.infinity)
    }

    /// Codes 101, 011, 110 agree pairwise on one unit of three:
    /// K = [[3,1,1],[1,3,1],[1,1,3]], det 20. Two images with one code make K singular.
    func testNASWOTIsTheLogDeterminantOfTheCodesAgreement() throws {
        let child = try graph(codes)
        let batch = ProxyBatch(images: [1, -1, 2, -1, 1, 1, 1, 1, -1], labels: [0, 1, 0])
        XCTAssertEqual(try ProxyKind.naswot.proxy.score(child, on: batch, seed: 0, threads: 1), log(20), accuracy: 1e-9)
        let twins = ProxyBatch(images: [1, -1, 2, 3, -2, 1, 1, 1, -1], labels: [0, 1, 0])
        XCTAssertEqual(try ProxyKind.naswot.proxy.score(child, on: twins, seed: 0, threads: 1), -.infinity)
    }

    /// Euler's theorem: for R homogeneous of degree 1 in each of two layers,
    /// sum theta dR/dtheta = 2R, and with |theta| and an image of ones every
    /// ReLU passes, so R = 1^T |W1| |W2| 1.
    func testSynFlowOfTwoLayersIsTwiceTheirFlow() throws {
        let child = try graph(twoLayers)
        let w = Initializers.initializeAll(child, seed: 3)
        let (w1, w2) = (w["w1"]!.data.map(abs), w["w2"]!.data.map(abs))
        var flow = 0.0
        for i in 0..<3 { for j in 0..<4 { for k in 0..<2 { flow += w1[i * 4 + j] * w2[j * 2 + k] } } }
        let batch = ProxyBatch(images: [0.3, -2, 5, 1, 1, 1], labels: [1, 0])  // synflow reads no data
        let score = try ProxyKind.synflow.proxy.score(child, on: batch, seed: 3, threads: 1)
        XCTAssertEqual(score, 2 * flow, accuracy: 1e-5 * flow)
    }

    /// 47 layers of weights 1 (3 -> 8, 45 of 8 -> 8, 8 -> 2): R = 2 * 3 *
    /// 8^46, about 2e42, past f32's range; the score, 47 R by Euler's
    /// theorem, still comes out (SynFlow scales the image down).
    func testSynFlowOfADeepNetworkStaysFinite() throws {
        var lines = ["  %w0 = param {init = ones} : f32[3,8]", "  %h0 = matmul %x, %w0"]
        for k in 1...45 { lines += ["  %w\(k) = param {init = ones} : f32[8,8]", "  %h\(k) = matmul %h\(k - 1), %w\(k)"] }
        lines += ["  %w46 = param {init = ones} : f32[8,2]", "  %logits = matmul %h45, %w46", "  %loss = softmax_cross_entropy %logits, %y"]
        let text = "graph @deep(%x: f32[N,3], %y: i32[N]) -> (loss: f32[], logits: f32[N,2]) {\n" + lines.joined(separator: "\n")
            + "\n  return %loss, %logits\n}\n"
        let flow = 6 * Foundation.pow(8.0, 46.0)
        let score = try ProxyKind.synflow.proxy.score(try graph(text), on: ProxyBatch(images: [1, 1, 1], labels: [0]), seed: 0, threads: 1)
        XCTAssertEqual(score, 47 * flow, accuracy: 1e-4 * 47 * flow)
    }

    /// grad-norm and snip from the JIT's gradient against the interpreter's.
    func testGradientProxiesAgreeWithTheInterpreter() throws {
        let child = try graph(twoLayers)
        let batch = ProxyBatch(images: [0.3, -2, 5, 1, 0.5, -1, -0.7, 0.2, 0.9], labels: [1, 0, 1])
        let training = try Pipeline.run(child, upTo: .autodiff, TrainingOptions(loss: "loss"))
        let sources = Initializers.initializeAll(child, seed: 5)
        let inputs = ["x": Tensor(shape: [3, 3], data: batch.images.map(Double.init)), "y": Tensor(.i32, shape: [3], data: [1, 0, 1])]
        let values = try Interpreter(training).run(inputs: inputs, sources: sources).values
        func gradient(_ p: String) -> [Double] { values[training.outputs.first { $0.label == "grad." + p }!.value]!.data }
        var norm = 0.0, snip = 0.0
        for p in ["w1", "w2"] {
            norm += gradient(p).reduce(0) { $0 + $1 * $1 }
            snip += zip(gradient(p), sources[p]!.data).reduce(0) { $0 + abs($1.0 * $1.1) }
        }
        XCTAssertEqual(try ProxyKind.gradNorm.proxy.score(child, on: batch, seed: 5, threads: 1), norm.squareRoot(), accuracy: 1e-4 * norm.squareRoot())
        XCTAssertEqual(try ProxyKind.snip.proxy.score(child, on: batch, seed: 5, threads: 1), snip, accuracy: 1e-4 * snip)
    }

    /// A graph that is not a classifier's training graph gets an error naming what a proxy needs.
    func testAGraphWithoutImagesAndLabelsIsRefused() throws {
        let other = try graph("graph @g(%a: f32[N,3]) -> (out: f32[N,3]) {\n  %r = relu %a\n  return %r\n}\n")
        for kind in ProxyKind.allCases {
            XCTAssertThrowsError(try kind.proxy.score(other, on: ProxyBatch(images: [1, 2, 3], labels: [0]), seed: 0, threads: 1)) {
                XCTAssertTrue("\($0)".contains("inputs %x and %y"), "\($0)")
            }
        }
    }
}
