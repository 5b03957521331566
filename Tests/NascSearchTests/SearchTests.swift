import Foundation
import NascIR
import NascInterpreter
import NascPasses
import NascSearch
import XCTest

final class SearchTests: XCTestCase {
    /// Every decision sequence of the space builds a child that verifies,
    /// with the repair rules: no input -> the image; unconsumed outputs ->
    /// the classifier; different sizes -> zero-padded.
    func testEveryChildVerifies() throws {
        for (strides, poolEvery) in [(false, 0), (true, 0), (false, 1), (true, 2)] {
            let space = CNNSpace(layers: poolEvery == 1 ? 6 : 4, strides: strides, poolEvery: poolEvery)
            var search = RandomSearch(space: space, seed: 3)
            for choices in search.propose(60) {
                let text = space.ir(choices)
                XCTAssertNoThrow(try Verifier.parseAndVerify(Array(text.utf8)), text)
            }
        }
        // Layer 2 skips nothing (takes the image); layer 3 takes 1 and 2; layer 1 feeds only 3.
        let space = CNNSpace(layers: 3)
        let choices = [0, 1, 2, /* l2 */ 1, 1, 0, /* skip 1->2 */ 0, /* l3 */ 3, 2, 1, /* skip 1->3, 2->3 */ 1, 1]
        let text = space.ir(choices)
        XCTAssertTrue(text.contains("%c2 = conv2d %x, %w2"), text)
        XCTAssertTrue(text.contains("%in3 = concat %h1, %h2"), text)
        XCTAssertTrue(text.contains("%pool = global_avg_pool %h3"), text)
        XCTAssertTrue(text.contains("f32[48,1,1,3]"), text)  // layer 1: height 1, width 3, 48 filters
        let wide = space.ir(choices, width: 1.5)  // retraining's width multiplier
        XCTAssertTrue(wide.contains("f32[72,1,1,3]"), wide)
        XCTAssertNoThrow(try Verifier.parseAndVerify(Array(wide.utf8)), wide)

        // Pooling after every layer: layer 3 (14x14 -> stage 2, 7x7) takes
        // layer 1 (28x28) through two pools and layer 2 (14x14) through one.
        let pooled = CNNSpace(layers: 3, poolEvery: 1).ir(choices)
        XCTAssertTrue(pooled.contains("%x_pool1 = max_pool %x {window = [2, 2], stride = [2, 2], pad = valid}"), pooled)  // layer 2 takes the image
        XCTAssertTrue(pooled.contains("%h1_pool2 = max_pool %h1_pool1"), pooled)
        XCTAssertTrue(pooled.contains("%in3 = concat %h1_pool2, %h2_pool1"), pooled)
        let graph = try Verifier.parseAndVerify(Array(pooled.utf8))
        XCTAssertEqual(graph.valueTypes["h3"]?.description, "f32[N,36,7,7]")
    }

    /// With `chain`, a layer without skip inputs reads the layer before it
    /// (through a pool when it crosses a stage); the first reads the image;
    /// layers that chose inputs keep them; the chain's links are consumed.
    func testChainedLayersReadTheLayerBefore() throws {
        // Layer 2 chooses nothing, layer 3 takes layer 1 only.
        let choices = [0, 1, 2, /* l2 */ 1, 1, 0, /* skip 1->2 */ 0, /* l3 */ 3, 2, 1, /* skip 1->3, 2->3 */ 1, 0]
        let paper = CNNSpace(layers: 3).ir(choices)
        XCTAssertTrue(paper.contains("%c2 = conv2d %x, %w2"), paper)
        XCTAssertTrue(paper.contains("%top = concat %h2, %h3"), paper)  // layer 2 feeds nothing: it goes to the classifier
        let chained = CNNSpace(layers: 3, chain: true).ir(choices)
        XCTAssertTrue(chained.contains("%c1 = conv2d %x, %w1"), chained)
        XCTAssertTrue(chained.contains("%c2 = conv2d %h1, %w2"), chained)
        XCTAssertTrue(chained.contains("%c3 = conv2d %h1, %w3"), chained)
        XCTAssertTrue(chained.contains("%top = concat %h2, %h3"), chained)
        let pooled = CNNSpace(layers: 3, poolEvery: 1, chain: true).ir(choices)
        XCTAssertTrue(pooled.contains("%c2 = conv2d %h1_pool1, %w2"), pooled)
        XCTAssertFalse(pooled.contains("%x_pool"), pooled)
        // Every chained child verifies, and the setting round-trips through search.json.
        let space = CNNSpace(layers: 6, strides: true, poolEvery: 2, chain: true)
        var search = RandomSearch(space: space, seed: 4)
        for c in search.propose(40) { XCTAssertNoThrow(try Verifier.parseAndVerify(Array(space.ir(c).utf8))) }
        let shape = ChildShape(space: space, channels: 1, size: 28, classes: 10)
        XCTAssertEqual(ChildShape(json: shape.json), shape)
        XCTAssertEqual((ChildShape(json: ["layers": 6, "strides": true, "pool_every": 2])?.space as? CNNSpace)?.chain, false)  // older folders
        var unchained = space
        unchained.chain = false
        let other = ChildShape(space: unchained, channels: 1, size: 28, classes: 10)
        XCTAssertEqual(shape.difference(from: other), "--chain 1, not 0")
    }

