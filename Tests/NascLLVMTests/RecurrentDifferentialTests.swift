import NascIR
import NascInterpreter
import NascLLVM
import NascPasses
import NascRuntime
import NascTestSupport
import XCTest

/// The JIT against the interpreter on unrolled recurrent models: forward,
/// and training steps with clipping (the shape the language-model trainer
/// compiles), with and without a memory cell.
extension DifferentialTests {
    func testUnrolledLanguageModelsAgreeWithTheInterpreter() throws {
        for (name, text) in [("lstm", lstmCellText(size: 4)), ("elman", elmanCellText(size: 4))] {
            let cell = try Verifier.parseAndVerify(Array(text.utf8))
            let model = try LanguageModel.unroll(cell, .init(vocabulary: 9, batch: 3, steps: 5, layers: 2, initScale: 0.5))
            try compare(model, "\(name) forward", batch: 1)
            let training = try Pipeline.run(model, upTo: .train, TrainingOptions(optimizer: .sgd(momentum: 0, nesterov: false), clipNorm: 0.5))
            try compare(training, "\(name) training step", batch: 1, steps: 3)
            // With dropout between the layers and before the softmax.
            let dropped = try LanguageModel.unroll(cell, .init(vocabulary: 9, batch: 3, steps: 5, layers: 2, initScale: 0.5, dropout: 0.3))
            try compare(try Pipeline.run(dropped, upTo: .train, TrainingOptions(optimizer: .sgd(momentum: 0, nesterov: false), clipNorm: 0.5)),
                        "\(name) training step with dropout", batch: 1, steps: 2)
        }
    }

    /// A graph without a batch runs its row-by-row kernels as ranges of
    /// static rows on two threads (RowSplit; odd counts of rows, so the
    /// ranges are uneven): a product with its bias and gates, slices and a
    /// concatenation, the loss and the gradients of all of them; then an
    /// unrolled language model whose softmax is large enough to split, with
    /// and without label smoothing. Two threads give what one gives and what
    /// the interpreter gives.
    func testRowSplitOnTwoThreadsMatchesOneThread() throws {
        let text = graphText("%x: f32[63,160], %y: i32[63]", "loss: f32[]", """
              %w = param {init = uniform, scale = 0.1} : f32[160,256]
              %b = param {init = uniform, scale = 0.1} : f32[256]
              %h = matmul %x, %w {transpose_a = false, transpose_b = false}
              %hb = bias_add %h, %b
              %a = slice %hb {axis = 1, start = 0, size = 130}
              %c = slice %hb {axis = 1, start = 130, size = 126}
              %s = sigmoid %a
              %t = tanh %c
              %m = mul %s, %s
              %cat = concat %m, %t {axis = 1}
              %loss = softmax_cross_entropy %cat, %y
              return %loss
            """)
        let rows = try Pipeline.run(try Verifier.parseAndVerify(Array(text.utf8)), upTo: .train,
                                    TrainingOptions(optimizer: .sgd(momentum: 0.9, nesterov: false)))
        let compiled = try CompiledGraph.compile(rows, maxBatch: 1)
        XCTAssertGreaterThanOrEqual(compiled.rowSplitKernels, 5, "the product, gates, loss and their gradients should be split by rows")
        print("row split: \(compiled.rowSplitKernels) of \(compiled.kernels.count) kernels of a static graph's training step")
        var inputs = RandomInputs.make(rows, batch: 1, seed: 5)
        inputs["lr"] = .scalar(0.5)
        XCTAssertNotNil(try twoThreadsMatchOne(compiled, sources: TrainingStep(rows, seed: 5).sources, inputs: inputs, "row-split graph"))
        _ = try compare(rows, "row-split graph", batch: 1, steps: 2)

        let cell = try Verifier.parseAndVerify(Array(lstmCellText(size: 4).utf8))
        let model = try LanguageModel.unroll(cell, .init(vocabulary: 600, batch: 3, steps: 5, layers: 2, initScale: 0.5, dropout: 0.3))
        for smoothing in [0.0, 0.1] {
            let smoothed = smoothing > 0 ? LabelSmoothing.apply(smoothing, to: model) : model
            let training = try Pipeline.run(smoothed, upTo: .train, TrainingOptions(optimizer: .sgd(momentum: 0, nesterov: false), clipNorm: 0.5))
            let compiled = try CompiledGraph.compile(training, maxBatch: 1)
            XCTAssertGreaterThanOrEqual(compiled.rowSplitKernels, 2, "the loss and its gradient should be split by rows")
            print("row split: \(compiled.rowSplitKernels) of \(compiled.kernels.count) kernels of an unrolled language model's training step")
            var inputs = RandomInputs.make(training, batch: 1, seed: 3)
            inputs["lr"] = .scalar(0.5)
            let sources = TrainingStep(training, seed: 3).sources
            XCTAssertNotNil(try twoThreadsMatchOne(compiled, sources: sources, inputs: inputs, "smoothing \(smoothing)"))
            _ = try compare(training, "row-split language model, smoothing \(smoothing)", batch: 1, steps: 2)
        }
    }

