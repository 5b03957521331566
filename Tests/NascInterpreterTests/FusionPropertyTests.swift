import Foundation
import NascIR
import NascPasses
import NascTestSupport
import XCTest

/// What fusion and planning must achieve on the training graphs of the
/// NAS-RL children in ir-specs/ (and of random children): no two fusable
/// elementwise kernels left adjacent, every parameter's update in a single
/// kernel after the kernels summing its gradient over the batch, an arena
/// of at most 75% of the naive sum of intermediates and within a sixth of
/// the bytes live at once, no two live buffers in the same bytes, and one
/// kernel for the ops of batch statistics that sum the same values.
final class FusionPropertyTests: XCTestCase {
    static let children = ["ir-specs/models/nasrl_child.nasir", "ir-specs/parse/nasrl_child_skip.nasir",
                           "ir-specs/autodiff/conv_bn_relu.nasir",
                           "ir-specs/autodiff/skip_concat.nasir"]

    static func root() -> URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    func check(_ forward: Graph, _ name: String, optimizer: Optimizer, arenaLimit: Double? = 0.75, statisticsShared: Bool = true) throws -> (Int, Int) {
        let training = try Pipeline.run(forward, upTo: .train, TrainingOptions(optimizer: optimizer, weightDecay: 1e-4))
        let fused = try Pipeline.run(forward, upTo: .fuse, TrainingOptions(optimizer: optimizer, weightDecay: 1e-4))
        let defining = fused.definingNode
        let kernelOf = Dictionary(uniqueKeysWithValues: fused.nodes.compactMap { n in n.kernel.map { (n.result, $0) } })

        // Kernels made only of elementwise ops, with their iteration shape.
        var pure: [String: TensorType] = [:]
        var impure = Set<String>()
        for n in fused.nodes {
            guard let k = n.kernel else { continue }
            if PatternKind.of(n).isEpilogue && !impure.contains(k) { pure[k] = pure[k] ?? n.type } else { impure.insert(k); pure[k] = nil }
        }
        for n in fused.nodes {
            guard let k = n.kernel, let shape = pure[k] else { continue }
            for v in n.operands {
                guard let p = kernelOf[v], p != k, pure[p] == shape else { continue }
                XCTFail("\(name): elementwise kernels @\(p) and @\(k) of the same shape are adjacent (via %\(v))")
            }
        }

        // Each parameter's update: every op between its gradient and next.<p>
        // in one kernel, up to the sums over the batch (kernels of their own).
        let gradients = try Autodiff.run(forward).outputs.filter { $0.label.hasPrefix("grad.") }
        for g in gradients {
            let p = String(g.label.dropFirst(5))
            guard let next = fused.outputs.first(where: { $0.label == "next." + p }), let d = defining[next.value],
                  let k = fused.nodes[d].kernel else { XCTFail("\(name): no update of %\(p)"); continue }
            // Walk back from next.<p> through the computing nodes of the
            // parameter's shape (Adam's step size is a scalar shared by all
            // updates, computed once) until the gradient.
            let shape = fused.valueTypes[p]
            var work = [next.value], seen = Set<String>()
            while let v = work.popLast() {
                guard seen.insert(v).inserted, v != g.value, let i = defining[v], PatternKind.of(fused.nodes[i]) != .source,
                      fused.nodes[i].type == shape, !PatternKind.sumsOverBatch(fused.nodes[i], fused.valueTypes) else { continue }
                XCTAssertEqual(fused.nodes[i].kernel, k, "\(name): the update of %\(p) spans kernels (%\(v) is in @\(fused.nodes[i].kernel ?? "-"))")
                if fused.nodes[i].result == g.value { continue }
                work += fused.nodes[i].operands
            }
        }

        // Ops of batch statistics summing the same values share a kernel:
        // the running mean and variance with batch norm, gamma's gradient
        // with the batch-norm gradient.
        if statisticsShared {
            for n in fused.nodes {
                for m in fused.nodes where Fusion.sharesStatistics(n, with: m) {
                    XCTAssertEqual(n.kernel, m.kernel, "\(name): %\(n.result) = \(n.op.name) sums what %\(m.result) sums, in another kernel")
                }
            }
        }

        let plan = try MemoryPlan.plan(fused, batch: 128)
        let live = checkArena(plan, name)
        if let limit = arenaLimit {
            XCTAssertLessThanOrEqual(Double(plan.peakBytes), limit * Double(plan.naiveBytes), "\(name): arena \(plan.peakBytes) vs naive \(plan.naiveBytes)")
            // Within a sixth of the bytes live at once, at most: no large
            // buffer pushed up past gaps the small ones left.
            XCTAssertLessThanOrEqual(Double(plan.peakBytes), 1.17 * Double(live), "\(name): arena \(plan.peakBytes), live at most \(live)")
        }
        return (GraphStatistics(training).ops, GraphStatistics(fused).kernels)
    }