    /// With `separable`, every layer is ReLU, depthwise (groups = the input
    /// channels; none for the one-channel image), pointwise 1x1, batch norm;
    /// every child verifies, costs fewer FLOPs than its dense twin, and the
    /// setting round-trips through search.json.
    func testSeparableLayersAreNASNetBlocks() throws {
        let choices = [0, 1, 2, /* l2 */ 1, 1, 0, /* skip 1->2 */ 1, /* l3 */ 3, 2, 1, /* skip 1->3, 2->3 */ 1, 1]
        let text = CNNSpace(layers: 3, separable: true).ir(choices)
        for line in ["%r1 = relu %x", "%d1 = conv2d %r1, %dw1 {stride = [1, 1], pad = same}", "%dw1 = param {init = he_normal} : f32[1,1,1,3]",
                     "%w1 = param {init = he_normal} : f32[48,1,1,1]", "%c1 = conv2d %d1, %w1", "%h1 = batch_norm %c1, %g1, %b1, %m1, %v1",
                     "%d2 = conv2d %r2, %dw2 {stride = [1, 1], pad = same, groups = 48}", "%in3 = concat %h1, %h2",
                     "%d3 = conv2d %r3, %dw3 {stride = [1, 1], pad = same, groups = 72}", "%w3 = param {init = he_normal} : f32[36,72,1,1]"] {
            XCTAssertTrue(text.contains(line), "\(line)\n\(text)")
        }
        let space = CNNSpace(layers: 6, strides: true, poolEvery: 2, separable: true)
        var search = RandomSearch(space: space, seed: 6)
        for c in search.propose(30) {
            let separable = try Verifier.parseAndVerify(Array(space.ir(c).utf8))
            var denseSpace = space
            denseSpace.separable = false
            let dense = try Verifier.parseAndVerify(Array(denseSpace.ir(c).utf8))
            XCTAssertLessThan(GraphStatistics(separable).flopsPerExample, GraphStatistics(dense).flopsPerExample)
        }
        let shape = ChildShape(space: space, channels: 1, size: 28, classes: 10)
        XCTAssertEqual(ChildShape(json: shape.json), shape)
        XCTAssertEqual((ChildShape(json: ["layers": 6])?.space as? CNNSpace)?.separable, false)  // older folders
        var dense = space
        dense.separable = false
        let other = ChildShape(space: dense, channels: 1, size: 28, classes: 10)
        XCTAssertEqual(shape.difference(from: other), "--separable 1, not 0")
    }

