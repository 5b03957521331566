import Foundation
import NascIR
import NascInterpreter
import NascLLVM
import NascRuntime
import NascPasses
import NascTestSupport
import XCTest

/// The JIT against the interpreter, the oracle. The JIT computes in f32 and
/// the interpreter in f64, so an element passes when
///
///     |jit - reference| <= 1e-4 * max(|reference|, mean |reference| of its tensor) + 1e-6
///
/// 1e-4 relative for elements of ordinary size; an element much smaller than
/// its neighbours is measured against their size; and the 1e-6 floor admits
/// values that are zero in exact arithmetic but come out as f32 rounding
/// noise (a gradient through batch norm's mean, a scale that cancels).
final class DifferentialTests: XCTestCase {
    static let tolerance = 1e-4

    /// Adam with epsilon 0.01 rather than 1e-8: a parameter whose gradient is
    /// zero in exact arithmetic (a bias just before batch norm) gets f32
    /// rounding noise as its gradient, and Adam with a tiny epsilon turns any
    /// noise into a full step of lr, so two correct implementations would
    /// disagree by a whole step. The code compiled is the same.
    static let adam = Optimizer.adam(beta1: 0.9, beta2: 0.999, epsilon: 0.01)

    /// The worst difference over all outputs as a fraction of its bound (at
    /// most 1 when everything passes), failing on any element above it.
    @discardableResult
    func compare(_ g: Graph, _ name: String, batch: Int = 3, seed: UInt64 = 1, steps: Int = 1, cache: KernelCache = .shared,
                 inputs given: [String: Tensor] = [:], file: StaticString = #filePath, line: UInt = #line) throws -> (Double, Set<Op>) {
        let compiled = try CompiledGraph.compile(g, maxBatch: max(batch, 4), cache: cache)
        var reference = TrainingStep(g, seed: seed)
        // Parameters no output needs are gone from the compiled graph.
        try compiled.setSources(matching: reference.sources)
        var inputs = RandomInputs.make(g, batch: batch, seed: seed).merging(given) { _, mine in mine }
        if g.inputs.contains(where: { $0.name == "lr" }) { inputs["lr"] = .scalar(0.05) }
        var worst = 0.0
        for step in 1...steps {
            let expected = try reference.step(inputs)
            let actual = try compiled.run(inputs)
            for (label, e) in expected.outputs {
                guard let a = actual[label] else { XCTFail("\(name): JIT lacks output \(label)", file: file, line: line); continue }
                let scale = e.data.reduce(0) { $0 + abs($1) } / Double(max(e.count, 1))
                for i in 0..<e.count {
                    let difference = abs(a.data[i] - e.data[i])
                    let bound = Self.tolerance * max(abs(e.data[i]), scale) + 1e-6
                    worst = max(worst, difference / bound)
                    if difference > bound {
                        XCTFail("\(name) step \(step): output \(label)[\(i)] is \(a.data[i]) in the JIT, \(e.data[i]) in the interpreter", file: file, line: line)
                        return (worst, [])
                    }
                }
            }
            // Keep both on the same parameters so errors do not compound.
            try compiled.setSources(matching: reference.sources)
        }
        return (worst, Set(compiled.graph.nodes.map(\.op)))
    }


    func testEveryOpForwardGradientAndTrainingStep() throws {
        var covered = Set<Op>()
        var worst = 0.0
        for (name, text) in SharedOpGraphs.all {
            // A graph without a scalar loss is trained on half the sum of
            // squares of its first output, as the gradient checks do.
            let parsed = try Verifier.parseAndVerify(Array(text.utf8))
            let loss = parsed.outputs[0].label
            let forward = try GradientCheck.withScalarLoss(parsed, loss)
            for (stage, options) in [(Stage.verify, TrainingOptions(loss: loss)), (.autodiff, TrainingOptions(loss: loss)),
                                     (.train, TrainingOptions(loss: loss, optimizer: .sgd(momentum: 0.9, nesterov: true), weightDecay: 0.01)),
                                     (.train, TrainingOptions(loss: loss, optimizer: Self.adam))] {
                let g = try Pipeline.run(forward, upTo: stage, options)
                for batch in [1, 3] {
                    let (error, ops) = try compare(g, "\(name) after \(stage) (batch \(batch))", batch: batch, steps: stage == .train ? 3 : 1)
                    worst = max(worst, error)
                    covered.formUnion(ops)
                }
            }
        }
        // identity never reaches the backend: canonicalize removes it.
        let computing = Op.allCases.filter { ![.param, .state, .const, .identity].contains($0) }
        XCTAssertEqual(computing.filter { !covered.contains($0) }.map(\.name), [], "ops no differential test compiles")
        print("differential: every op, forward, gradients and training steps: worst difference \(worst) of the bound")
    }