    /// Lone products of few rows split their columns over the threads
    /// (RowSplit.columns): plain, with A transposed (weight gradients) and
    /// with B transposed (the input's gradient), over uneven ranges (2050
    /// and 300 columns). Two threads give what one gives and what the
    /// interpreter gives.
    func testColumnSplitProductsOnTwoThreadsMatchOneThread() throws {
        let text = graphText("%x: f32[6,40], %y: i32[6]", "loss: f32[]", """
              %w1 = param {init = uniform, scale = 0.2} : f32[40,300]
              %w2 = param {init = uniform, scale = 0.2} : f32[300,2050]
              %h = matmul %x, %w1
              %hs = softmax %h
              %z = matmul %hs, %w2
              %loss = softmax_cross_entropy %z, %y
              return %loss
            """)
        let training = try Pipeline.run(try Verifier.parseAndVerify(Array(text.utf8)), upTo: .train,
                                        TrainingOptions(optimizer: .sgd(momentum: 0, nesterov: false), clipNorm: 1))
        let compiled = try CompiledGraph.compile(training, maxBatch: 1)
        let products = compiled.kernels.filter { $0.ops == ["matmul"] }.count
        XCTAssertGreaterThanOrEqual(products, 3, "the products should be kernels of their own")
        XCTAssertGreaterThanOrEqual(compiled.rowSplitKernels, products, "every lone product should be split")
        print("column split: \(products) lone products, \(compiled.rowSplitKernels) split kernels of \(compiled.kernels.count)")
        var inputs = RandomInputs.make(training, batch: 1, seed: 9)
        inputs["lr"] = .scalar(0.5)
        XCTAssertNotNil(try twoThreadsMatchOne(compiled, sources: TrainingStep(training, seed: 9).sources, inputs: inputs, "column-split graph"))
        _ = try compare(training, "column-split graph", batch: 1, steps: 2)
    }

    /// Every time step compiles to the same kernels: a longer unrolling
    /// adds kernel instances, not distinct kernels.
    func testTimeStepsShareKernels() throws {
        let cell = try Verifier.parseAndVerify(Array(lstmCellText(size: 4).utf8))
        func distinct(_ steps: Int) throws -> Int {
            let model = try LanguageModel.unroll(cell, .init(vocabulary: 9, batch: 3, steps: steps, layers: 2))
            let training = try Pipeline.run(model, upTo: .train, TrainingOptions(optimizer: .sgd(momentum: 0, nesterov: false), clipNorm: 5))
            return try CompiledGraph.compile(training, maxBatch: 1, cache: KernelCache()).timings.distinctKernels
        }
        let (short, long) = (try distinct(8), try distinct(16))
        XCTAssertEqual(short, long, "distinct kernels: \(short) at 8 steps, \(long) at 16")
    }
}