    /// A smaller child's decisions are a prefix of the space's: its IR is the
    /// smaller space's child, and the controller's loss for it counts its own
    /// steps only (what the growing schedule relies on).
    func testShorterChildrenArePrefixes() throws {
        let big = CNNSpace(layers: 3, poolEvery: 1)
        var random = RandomSearch(space: big, seed: 5)
        let full = random.propose(1)[0]
        for layers in 1...2 {
            let small = big.withLayers(layers)
            XCTAssertEqual(big.decisions.prefix(small.decisions.count).map(\.options), small.decisions.map(\.options))
            let prefix = Array(full.prefix(small.decisions.count))
            XCTAssertEqual(big.ir(prefix), small.ir(prefix))
            XCTAssertEqual(big.layers(forDecisions: prefix.count), layers)
        }
        XCTAssertNil(big.layers(forDecisions: 4))

        let controller = try ReinforceController(space: big, seed: 3, maxBatch: 2)
        controller.length = big.withLayers(2).decisions.count
        let child = try controller.propose(1)[0]
        XCTAssertEqual(child.count, 7)
        // The step's loss at lr 0 is adv * (-log P(child)) over the child's 7 steps.
        var x = controller.stepInputs([child], advantages: [0.5])
        x["lr"] = .scalar(0)
        let loss = try controller.step.run(x)["loss"]!.data[0]
        XCTAssertEqual(loss, -0.5 * (try controller.logProbabilities([child])[0]), accuracy: 1e-4)
    }

    /// The controller's REINFORCE gradient equals the gradient of the
    /// expected reward, computed exactly over a tiny space (every sequence
    /// enumerated) and checked against finite differences, in double
    /// precision with the interpreter.
    func testReinforceGradientMatchesFiniteDifferencesOfTheExpectedReward() throws {
        let space = CNNSpace(layers: 1)  // 3 decisions of 4 options: 64 sequences
        let controller = ControllerGraph(space: space)
        let graph = try Verifier.parseAndVerify(Array(controller.text.utf8))
        let sequences = (0..<64).map { [$0 / 16, $0 / 4 % 4, $0 % 4] }
        func reward(_ s: [Int]) -> Double { Double(s[0] == 2 ? 1 : 0) + 0.5 * Double(s[2]) + 0.1 * Double(s[1]) }
        var inputs: [String: Tensor] = [:]
        for t in 0..<3 {
            inputs["adv\(t)"] = Tensor(shape: [64], repeating: 0)
            inputs["tok\(t)"] = Tensor(.i32, shape: [64], data: sequences.map { t == 0 ? 0 : Double(controller.token(t - 1, $0[t - 1])) })
            inputs["act\(t)"] = Tensor(.i32, shape: [64], data: sequences.map { Double($0[t]) })
        }
        let sources = Initializers.initializeAll(graph, seed: 4)
        let forward = Interpreter(graph)
        func probabilities(_ s: [String: Tensor]) throws -> [Double] {
            let r = try forward.run(inputs: inputs, sources: s)
            return (0..<64).map { n in (0..<3).reduce(1.0) { $0 * r.output("p\($1)")!.data[n * 4 + sequences[n][$1]] } }
        }
        let p = try probabilities(sources)
        // Two objectives: the expected reward, and the entropy of the
        // distribution over children, whose REINFORCE estimate (the entropy
        // bonus) uses the reward -log P(child) at the current parameters.
        let objectives: [(name: String, value: ([Double]) -> Double, reward: [Double])] = [
            ("expected reward", { q in zip(q, sequences).reduce(0) { $0 + $1.0 * reward($1.1) } }, sequences.map(reward)),
            ("entropy", { q in q.reduce(0) { $0 - $1 * log($1) } }, p.map { -log($0) }),
        ]
        for objective in objectives {
            // REINFORCE loss with weights N * P(seq) * R(seq): its gradient is -grad J.
            var weighted = inputs
            for t in 0..<3 { weighted["adv\(t)"] = Tensor(shape: [64], data: zip(p, objective.reward).map { 64 * $0 * $1 }) }
            let gradients = try Interpreter(try Autodiff.run(graph)).run(inputs: weighted, sources: sources)
            var rng = SeededGenerator(seed: 1)
            var worst = 0.0, checked = 0
            for name in ["emb", "W1", "U2", "b2", "head_height", "headb_width", "head_filters"] {
                let grad = gradients.output("grad." + name)!
                for _ in 0..<6 {
                    let i = rng.index(grad.count)
                    var plus = sources, minus = sources
                    plus[name]!.data[i] += 1e-5
                    minus[name]!.data[i] -= 1e-5
                    let numeric = (objective.value(try probabilities(plus)) - objective.value(try probabilities(minus))) / 2e-5
                    let error = abs(-grad.data[i] - numeric) / max(abs(numeric), abs(grad.data[i]), 1e-4)
                    worst = max(worst, error)
                    checked += 1
                }
            }
            print("REINFORCE gradient vs finite differences of the \(objective.name): \(checked) elements, worst error \(worst)")
            XCTAssertLessThan(worst, 1e-5, objective.name)
        }
    }