    /// A maximum's gradient goes to the first greatest tap in (kh, kw)
    /// order, in the interpreter and in both of the JIT's pool loops (over
    /// each window; laid flat for stride 1, FlatPool.swift). %z starts all
    /// zeros, so every window ties and %wz's first gradient depends on which
    /// tap wins (%a keeps the loss's gradient off zero); the pools are 3x3
    /// and 2x3, stride 1 and 2. Finite differences cannot check a tie, so
    /// only the oracle does.
    func testMaxPoolTiesSendTheGradientToTheFirstTap() throws {
        for (window, stride) in [("[3, 3]", 1), ("[2, 3]", 1), ("[3, 3]", 2)] {
            let size = stride == 1 ? "5,4" : "3,2"
            let text = graphText("%x: f32[N,2,5,4]", "y: f32[N,2,\(size)]", """
                  %wz = param {init = zeros} : f32[2,2,1,1]
                  %z = conv2d %x, %wz
                  %m = max_pool %z {window = \(window), stride = [\(stride), \(stride)], pad = same}
                  %w0 = param {init = uniform, scale = 0.5} : f32[2,2,\(stride),\(stride)]
                  %a = conv2d %x, %w0 {stride = [\(stride), \(stride)]}
                  %y = add %m, %a
                  return %y
                """)
            let forward = try GradientCheck.withScalarLoss(try Verifier.parseAndVerify(Array(text.utf8)), "y")
            let g = try Pipeline.run(forward, upTo: .autodiff, TrainingOptions(loss: "y"))
            try compare(g, "max pool \(window) stride \(stride) over ties", batch: 3)
        }
    }

    func testRandomGraphsAgreeWithTheInterpreter() throws {
        let env = ProcessInfo.processInfo.environment
        let cases = Int(env["NASC_GRAPH_CASES"] ?? "") ?? 150
        let firstSeed = UInt64(env["NASC_GRAPH_SEED"] ?? "") ?? 1
        var worst = 0.0
        for seed in firstSeed..<firstSeed + UInt64(cases) {
            var generator = RandomGraphs(seed: seed)
            let forward = try Verifier.parseAndVerify(Array(generator.make().utf8))
            let optimizer: Optimizer = seed % 2 == 0 ? Self.adam : .sgd(momentum: 0.9, nesterov: false)
            let training = try Pipeline.run(forward, upTo: .train, TrainingOptions(optimizer: optimizer, weightDecay: 1e-3))
            worst = max(worst, try compare(training, "random graph seed \(seed)", batch: 1 + Int(seed % 4), seed: seed, steps: 2).0)
        }
        print("differential: \(cases) random training graphs, 2 steps each: worst difference \(worst) of the bound")
    }
}

extension DifferentialTests {
    /// Debugging aid: every value as an output, so the first wrong one shows.
    func firstDifference(_ g: Graph, batch: Int, seed: UInt64) throws -> String? {
        var all = g
        let existing = Set(g.outputs.map(\.value))
        for n in g.sorted().nodes where !existing.contains(n.result) && n.op != .param && n.op != .state {
            all.outputs.append(GraphOutput(label: "v." + n.result, type: n.type!, value: n.result))
        }
        all = try Verifier.verify(all)
        let compiled = try CompiledGraph.compile(all, maxBatch: 4)
        let reference = TrainingStep(all, seed: seed)
        try compiled.setSources(reference.sources)
        var inputs = RandomInputs.make(all, batch: batch, seed: seed)
        if all.inputs.contains(where: { $0.name == "lr" }) { inputs["lr"] = .scalar(0.05) }
        var r = reference
        let expected = try r.step(inputs)
        let actual = try compiled.run(inputs)
        var report: [String] = []
        for (label, e) in expected.outputs {
            let a = actual[label]!
            for i in 0..<e.count where abs(a.data[i] - e.data[i]) > 1e-3 * max(1, abs(e.data[i])) {
                report.append("\(label)[\(i)]: \(a.data[i]) vs \(e.data[i])")
                break
            }
        }
        print(compiled.graph.sorted().nodes.filter { $0.kernel != nil }.map { "\($0.kernel!): \(Printer.print($0))" }.joined(separator: "\n"))
        return report.isEmpty ? nil : report.joined(separator: "\n")
    }

    func testDebugFirstDifference() throws {
        guard let spec = ProcessInfo.processInfo.environment["NASC_DEBUG_GRAPH"] else { return }
        let forward = try Verifier.parseAndVerify(Array(try String(contentsOfFile: spec, encoding: .utf8).utf8))
        let stage = Stage(rawValue: ProcessInfo.processInfo.environment["NASC_DEBUG_STAGE"] ?? "autodiff") ?? .autodiff
        let g = try Pipeline.run(forward, upTo: stage)
        print("first difference: \(try firstDifference(g, batch: 3, seed: 1) ?? "none")")
    }
}

