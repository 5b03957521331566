import Foundation
import NascIR
import NascInterpreter
import NascLLVM
import NascRuntime
import NascPasses

/// The REINFORCE controller (Zoph & Le 2017): the LSTM of ControllerGraph,
/// JIT-compiled by nasc itself, both its sampling pass and its training step
/// (autodiff of the REINFORCE loss plus Adam, lr 6e-4). The baseline is an
/// exponential moving average of rewards (decay 0.95).
///
/// The optional entropy bonus (weight β, as in ENAS) adds β·(−log P(child))
/// to each child's reward: since E[∇ log P] = 0, REINFORCE on that reward is
/// an unbiased estimate of ∇(β·H), the gradient of the entropy of the
/// controller's distribution over children, which keeps it exploring.
public final class ReinforceController: SearchStrategy {
    public let name = "reinforce"
    public let graph: ControllerGraph
    public var length: Int
    let forward: CompiledGraph
    /// The training step (REINFORCE loss, autodiff, Adam), for tests too.
    public let step: CompiledGraph
    public private(set) var baseline: Double? = nil
    public var baselineDecay = 0.95
    public var learningRate = 6e-4
    /// β of the entropy bonus; 0 turns it off.
    public var entropyWeight = 0.0
    /// Mean −log P(child) of the last update's children: an estimate of the
    /// entropy of the controller's distribution, in nats.
    public private(set) var lastEntropy: Double?
    public var proposed = 0
    let seed: UInt64
    let batchLimit: Int

    public convenience init(space: any SearchSpace, seed: UInt64, maxBatch: Int = 16, execution: ExecutionSettings = ExecutionSettings()) throws {
        try self.init(graph: space.controller, seed: seed, maxBatch: maxBatch, execution: execution)
    }

    public init(graph: ControllerGraph, seed: UInt64, maxBatch: Int = 16, execution: ExecutionSettings = ExecutionSettings()) throws {
        self.graph = graph
        length = graph.steps.count
        let g = try Verifier.parseAndVerify(Array(graph.text.utf8))
        batchLimit = maxBatch
        forward = try CompiledGraph.compile(g, maxBatch: maxBatch, settings: execution)
        step = try CompiledGraph.compile(try Pipeline.run(g, upTo: .train, TrainingOptions(optimizer: .adam(beta1: 0.9, beta2: 0.999, epsilon: 1e-8))),
                                         maxBatch: maxBatch, settings: execution)
        try step.setSources(Initializers.initializeAll(step.graph, seed: seed))
        self.seed = seed ^ 0xC0_17_20_11
    }

    /// The controller's state, for checkpoints: its parameters and Adam's
    /// moments, and the reward baseline. Checkpoints hold f32, so the
    /// baseline goes as three floats that add up to it exactly.
    public var parameters: [String: Tensor] {
        var p = step.sources()
        if let baseline {
            let hi = Double(Float(baseline)), mid = Double(Float(baseline - hi)), lo = Double(Float(baseline - hi - mid))
            p[ReinforceController.baselineName] = Tensor(shape: [3], data: [hi, mid, lo])
        }
        return p
    }

    public func restore(_ p: [String: Tensor]) throws {
        var p = p
        // A state saved before the baseline was kept starts it afresh.
        baseline = p.removeValue(forKey: ReinforceController.baselineName).map { $0.data.reduce(0, +) }
        try step.setSources(p)
    }

    static let baselineName = "reinforce.baseline"

    /// The graph's inputs for children of any length: a step past a child's
    /// last decision gets token and action 0 and advantage 0, so it adds
    /// nothing to the loss.
    func inputs(_ tokens: [[Int]], _ actions: [[Int]], advantages: [Double]) -> [String: Tensor] {
        let n = tokens.count
        var out: [String: Tensor] = [:]
        for t in 0..<graph.steps.count {
            out["tok\(t)"] = Tensor(.i32, shape: [n], data: tokens.map { Double(t < $0.count ? $0[t] : 0) })
            out["act\(t)"] = Tensor(.i32, shape: [n], data: actions.map { Double(t < $0.count ? $0[t] : 0) })
            out["adv\(t)"] = Tensor(shape: [n], data: zip(actions, advantages).map { t < $0.count ? $1 : 0 })
        }
        return out
    }

    /// The training step's inputs for children and their advantages (without %lr).
    public func stepInputs(_ children: [[Int]], advantages: [Double]) -> [String: Tensor] {
        inputs(children.map(tokens), children, advantages: advantages)
    }

    /// Tokens fed at each step for a sequence of choices.
    func tokens(_ choices: [Int]) -> [Int] {
        [0] + choices.dropLast().enumerated().map { graph.token($0, $1) }
    }

    /// Samples `count` children autoregressively: step t's probabilities come
    /// from a forward pass that feeds back the choices already made.
    public func propose(_ count: Int) throws -> [[Int]] {
        var out: [[Int]] = []
        var start = 0
        while start < count {
            let n = min(batchLimit, count - start)
            let T = length
            var choices = [[Int]](repeating: [Int](repeating: 0, count: T), count: n)
            var rngs = (0..<n).map { SeededGenerator(seed: seed, stream: proposed + start + $0) }
            try forward.setSources(matching: step.sources())
            for t in 0..<T {
                let probs = try forward.run(inputs(choices.map(tokens), choices, advantages: [Double](repeating: 0, count: n)))["p\(t)"]!
                let k = graph.steps[t].options
                for r in 0..<n {
                    var u = rngs[r].unit(), pick = k - 1
                    for o in 0..<k {
                        u -= probs.data[r * k + o]
                        if u < 0 { pick = o; break }
                    }
                    choices[r][t] = pick
                }
            }
            out += choices
            start += n
        }
        proposed += count
        return out
    }

    /// log P(child) under the current controller, for each child.
    public func logProbabilities(_ children: [[Int]]) throws -> [Double] {
        try forward.setSources(matching: step.sources())
        var out: [Double] = []
        var start = 0
        while start < children.count {
            let batch = Array(children[start..<min(start + batchLimit, children.count)])
            let r = try forward.run(inputs(batch.map(tokens), batch, advantages: [Double](repeating: 0, count: batch.count)))
            for (row, choices) in batch.enumerated() {
                out.append(choices.indices.reduce(0.0) { sum, t in
                    sum + Foundation.log(r["p\(t)"]!.data[row * graph.steps[t].options + choices[t]])
                })
            }
            start += batch.count
        }
        return out
    }

    /// One REINFORCE update from the children's rewards.
    public func observe(_ children: [[Int]], rewards observed: [Double]) throws {
        guard !children.isEmpty else { return }
        var rewards = observed
        let logP = try logProbabilities(children)
        lastEntropy = -logP.reduce(0, +) / Double(logP.count)
        if entropyWeight != 0 { rewards = zip(rewards, logP).map { $0 - entropyWeight * $1 } }
        let mean = rewards.reduce(0, +) / Double(rewards.count)
        let b = baseline ?? mean
        var start = 0
        while start < children.count {
            let end = min(start + batchLimit, children.count)
            let batch = Array(children[start..<end])
            var x = inputs(batch.map(tokens), batch, advantages: rewards[start..<end].map { $0 - b })
            x["lr"] = .scalar(learningRate)
            _ = try step.run(x)
            start = end
        }
        baseline = baseline.map { baselineDecay * $0 + (1 - baselineDecay) * mean } ?? mean
    }
}