    /// No two buffers live in the same kernel share a byte of the arena,
    /// except a buffer written over the operand it replaces (in place).
    /// Returns the most bytes live at once, the least any arena can have.
    @discardableResult
    func checkArena(_ plan: MemoryPlan, _ name: String) -> Int {
        let index = Dictionary(uniqueKeysWithValues: plan.buffers.enumerated().map { ($1.value, $0) })
        // Each buffer's block: the buffer its in-place chain starts from (nil: a parameter's storage).
        func block(_ i: Int) -> Int? {
            var i = i
            while case .inPlace(let other) = plan.buffers[i].placement {
                guard let j = index[other] else { return nil }
                i = j
            }
            return i
        }
        var lastOfBlock: [Int: Int] = [:]
        for i in plan.buffers.indices { if let b = block(i) { lastOfBlock[b] = max(lastOfBlock[b] ?? -1, plan.buffers[i].last) } }
        let blocks = lastOfBlock.keys.sorted()
        for (x, a) in blocks.enumerated() {
            guard case .arena(let offsetA) = plan.buffers[a].placement else { continue }
            for b in blocks[(x + 1)...] {
                guard case .arena(let offsetB) = plan.buffers[b].placement else { continue }
                let together = plan.buffers[a].first <= lastOfBlock[b]! && plan.buffers[b].first <= lastOfBlock[a]!
                let shareBytes = offsetA < offsetB + plan.buffers[b].bytes && offsetB < offsetA + plan.buffers[a].bytes
                XCTAssertFalse(together && shareBytes, "\(name): %\(plan.buffers[a].value) and %\(plan.buffers[b].value) are live together in the same bytes")
            }
        }
        var most = 0
        for k in 0...plan.kernels.count {
            most = max(most, blocks.filter { plan.buffers[$0].first <= k && k <= lastOfBlock[$0]! }.reduce(0) { $0 + plan.buffers[$1].bytes })
        }
        XCTAssertLessThanOrEqual(most, plan.peakBytes, "\(name): more bytes live at once than the arena has")
        XCTAssertEqual(most, plan.liveBytes, "\(name): the plan's own figure of the bytes live at once")
        return most
    }

    func testNASChildrenFuseAndPlanAsRequired() throws {
        for path in Self.children {
            let text = try String(contentsOf: Self.root().appendingPathComponent(path), encoding: .utf8)
            let forward = try graph(text)
            for optimizer in [Optimizer.sgd(momentum: 0.9, nesterov: false), .adamDefault] {
                let (ops, kernels) = try check(forward, path, optimizer: optimizer)
                let plan = try MemoryPlan.plan(try Pipeline.run(forward, upTo: .fuse, TrainingOptions(optimizer: optimizer)), batch: 128)
                print("\(path) (\(optimizer == .adamDefault ? "adam" : "sgd")): \(ops) ops -> \(kernels) kernels, arena \(MemoryPlan.human(plan.peakBytes)) of naive \(MemoryPlan.human(plan.naiveBytes))")
            }
        }
    }

    /// Random children are tiny (a few hundred bytes per tensor), where the
    /// arena's share says little; they check the kernel structure. Their
    /// batch statistics may not share kernels: with a scalar parameter
    /// before batch norm, Adam's shared step size joins that scalar's
    /// update, which reads the batch-norm gradient, so gamma's gradient
    /// (reading the step size) cannot join the gradient's kernel (seed 32).
    func testRandomChildrenFuseAsRequired() throws {
        for seed in UInt64(1)...60 {
            var generator = RandomGraphs(seed: seed)
            _ = try check(try graph(generator.make()), "random seed \(seed)", optimizer: seed % 2 == 0 ? .adamDefault : .sgd(momentum: 0.9, nesterov: false),
                      arenaLimit: nil, statisticsShared: false)
        }
    }
}
