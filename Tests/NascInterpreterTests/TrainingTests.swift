import Foundation
import NascIR
import NascInterpreter
import NascPasses
import XCTest

/// Training graphs run by the interpreter: optimizers against hand-written
/// updates, running statistics, and a small classifier that learns.
final class TrainingTests: XCTestCase {
    /// loss = sum((w - t)^2), so grad = 2 (w - t).
    static let quadratic = """
        graph @quadratic(%t: f32[2,3]) -> (loss: f32[]) {
          %w = param {init = uniform, scale = 1.0} : f32[2,3]
          %d = sub %w, %t
          %s = mul %d, %d
          %loss = reduce_sum %s
          return %loss
        }
        """

    private func trainQuadratic(_ options: TrainingOptions, lr: Double, steps: Int,
                                reference: (inout [Double], [Double], Int) -> Void) throws {
        let forward = try graph(Self.quadratic)
        let training = try Pipeline.run(forward, upTo: .train, options)
        var session = TrainingStep(training, seed: 3)
        var w = session.sources["w"]!.data
        let target = Tensor(shape: [2, 3], data: [0.5, -1, 2, 0, 1, -0.25])
        for step in 1...steps {
            let grad = zip(w, target.data).map { 2 * ($0 - $1) }
            reference(&w, grad, step)
            try session.step(["t": target, "lr": .scalar(lr)])
            assertClose(session.sources["w"]!.data, w, tolerance: 1e-12, "at step \(step)")
        }
    }

    func testSGDWithMomentumAndWeightDecayMatchesPyTorchsUpdate() throws {
        var buffer = [Double](repeating: 0, count: 6)
        try trainQuadratic(TrainingOptions(optimizer: .sgd(momentum: 0.9, nesterov: false), weightDecay: 0.01), lr: 0.05, steps: 4) { w, g, _ in
            for i in 0..<6 {
                let d = g[i] + 0.01 * w[i]
                buffer[i] = 0.9 * buffer[i] + d
                w[i] -= 0.05 * buffer[i]
            }
        }
    }

    func testNesterovMatchesPyTorchsUpdate() throws {
        var buffer = [Double](repeating: 0, count: 6)
        try trainQuadratic(TrainingOptions(optimizer: .sgd(momentum: 0.8, nesterov: true)), lr: 0.1, steps: 4) { w, g, _ in
            for i in 0..<6 {
                buffer[i] = 0.8 * buffer[i] + g[i]
                w[i] -= 0.1 * (g[i] + 0.8 * buffer[i])
            }
        }
    }

    func testAdamMatchesPyTorchsUpdate() throws {
        var m = [Double](repeating: 0, count: 6), v = m
        try trainQuadratic(TrainingOptions(optimizer: .adam(beta1: 0.9, beta2: 0.99, epsilon: 1e-8)), lr: 0.01, steps: 5) { w, g, t in
            for i in 0..<6 {
                m[i] = 0.9 * m[i] + 0.1 * g[i]
                v[i] = 0.99 * v[i] + 0.01 * g[i] * g[i]
                let mHat = m[i] / (1 - pow(0.9, Double(t)))
                let vHat = v[i] / (1 - pow(0.99, Double(t)))
                w[i] -= 0.01 * mHat / (vHat.squareRoot() + 1e-8)
            }
        }
    }

    /// Every consumer feeds the learning rate as %lr: a forward value of
    /// that name moves aside and the step still trains; a parameter or an
    /// input of that name (checkpoints and callers use those names) is an error.
    func testAValueNamedLrDoesNotTakeTheLearningRatesPlace() throws {
        let renamed = Self.quadratic.replacingOccurrences(of: "%d", with: "%lr")
        let training = try Pipeline.run(try graph(renamed), upTo: .train, TrainingOptions(optimizer: .sgd(momentum: 0, nesterov: false)))
        XCTAssertEqual(training.inputs.map(\.name).sorted(), ["lr", "t"])
        var session = TrainingStep(training, seed: 3)
        let w = session.sources["w"]!.data
        try session.step(["t": Tensor(shape: [2, 3]), "lr": .scalar(0.25)])
        assertClose(session.sources["w"]!.data, w.map { $0 - 0.25 * 2 * $0 }, tolerance: 1e-12)

        for (text, what) in [(Self.quadratic.replacingOccurrences(of: "%w", with: "%lr"), "the param %lr"),
                             (Self.quadratic.replacingOccurrences(of: "%t", with: "%lr"), "the input %lr")] {
            XCTAssertThrowsError(try Pipeline.run(try graph(text), upTo: .train)) { error in
                XCTAssertTrue("\(error)".contains("\(what) has the name of the training step's learning-rate input"), "\(error)")
            }
        }
    }