extension DifferentialTests {
    /// The JIT's own parameter storage after several steps (updates written
    /// in place or copied back) matches the interpreter's.
    func testTrainingStepsUpdateTheSameParameters() throws {
        let forward = try Verifier.parseAndVerify(Array(SharedOpGraphs.wholePipeline[1].1.utf8))
        let training = try Pipeline.run(forward, upTo: .train, TrainingOptions(optimizer: .sgd(momentum: 0.9, nesterov: false), weightDecay: 1e-3))
        let compiled = try CompiledGraph.compile(training, maxBatch: 8)
        var reference = TrainingStep(training, seed: 5)
        try compiled.setSources(reference.sources)
        var inputs = RandomInputs.make(training, batch: 6, seed: 5)
        inputs["lr"] = .scalar(0.02)
        for _ in 0..<3 {
            try reference.step(inputs)
            _ = try compiled.run(inputs)
        }
        let ours = compiled.sources()
        var worst = 0.0
        for (name, expected) in reference.sources {
            let actual = ours[name]!
            let scale = expected.data.reduce(0) { $0 + abs($1) } / Double(max(expected.count, 1))
            for i in 0..<expected.count {
                let bound = Self.tolerance * max(abs(expected.data[i]), scale) + 1e-6
                worst = max(worst, abs(actual.data[i] - expected.data[i]) / bound)
            }
        }
        XCTAssertLessThanOrEqual(worst, 1, "parameters after 3 JIT steps differ from the interpreter's")
        print("JIT parameters after 3 training steps: worst difference \(worst) of the bound")
    }
}

extension DifferentialTests {
    /// Runs `compiled` on one thread and then on two, from the same sources
    /// and inputs, and compares every output. Fails on the first element
    /// beyond the bound (nil); else the worst difference as a fraction of it.
    func twoThreadsMatchOne(_ compiled: CompiledGraph, sources: [String: Tensor], inputs: [String: Tensor], _ name: String,
                            file: StaticString = #filePath, line: UInt = #line) throws -> Double? {
        var results: [[String: Tensor]] = []
        for threads in [1, 2] {
            compiled.threads = threads
            try compiled.setSources(sources)
            results.append(try compiled.run(inputs))
        }
        var worst = 0.0
        for (label, one) in results[0] {
            let two = results[1][label]!
            let scale = one.data.reduce(0) { $0 + abs($1) } / Double(max(one.count, 1))
            for i in 0..<one.count {
                // The absolute floor covers gradients that cancel to zero
                // (a scalar added before batch norm): what is left of a
                // sum over the batch is rounding noise of about 1e-7 whose
                // sign depends on the order of the chunks (seed 32).
                let bound = 1e-5 * max(abs(one.data[i]), scale) + 1e-6
                worst = max(worst, abs(two.data[i] - one.data[i]) / bound)
                if abs(two.data[i] - one.data[i]) > bound {
                    XCTFail("\(name): \(label)[\(i)] is \(two.data[i]) on two threads, \(one.data[i]) on one", file: file, line: line)
                    return nil
                }
            }
        }
        return worst
    }

    /// Kernels that BatchSplit runs as batch chunks on two threads (partial
    /// sums added, for weight gradients) give what one thread gives on the
    /// whole batch (odd batches: uneven chunks).
    func testBatchChunksOnTwoThreadsMatchOneThread() throws {
        var chunked = 0, summed = 0, byChannels = 0, worst = 0.0
        for seed in UInt64(1)...40 {
            var generator = RandomGraphs(seed: seed)
            let forward = try Verifier.parseAndVerify(Array(generator.make().utf8))
            let training = try Pipeline.run(forward, upTo: .train, TrainingOptions(optimizer: .sgd(momentum: 0.9, nesterov: false)))
            let compiled = try CompiledGraph.compile(training, maxBatch: 8)
            chunked += compiled.chunkedKernels
            summed += compiled.summedKernels
            byChannels += compiled.channelSplitKernels
            let sources = TrainingStep(training, seed: seed).sources
            var inputs = RandomInputs.make(training, batch: 5 + Int(seed % 3), seed: seed)
            inputs["lr"] = .scalar(0.05)
            guard let w = try twoThreadsMatchOne(compiled, sources: sources, inputs: inputs, "seed \(seed)") else { return }
            worst = max(worst, w)
        }
        XCTAssertGreaterThan(chunked, 40, "BatchSplit should chunk the per-example kernels of these graphs")
        XCTAssertGreaterThan(summed, 20, "BatchSplit should sum weight gradients over chunks in these graphs")
        XCTAssertGreaterThan(byChannels, 10, "ChannelSplit should split these graphs' batch-norm kernels by channels")
        print("batch chunks: \(chunked) chunked kernels (\(summed) summing), \(byChannels) split by channels, over 40 random training graphs; two threads vs one: worst difference \(worst) of the bound")
    }
}