    /// A controller trained towards one child has a peaked distribution;
    /// with every reward 0 afterwards, the entropy bonus spreads it out
    /// again, and without the bonus it does not.
    func testEntropyBonusRaisesTheControllersEntropy() throws {
        let space = CNNSpace(layers: 2)
        var after: [Double: Double] = [:]
        var before = 0.0
        for weight in [0.0, 1.0] {
            let controller = try ReinforceController(space: space, seed: 2, maxBatch: 8)
            controller.learningRate = 0.02
            let favourite = space.decisions.map { _ in 0 }
            for _ in 0..<30 { try controller.observe([favourite, try controller.propose(1)[0]], rewards: [1, 0]) }
            func entropy() throws -> Double {  // -E[log P(child)] over 256 of the controller's own samples
                let samples = try controller.propose(256)
                return -(try controller.logProbabilities(samples)).reduce(0, +) / 256
            }
            before = try entropy()
            controller.entropyWeight = weight
            for _ in 0..<60 { try controller.observe(try controller.propose(8), rewards: [Double](repeating: 0, count: 8)) }
            after[weight] = try entropy()
            print("entropy bonus \(weight): controller entropy \(before) -> \(after[weight]!) nats (uniform \(space.decisions.reduce(0) { $0 + log(Double($1.options)) }))")
        }
        XCTAssertGreaterThan(after[1]!, 2 * before)
        XCTAssertGreaterThan(after[1]!, after[0]! + 0.3)
    }

    /// On a reward with a known optimum (the share of decisions matching a
    /// hidden target, no training), over 10 seeds at an equal budget,
    /// REINFORCE and evolution reach the optimum region (at most one wrong
    /// decision) far more often than random search.
    func testStrategiesBeatRandomSearchOnASyntheticReward() throws {
        let space = CNNSpace(layers: 3)  // 12 decisions, 2 million children
        let target = space.decisions.enumerated().map { ($0.offset * 7 + 1) % $0.element.options }
        func reward(_ c: [Int]) -> Double { Double(zip(c, target).filter { $0 == $1 }.count) / Double(target.count) }
        let env = ProcessInfo.processInfo.environment
        let budget = Int(env["NASC_SEARCH_BUDGET"] ?? "") ?? 800, goal = 11.0 / 12.0 - 1e-9
        let seeds = UInt64(env["NASC_SEARCH_SEEDS"] ?? "") ?? 10
        var hits: [String: Int] = [:]
        var bestByStrategy: [String: [Double]] = [:]
        for seed in UInt64(1)...seeds {
            var strategies: [SearchStrategy] = [RandomSearch(space: space, seed: seed),
                                                RegularizedEvolution(space: space, population: 20, sample: 5, seed: seed)]
            let rl = try ReinforceController(space: space, seed: seed, maxBatch: 8)
            rl.learningRate = Double(env["NASC_RL_LR"] ?? "") ?? 0.005
            strategies.append(rl)
            for var s in strategies {
                var best = 0.0, evaluated = 0
                while evaluated < budget {
                    let children = try s.propose(8)
                    let rewards = children.map(reward)
                    best = max(best, rewards.max()!)
                    try s.observe(children, rewards: rewards)
                    evaluated += children.count
                }
                bestByStrategy[s.name, default: []].append(best)
                if best >= goal { hits[s.name, default: 0] += 1 }
            }
        }
        for name in ["random", "evolution", "reinforce"] {
            let bests = bestByStrategy[name]!
            print("synthetic reward, \(budget) children x 10 seeds: \(name) reached the optimum region in \(hits[name] ?? 0)/10 seeds; "
                  + "mean best \(String(format: "%.3f", bests.reduce(0, +) / 10))")
        }
        XCTAssertGreaterThanOrEqual(hits["evolution"] ?? 0, (hits["random"] ?? 0) + 5)
        XCTAssertGreaterThanOrEqual(hits["reinforce"] ?? 0, (hits["random"] ?? 0) + 5)
    }