    func testRunningStatisticsFollowTheBatch() throws {
        let forward = try graph("""
            graph @bn(%x: f32[N,2]) -> (loss: f32[]) {
              %g = param {init = ones} : f32[2]
              %b = param {init = zeros} : f32[2]
              %m = state {init = zeros} : f32[2]
              %v = state {init = ones} : f32[2]
              %n = batch_norm %x, %g, %b, %m, %v {momentum = 0.25}
              %t = tanh %n
              %loss = reduce_sum %t
              return %loss
            }
            """)
        var session = TrainingStep(try Pipeline.run(forward, upTo: .train), seed: 0)
        let x = Tensor(shape: [4, 2], data: [1, 0, 2, 0, 3, 0, 6, 4])
        try session.step(["x": x, "lr": .scalar(0.1)])
        // Channel 0: mean 3, unbiased variance (4+1+0+9)/3; channel 1: mean 1, variance 12/3.
        assertClose(session.sources["m"]!.data, [0.75 * 0 + 0.25 * 3, 0.25 * 1])
        assertClose(session.sources["v"]!.data, [0.75 + 0.25 * 14 / 3, 0.75 + 0.25 * 4])
    }

    /// Three classes of 6x6 images (a horizontal bar, a vertical bar, a
    /// diagonal, at random positions, with noise); a conv + BN + ReLU +
    /// pool + dense classifier trained with SGD on minibatches.
    func testASmallClassifierLearns() throws {
        let forward = try graph("""
            graph @tiny(%x: f32[N,1,6,6], %y: i32[N]) -> (loss: f32[]) {
              %w = param {init = he_normal} : f32[6,1,3,3]
              %c = conv2d %x, %w
              %g = param {init = ones} : f32[6]
              %b = param {init = zeros} : f32[6]
              %m = state {init = zeros} : f32[6]
              %v = state {init = ones} : f32[6]
              %n = batch_norm %c, %g, %b, %m, %v
              %r = relu %n
              %p = max_pool %r {window = [2, 2], stride = [2, 2]}
              %f = flatten %p
              %wd = param {init = glorot_uniform} : f32[54,3]
              %bd = param {init = zeros} : f32[3]
              %z = matmul %f, %wd
              %logits = bias_add %z, %bd
              %loss = softmax_cross_entropy %logits, %y
              return %loss
            }
            """)
        var rng = SeededGenerator(seed: 42)
        let count = 96
        var images = [Double](), labels = [Double]()
        for i in 0..<count {
            let label = i % 3
            var img = (0..<36).map { _ in 0.3 * rng.normal() }
            let k = rng.index(6)
            for j in 0..<6 {
                switch label {
                case 0: img[k * 6 + j] += 1
                case 1: img[j * 6 + k] += 1
                default: img[j * 6 + j] += 1
                }
            }
            images += img
            labels.append(Double(label))
        }
        let all = ["x": Tensor(shape: [count, 1, 6, 6], data: images), "y": Tensor(.i32, shape: [count], data: labels)]
        var session = TrainingStep(try Pipeline.run(forward, upTo: .train, TrainingOptions(optimizer: .sgd(momentum: 0.9, nesterov: false))), seed: 1)
        let evaluate = Interpreter(forward)
        func loss() throws -> Double { try evaluate.run(inputs: all, sources: session.sources).output("loss")!.data[0] }

        let before = try loss()
        let batch = 16
        for step in 0..<300 {
            let start = (step * batch) % count
            let x = Tensor(shape: [batch, 1, 6, 6], data: Array(images[start * 36..<(start + batch) * 36]))
            let y = Tensor(.i32, shape: [batch], data: Array(labels[start..<start + batch]))
            try session.step(["x": x, "y": y, "lr": .scalar(0.05)])
        }
        let after = try loss()
        print("small classifier: loss \(before) -> \(after) (\(before / after)x lower) after 300 SGD steps")
        XCTAssertGreaterThan(before / after, 10, "loss \(before) -> \(after)")
    }

    func testTrainingIsDeterministic() throws {
        let forward = try graph(Self.quadratic)
        let training = try Pipeline.run(forward, upTo: .train, TrainingOptions(optimizer: .adamDefault))
        func finalWeights() throws -> [Double] {
            var s = TrainingStep(training, seed: 9)
            for _ in 0..<3 { try s.step(["t": Tensor(shape: [2, 3], repeating: 1), "lr": .scalar(0.1)]) }
            return s.sources["w"]!.data
        }
        XCTAssertEqual(try finalWeights(), try finalWeights())
    }
}