extension DifferentialTests {
    /// Every op's training step on two threads (batch chunks, sums over
    /// chunks, channel ranges) gives what one thread gives.
    func testEveryOpInBatchChunksMatchesOneThread() throws {
        var covered = Set<Op>(), chunked = 0, worst = 0.0
        for (name, text) in SharedOpGraphs.all {
            let parsed = try Verifier.parseAndVerify(Array(text.utf8))
            let loss = parsed.outputs[0].label
            let forward = try GradientCheck.withScalarLoss(parsed, loss)
            let training = try Pipeline.run(forward, upTo: .train, TrainingOptions(loss: loss, optimizer: .sgd(momentum: 0.9, nesterov: false)))
            let compiled = try CompiledGraph.compile(training, maxBatch: 8)
            chunked += compiled.chunkedKernels
            var inputs = RandomInputs.make(training, batch: 6, seed: 5)
            inputs["lr"] = .scalar(0.05)
            guard let w = try twoThreadsMatchOne(compiled, sources: TrainingStep(training, seed: 5).sources, inputs: inputs, name) else { return }
            worst = max(worst, w)
            covered.formUnion(compiled.graph.nodes.map(\.op))
        }
        let computing = Op.allCases.filter { ![.param, .state, .const, .identity].contains($0) }
        XCTAssertEqual(computing.filter { !covered.contains($0) }.map(\.name), [], "ops no batch-chunk test runs")
        XCTAssertGreaterThan(chunked, 20)
        print("batch chunks: every op's training step, two threads vs one: worst difference \(worst) of the bound")
    }
}

extension DifferentialTests {
    /// A conv block (conv, training batch norm, ReLU, max pool) and a dense
    /// head, for images of `channels` x `size` x `size`.
    static func convBlock(channels: Int, size: Int, filters: Int, kernel: Int, classes: Int) -> String {
        let pooled = (size + 1) / 2
        return graphText("%x: f32[N,\(channels),\(size),\(size)], %y: i32[N]", "loss: f32[]", """
              %w = param {init = he_normal} : f32[\(filters),\(channels),\(kernel),\(kernel)]
              %c = conv2d %x, %w
              %g = param {init = ones} : f32[\(filters)]
              %b = param {init = zeros} : f32[\(filters)]
              %m = state {init = zeros} : f32[\(filters)]
              %v = state {init = ones} : f32[\(filters)]
              %n = batch_norm %c, %g, %b, %m, %v
              %r = relu %n
              %p = max_pool %r {window = [2, 2], stride = [2, 2], pad = same}
              %f = flatten %p
              %wd = param {init = glorot_uniform} : f32[\(filters * pooled * pooled),\(classes)]
              %z = matmul %f, %wd
              %loss = softmax_cross_entropy %z, %y
              return %loss
            """)
    }

