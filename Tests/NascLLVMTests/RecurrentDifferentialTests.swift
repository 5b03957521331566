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

    /// An unrolled model has no batch, so its loss and the loss's gradient
    /// run as ranges of their static rows on two threads (RowSplit; 15
    /// rows here, so the ranges are uneven). They give what one thread
    /// gives and what the interpreter gives, with and without smoothing.
    func testRowSplitLossOnTwoThreadsMatchesOneThread() throws {
        let cell = try Verifier.parseAndVerify(Array(lstmCellText(size: 4).utf8))
        let model = try LanguageModel.unroll(cell, .init(vocabulary: 9, batch: 3, steps: 5, layers: 2, initScale: 0.5, dropout: 0.3))
        for smoothing in [0.0, 0.1] {
            let smoothed = smoothing > 0 ? LabelSmoothing.apply(smoothing, to: model) : model
            let training = try Pipeline.run(smoothed, upTo: .train, TrainingOptions(optimizer: .sgd(momentum: 0, nesterov: false), clipNorm: 0.5))
            let compiled = try CompiledGraph.compile(training, maxBatch: 1)
            XCTAssertEqual(compiled.rowSplitKernels, 2, "the loss and its gradient should be split by rows")
            var inputs = RandomInputs.make(training, batch: 1, seed: 3)
            inputs["lr"] = .scalar(0.5)
            let sources = TrainingStep(training, seed: 3).sources
            XCTAssertNotNil(try twoThreadsMatchOne(compiled, sources: sources, inputs: inputs, "smoothing \(smoothing)"))
            _ = try compare(training, "row-split training step, smoothing \(smoothing)", batch: 1, steps: 2)
        }
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