    /// The reward: accuracy cubed without a target; with one, a child at the
    /// target earns accuracy cubed, a dearer child less and a cheaper more,
    /// by (cost / target)^exponent.
    func testRewardWeighsCostAgainstATarget() {
        XCTAssertEqual(Reward()(accuracy: 0.9, flopsPerImage: 123_000_000), pow(0.9, 3), accuracy: 1e-15)
        let r = Reward(targetMFLOPs: 10)
        XCTAssertEqual(r(accuracy: 0.9, flopsPerImage: 10_000_000), pow(0.9, 3), accuracy: 1e-15)
        XCTAssertEqual(r(accuracy: 0.9, flopsPerImage: 20_000_000), pow(0.9, 3) * pow(2, -0.07), accuracy: 1e-15)
        XCTAssertGreaterThan(r(accuracy: 0.9, flopsPerImage: 5_000_000), pow(0.9, 3))
        // Twice the cost is worth about 1.6% more accuracy.
        XCTAssertEqual(r(accuracy: 0.9 * pow(2, 0.07 / 3), flopsPerImage: 20_000_000), pow(0.9, 3), accuracy: 1e-12)
    }

    /// The hard limit: a child above it is refused, one at it is not, and
    /// no limit refuses nothing; the limit is part of the recorded reward.
    func testAHardCostLimitRefusesOnlyDearerChildren() {
        let r = Reward(maxMFLOPs: 10)
        XCTAssertNil(r.refusal(flopsPerImage: 10_000_000))
        XCTAssertEqual(r.refusal(flopsPerImage: 12_345_678), "12.3 MFLOP per image, over --max-mflops 10")
        XCTAssertNil(Reward().refusal(flopsPerImage: Int.max))
        XCTAssertEqual(r(accuracy: 0.9, flopsPerImage: 5_000_000), pow(0.9, 3), accuracy: 1e-15)  // below it, accuracy alone
        // Over it, graded: just over is near 0, twice the limit -0.5, and always below a trained child's 0 or more.
        XCTAssertEqual(r.overLimitReward(flopsPerImage: 10_000_000), 0)
        XCTAssertEqual(r.overLimitReward(flopsPerImage: 20_000_000), -0.5, accuracy: 1e-15)
        XCTAssertLessThan(r.overLimitReward(flopsPerImage: 40_000_000), r.overLimitReward(flopsPerImage: 20_000_000))
        XCTAssertGreaterThan(r.overLimitReward(flopsPerImage: Int.max), -1)
        XCTAssertEqual(Reward().overLimitReward(flopsPerImage: Int.max), 0)
        var settings = SearchSettings(shape: ChildShape(space: CNNSpace(layers: 2), channels: 1, size: 28, classes: 10))
        settings.reward = Reward(targetMFLOPs: 3, exponent: -0.1, maxMFLOPs: 7)
        XCTAssertEqual(SearchSettings(json: settings.json)?.reward, settings.reward)
    }

    /// The leaderboard's intervals: Wilson's score interval, by hand.
    func testAccuracyIntervalsAreWilsonsAndTellTies() {
        let a = AccuracyInterval(accuracy: 0.9, count: 1000)
        XCTAssertEqual(a.low, 0.87985, accuracy: 1e-4)
        XCTAssertEqual(a.high, 0.91709, accuracy: 1e-4)
        let none = AccuracyInterval(accuracy: 0, count: 10)
        XCTAssertEqual(none.low, 0)
        XCTAssertEqual(none.high, 0.27754, accuracy: 1e-4)
        XCTAssertTrue(a.overlaps(AccuracyInterval(accuracy: 0.89, count: 1000)), "0.90 and 0.89 on 1,000 images tie")
        XCTAssertFalse(a.overlaps(AccuracyInterval(accuracy: 0.85, count: 1000)))
        XCTAssertFalse(AccuracyInterval(accuracy: 0.9, count: 100_000).overlaps(AccuracyInterval(accuracy: 0.89, count: 100_000)))
        XCTAssertEqual(a.description, "[0.880, 0.917]")
    }
}