    /// Kernels read most shape figures from %dims, not their text, so a child whose layers have other sizes reuses the machine
    /// code compiled for an earlier child, and still computes its own
    /// result: the second graph (other channels, filters, kernel size,
    /// classes; the same image size) runs entirely on the first one's
    /// kernels and agrees with the interpreter.
    func testKernelsThatDifferOnlyInShapeShareMachineCode() throws {
        let cache = KernelCache()
        let options = TrainingOptions(optimizer: .sgd(momentum: 0.9, nesterov: false))
        func training(_ text: String) throws -> Graph {
            try Pipeline.run(try Verifier.parseAndVerify(Array(text.utf8)), upTo: .train, options)
        }
        let first = try training(Self.convBlock(channels: 3, size: 8, filters: 4, kernel: 3, classes: 5))
        let second = try training(Self.convBlock(channels: 2, size: 8, filters: 7, kernel: 5, classes: 3))
        let a = try CompiledGraph.compile(first, maxBatch: 4, cache: cache)
        XCTAssertEqual(a.timings.cacheHits, 0)
        XCTAssertEqual(a.timings.cacheMisses, a.timings.distinctKernels)
        let b = try CompiledGraph.compile(second, maxBatch: 4, cache: cache)
        XCTAssertEqual(b.timings.kernels, a.timings.kernels)
        XCTAssertEqual(b.timings.cacheMisses, 0, "a graph differing only in shape compiled new kernels")
        XCTAssertEqual(b.timings.cacheHits, b.timings.distinctKernels)
        // The plane's size is part of a kernel's text (see Lowering.Axis).
        let third = try training(Self.convBlock(channels: 3, size: 11, filters: 4, kernel: 3, classes: 5))
        XCTAssertGreaterThan(try CompiledGraph.compile(third, maxBatch: 4, cache: cache).timings.cacheMisses, 0)
        let (worst, _) = try compare(second, "second shape on shared kernels", batch: 3, steps: 2, cache: cache)
        print("shape-shared kernels: \(b.timings.kernels) kernels, \(b.timings.distinctKernels) distinct, \(b.timings.cacheHits) from the cache; worst difference \(worst) of the bound")

        // Within one graph: two blocks of different sizes compile one set of kernels.
        let twoBlocks = try training(graphText("%x: f32[N,3,8,8], %y: i32[N]", "loss: f32[]", """
              %w1 = param {init = he_normal} : f32[4,3,3,3]
              %c1 = conv2d %x, %w1
              %r1 = relu %c1
              %w2 = param {init = he_normal} : f32[6,4,3,3]
              %c2 = conv2d %r1, %w2 {stride = [2, 2], pad = same}
              %r2 = relu %c2
              %p = global_avg_pool %r2
              %loss = softmax_cross_entropy %p, %y
              return %loss
            """))
        let both = try CompiledGraph.compile(twoBlocks, maxBatch: 4, cache: KernelCache())
        XCTAssertLessThan(both.timings.distinctKernels, both.timings.kernels)
        try compare(twoBlocks, "two blocks sharing kernels", batch: 3, steps: 2, cache: KernelCache())
    }
}

extension DifferentialTests {
    /// Compiled kernels kept on disk are linked by a later compile that has
    /// none in memory (as a new process would), or as a kernel library, run
    /// correctly, and a file that does not check out is compiled again,
    /// never loaded.
    func testKernelsKeptOnDiskAreLinkedByALaterCompile() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("nasc-kernels-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        defer { try? FileManager.default.removeItem(at: folder) }
        let options = TrainingOptions(optimizer: .sgd(momentum: 0.9, nesterov: false))
        // A shape no other test compiles, so no module of it is linked already.
        let graph = try Pipeline.run(try Verifier.parseAndVerify(Array(Self.convBlock(channels: 3, size: 13, filters: 5, kernel: 3, classes: 4).utf8)),
                                     upTo: .train, options)
        var distinct = 0
        do {
            let first = try CompiledGraph.compile(graph, maxBatch: 4, cache: KernelCache(directory: folder))
            distinct = first.timings.distinctKernels
            XCTAssertEqual(first.timings.diskHits, 0)
        }  // the graph and its code are freed here
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".o") }
        XCTAssertEqual(files.count, distinct, "one object file per distinct kernel")

        let later = KernelCache(directory: folder)
        let second = try CompiledGraph.compile(graph, maxBatch: 4, cache: later)
        XCTAssertEqual(second.timings.diskHits, distinct)
        XCTAssertEqual(second.timings.llvm.optimize, 0, "a kernel on disk was compiled again")
        let (worst, _) = try compare(graph, "kernels linked from disk", batch: 3, steps: 2, cache: later)
        print("kernels on disk: \(distinct) linked by a later compile; worst difference \(worst) of the bound")

        // The folder as a kernel library: linked by a cache with no folder
        // of its own, counted apart from the cache's own disk hits.
        let library = KernelCache(library: folder)
        let linked = try CompiledGraph.compile(graph, maxBatch: 4, cache: library)
        XCTAssertEqual(linked.timings.libraryHits, distinct)
        XCTAssertEqual(linked.timings.diskHits, 0)
        XCTAssertEqual(linked.timings.llvm.optimize, 0, "a kernel in the library was compiled again")
        try compare(graph, "kernels linked from the library", batch: 3, steps: 1, cache: library)

        // A damaged file: compiled again and rewritten, never handed to LLVM.
        let damaged = folder.appendingPathComponent(files.sorted()[0])
        var bytes = try Data(contentsOf: damaged)
        bytes[bytes.count / 2] ^= 0xFF
        try bytes.write(to: damaged)
        let third = try CompiledGraph.compile(graph, maxBatch: 4, cache: KernelCache(directory: folder))
        XCTAssertEqual(third.timings.diskHits, distinct - 1)
        XCTAssertNotEqual(try Data(contentsOf: damaged), bytes, "the damaged file was not rewritten")
        try compare(graph, "after a damaged file", batch: 3, steps: 1, cache: KernelCache(directory: folder))
    }
}

