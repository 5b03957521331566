import Foundation
import NascIR
import NascSearch
import XCTest

/// The latency model: features are what the graph holds, a fit recovers a
/// table that generated the latencies, and cross-validation reports its
/// error on children it did not see.
final class LatencyModelTests: XCTestCase {
    func testFeaturesCountCallsFLOPsAndOutputsByOpClass() throws {
        let g = try Verifier.parseAndVerify(Array("""
            graph @g(%x: f32[N,2,4,4], %y: i32[N]) -> (loss: f32[], logits: f32[N,3]) {
              %dw.w = param {init = he_normal} : f32[2,1,3,3]
              %dw = conv2d %x, %dw.w {stride = [1, 1], pad = same, groups = 2}
              %pw.w = param {init = he_normal} : f32[3,2,1,1]
              %pw = conv2d %dw, %pw.w
              %r = relu %pw
              %p = global_avg_pool %r
              %loss = softmax_cross_entropy %p, %y
              return %loss, %p
            }
            """.utf8))
        let f = try LatencyModel.features(g)
        // depthwise: 2 channels x 16 positions x 9 taps multiply-adds = 576 FLOP; 32 outputs.
        XCTAssertEqual(f["conv2d.depthwise"]?[0], 1)
        XCTAssertEqual(f["conv2d.depthwise"]![1], 576e-6, accuracy: 1e-12)
        XCTAssertEqual(f["conv2d.depthwise"]![2], 32e-6, accuracy: 1e-12)
        // pointwise: 3 x 2 x 16 x 2 = 192 FLOP; 48 outputs.
        XCTAssertEqual(f["conv2d.1x1"]![1], 192e-6, accuracy: 1e-12)
        XCTAssertEqual(f["relu"]?[0], 1)
        XCTAssertNil(f["conv2d"], "no dense convolution")
    }

    /// Latencies made by a known table are fitted back (no noise, tiny ridge),
    /// and the model predicts children it did not see.
    func testAFitRecoversTheTableThatMadeTheLatencies() {
        let truth: [String: [Double]] = ["conv2d": [0.02, 0.05, 0.3], "relu": [0.005, 0, 0.1], "add": [0.004, 0, 0.2]]
        var rng = SeededGenerator(seed: 4)
        var samples: [(features: [String: [Double]], milliseconds: Double)] = []
        for _ in 0..<60 {
            var f: [String: [Double]] = [:]
            for c in truth.keys { f[c] = [Double(1 + rng.index(20)), rng.unit() * 40, rng.unit() * 2] }
            let ms = 0.05 + truth.reduce(0) { $0 + zip($1.value, f[$1.key]!).reduce(0) { $0 + $1.0 * $1.1 } }
            samples.append((f, ms))
        }
        let model = LatencyModel.fit(samples, ridge: 1e-9)
        XCTAssertEqual(model.constant, 0.05, accuracy: 1e-4)
        for (c, costs) in truth { for k in 0..<3 { XCTAssertEqual(model.table[c]![k], costs[k], accuracy: 1e-4, "\(c)[\(k)]") } }
        let check = LatencyModel.crossValidate(samples, fit: { LatencyModel.fit($0, ridge: 1e-9) })
        XCTAssertLessThan(check.mape, 1e-4)
        XCTAssertEqual(check.tau ?? 0, 1, accuracy: 1e-9)
        // A class the model never saw costs nothing, and says so by being absent.
        XCTAssertEqual(model.predict(["softmax": [1, 1, 1]]).total, 0.05, accuracy: 1e-4)
    }
}