extension DifferentialTests {
    /// A trainer reads only the loss: the step still updates every
    /// parameter as a run that returns every output does, bit for bit.
    func testRunReadingOnlyTheLossUpdatesTheSameParameters() throws {
        let forward = try Verifier.parseAndVerify(Array(SharedOpGraphs.wholePipeline[1].1.utf8))
        let training = try Pipeline.run(forward, upTo: .train, TrainingOptions(optimizer: .sgd(momentum: 0.9, nesterov: true), weightDecay: 1e-3))
        let everything = try CompiledGraph.compile(training, maxBatch: 8), lossOnly = try CompiledGraph.compile(training, maxBatch: 8)
        let sources = TrainingStep(training, seed: 7).sources
        try everything.setSources(sources)
        try lossOnly.setSources(sources)
        var inputs = RandomInputs.make(training, batch: 6, seed: 7)
        inputs["lr"] = .scalar(0.02)
        let (floats, ints, _) = try everything.kernelInputs(inputs)
        for _ in 0..<3 {
            let all = try everything.run(floats: floats, ints: ints, batch: 6)
            let read = try lossOnly.run(floats: floats, ints: ints, batch: 6, reading: ["loss"])
            XCTAssertEqual(Set(read.keys), ["loss"])
            XCTAssertGreaterThan(all.count, 1)
            XCTAssertEqual(read["loss"]!.values, all["loss"]!.values)
        }
        let (a, b) = (everything.sources(), lossOnly.sources())
        XCTAssertEqual(Set(a.keys), Set(b.keys))
        for (name, t) in a { XCTAssertEqual(t.data, b[name]!.data, "%\(name) after 3 steps") }
        XCTAssertNotEqual(a.mapValues(\.data), sources.mapValues(\.data), "the steps changed nothing")
    }
}

extension DifferentialTests {
    /// Kernels lowered side by side on several threads are the kernels
    /// lowered one at a time, in the same order: text, arguments and shape
    /// figures, for the training step of every op's graph.
    func testKernelsLoweredOnThreadsMatchOneAtATime() throws {
        var kernels = 0
        for (name, text) in SharedOpGraphs.all {
            let parsed = try Verifier.parseAndVerify(Array(text.utf8))
            let loss = parsed.outputs[0].label
            let step = try Pipeline.run(try GradientCheck.withScalarLoss(parsed, loss), upTo: .train, TrainingOptions(loss: loss))
            let fused = try Pipeline.forCompiling(step)
            let one = try KernelLowering.lower(fused, threads: 1)
            for threads in [2, 3] {
                let many = try KernelLowering.lower(fused, threads: threads)
                XCTAssertEqual(many.map(\.kernel), one.map(\.kernel), "\(name) on \(threads) threads")
                XCTAssertEqual(many.map(\.text), one.map(\.text), "\(name) on \(threads) threads")
                XCTAssertEqual(many.map(\.arguments), one.map(\.arguments), "\(name) on \(threads) threads")
                XCTAssertEqual(many.map(\.dims), one.map(\.dims), "\(name) on \(threads) threads")
            }
            kernels += one.count
        }
        XCTAssertGreaterThan(kernels, 100)
    }
}

extension DifferentialTests {
    /// A convolution over a plane of more than ConvolutionBands.columns
    /// outputs runs band by band of output rows (im2col of a band, its
    /// product, col2im of a band), the last band shorter: forward, both
    /// gradients and the update agree with the interpreter, with strides,
    /// `valid` and `same` padding, a 7x3 filter, a 1x1 filter with stride 2
    /// (through im2col), and one-row bands of a plane wider than a band.
    func testConvolutionsOverLargePlanesRunBandByBand() throws {
        // 20 x 22 outputs: 18 rows per band, then 2; and 4 x 400: one row per band.
        XCTAssertEqual(ConvolutionBands.rows(outputRows: 20, outputColumns: 22), 18)
        XCTAssertEqual(ConvolutionBands.rows(outputRows: 4, outputColumns: 400), 1)
        let options = TrainingOptions(optimizer: .sgd(momentum: 0.9, nesterov: false))
        let square = graphText("%x: f32[N,2,45,45], %y: i32[N]", "loss: f32[]", """
              %w1 = param {init = he_normal} : f32[3,2,7,3]
              %c1 = conv2d %x, %w1 {stride = [2, 2], pad = valid}
              %r1 = relu %c1
              %w2 = param {init = he_normal} : f32[4,3,5,5]
              %c2 = conv2d %r1, %w2 {stride = [1, 1], pad = same}
              %r2 = relu %c2
              %w3 = param {init = he_normal} : f32[5,4,1,1]
              %c3 = conv2d %r2, %w3 {stride = [2, 2], pad = same}
              %p = global_avg_pool %c3
              %loss = softmax_cross_entropy %p, %y
              return %loss
            """)
        let wide = graphText("%x: f32[N,2,4,400], %y: i32[N]", "loss: f32[]", """
              %w1 = param {init = he_normal} : f32[3,2,3,3]
              %c1 = conv2d %x, %w1 {stride = [1, 1], pad = same}
              %r1 = relu %c1
              %p = global_avg_pool %r1
              %loss = softmax_cross_entropy %p, %y
              return %loss
            """)
        for (name, text) in [("45x45 with strides", square), ("4x400", wide)] {
            try compareTrainingSteps(text, "convolution bands, \(name)", options)
        }
    }

    /// Two training steps of `text`'s graph, JIT against the interpreter.
    func compareTrainingSteps(_ text: String, _ name: String, _ options: TrainingOptions, batch: Int = 3) throws {
        let g = try Pipeline.run(try Verifier.parseAndVerify(Array(text.utf8)), upTo: .train, options)
        let (worst, _) = try compare(g, "\(name): training step", batch: batch, steps: 2, cache: KernelCache())
        print("\(name): worst difference \(worst) of the bound")
    }
}

extension DifferentialTests {
    /// A stride-1 convolution's input gradient runs as a convolution of the
    /// output gradient with the filters reversed (WindowGeometry.reversed):
    /// forward, gradients and the update agree with the interpreter for
    /// `same` padding split unevenly (2x2, 4x3 filters), `valid` padding
    /// (7x3), a 1x1 filter (its transposed product), bands of input rows
    /// (30x30), and the gradient fused with the ReLU's before it.
    func testStrideOneInputGradientsRunAsConvolutions() throws {
        // 2x2 `same` pads after only, so its reverse pads before only; `valid` 7 reverses into a full window.
        let even = WindowGeometry(size: 30, kernel: 2, stride: 1, pad: "same").reversed
        XCTAssertEqual([even.size, even.outputs, even.padBefore], [30, 30, 1])
        let valid = WindowGeometry(size: 30, kernel: 7, stride: 1, pad: "valid").reversed
        XCTAssertEqual([valid.size, valid.outputs, valid.padBefore], [24, 30, 6])
        let options = TrainingOptions(optimizer: .sgd(momentum: 0.9, nesterov: false))
        let text = graphText("%x: f32[N,2,30,30], %y: i32[N]", "loss: f32[]", """
              %w1 = param {init = he_normal} : f32[3,2,3,3]
              %c1 = conv2d %x, %w1 {stride = [1, 1], pad = same}
              %r1 = relu %c1
              %w2 = param {init = he_normal} : f32[4,3,2,2]
              %c2 = conv2d %r1, %w2 {stride = [1, 1], pad = same}
              %r2 = relu %c2
              %w3 = param {init = he_normal} : f32[3,4,4,3]
              %c3 = conv2d %r2, %w3 {stride = [1, 1], pad = same}
              %r3 = relu %c3
              %w4 = param {init = he_normal} : f32[5,3,7,3]
              %c4 = conv2d %r3, %w4 {stride = [1, 1], pad = valid}
              %r4 = relu %c4
              %w5 = param {init = he_normal} : f32[4,5,1,1]
              %c5 = conv2d %r4, %w5 {stride = [1, 1], pad = same}
              %p = global_avg_pool %c5
              %loss = softmax_cross_entropy %p, %y
              return %loss
            """)
        try compareTrainingSteps(text, "stride-1 input gradients", options)
    }
}

extension DifferentialTests {
    /// Stride-1 convolutions over planes at least DirectConvolution.minimumWidth
    /// wide run directly (no im2col), in tiles of 12, 4 and 1 output
    /// channels, two output rows and 16 positions: forward, both gradients
    /// (the input gradient is such a convolution too) and the update agree
    /// with the interpreter for filter counts that use every tile (17 =
    /// 12 + 4 + 1, and 17 input channels for the input gradient), an odd
    /// number of rows (the last tile's second row past the plane, computed
    /// and not stored), rows of 13 (one partial vector)
    /// and 35 (two full vectors and a partial one), `same` padding split
    /// unevenly (2x2, 4x3) and `valid` padding.
    func testStrideOneConvolutionsOverWidePlanesRunDirectly() throws {
        for (h, w) in [(15, 13), (5, 35)] {
            let geometry = WindowGeometry(size: w, kernel: 3, stride: 1, pad: "same")
            XCTAssertTrue(DirectConvolution.applies(WindowGeometry(size: h, kernel: 5, stride: 1, pad: "same"), geometry))
            try compareTrainingSteps(wideStrideOneGraph(h, w), "direct convolutions, \(h)x\(w)", .init(optimizer: .sgd(momentum: 0.9, nesterov: false)))
        }
        // Narrow planes and strides keep im2col.
        XCTAssertFalse(DirectConvolution.applies(WindowGeometry(size: 7, kernel: 3, stride: 1, pad: "same"),
                                                 WindowGeometry(size: 7, kernel: 3, stride: 1, pad: "same")))
        XCTAssertFalse(DirectConvolution.applies(WindowGeometry(size: 28, kernel: 3, stride: 2, pad: "same"),
                                                 WindowGeometry(size: 28, kernel: 3, stride: 2, pad: "same")))
    }

    /// Their filter gradients run directly too, in tiles of 4 and 1
    /// filters by 6 and 1 taps, summed over groups of images: on 19 images
    /// (whole groups of 8 and a short last group, however the threads
    /// share them), filter counts of 17, 5, 13 and 6 and tap counts of 30,
    /// 68 (11 tiles and two single taps), 60 and 26, the updated filters
    /// agree with the interpreter's. A group never holds more than 2 MB of
    /// padded images, one image excepted.
    func testStrideOneFilterGradientsRunDirectly() throws {
        XCTAssertEqual(DirectFilterGradient.groupSize(floatsPerImage: 684), 8)
        XCTAssertEqual(DirectFilterGradient.groupSize(floatsPerImage: 200_000), 2)
        XCTAssertEqual(DirectFilterGradient.groupSize(floatsPerImage: 3_000_000), 1)
        try compareTrainingSteps(wideStrideOneGraph(15, 13), "direct filter gradients over groups",
                                 .init(optimizer: .sgd(momentum: 0.9, nesterov: false)), batch: 19)
    }

    /// Four stride-1 convolutions over [N, 2, h, w] images; see the two tests above.
    func wideStrideOneGraph(_ h: Int, _ w: Int) -> String {
        graphText("%x: f32[N,2,\(h),\(w)], %y: i32[N]", "loss: f32[]", """
                  %w1 = param {init = he_normal} : f32[17,2,5,3]
                  %c1 = conv2d %x, %w1 {stride = [1, 1], pad = same}
                  %r1 = relu %c1
                  %w2 = param {init = he_normal} : f32[5,17,2,2]
                  %c2 = conv2d %r1, %w2 {stride = [1, 1], pad = same}
                  %r2 = relu %c2
                  %w3 = param {init = he_normal} : f32[13,5,4,3]
                  %c3 = conv2d %r2, %w3 {stride = [1, 1], pad = same}
                  %r3 = relu %c3
                  %w4 = param {init = he_normal} : f32[6,13,1,2]
                  %c4 = conv2d %r3, %w4 {stride = [1, 1], pad = valid}
                  %p = global_avg_pool %c4
                  %loss = softmax_cross_entropy %p, %y
                  return %loss
                """)
    }
}

extension DifferentialTests {
    /// Batch statistics come from one pass of sums shifted by each
    /// channel's first element (channelSums): on activations whose mean is
    /// large against their spread (1000 give or take 0.5), the forward, the
    /// gradients and the running statistics still agree with the
    /// interpreter's two passes in double precision. Unshifted one-pass sums
    /// (E[x^2] - E[x]^2 in floats) lose every digit of this variance.
    func testBatchStatisticsOfLargeMeansStayAccurate() throws {
        let text = graphText("%x: f32[N,3,16,16], %y: i32[N]", "loss: f32[]", """
              %s = param {init = zeros} : f32[3]
              %xs = bias_add %x, %s
              %g = param {init = ones} : f32[3]
              %b = param {init = zeros} : f32[3]
              %m = state {init = zeros} : f32[3]
              %v = state {init = ones} : f32[3]
              %n = batch_norm %xs, %g, %b, %m, %v
              %r = relu %n
              %p = global_avg_pool %r
              %loss = softmax_cross_entropy %p, %y
              return %loss
            """)
        let g = try Pipeline.run(try Verifier.parseAndVerify(Array(text.utf8)), upTo: .train, TrainingOptions(optimizer: .sgd(momentum: 0.9, nesterov: false)))
        // 1000 + k/64: exact in single precision, so both sides see the same values.
        var x = Tensor(.f32, shape: [4, 3, 16, 16])
        var rng = SeededGenerator(seed: 7)
        for i in 0..<x.count { x.data[i] = 1000 + Double(rng.index(65) - 32) / 64 }
        let (worst, _) = try compare(g, "batch statistics around 1000", batch: 4, cache: KernelCache(), inputs: ["x": x])
        print("batch statistics around 1000: worst difference \(worst) of the bound")
    }
}
