import Foundation
import NascData
import NascIR
import NascPasses
import NascRuntime
import NascTestSupport
import NascTraining
import XCTest

/// The language-model trainer on tiny corpora: batching, perplexity against
/// hand-computed values, learning, resuming.
final class LanguageModelTrainerTests: XCTestCase {
    static let cell = elmanCellText(size: 8, scale: 0.3)

    func trainer(vocabulary: Int = 5, _ configure: (inout LanguageModelTrainer.Options) -> Void = { _ in }) throws -> LanguageModelTrainer {
        var options = LanguageModelTrainer.Options()
        options.batch = 2
        options.steps = 4
        options.layers = 1
        options.verbose = false
        options.execution = ExecutionSettings(threads: 1)
        configure(&options)
        return try LanguageModelTrainer(cell: try Verifier.parseAndVerify(Array(Self.cell.utf8)), vocabulary: vocabulary, options: options)
    }

    /// Rows are contiguous stretches of the text; targets are the next words.
    func testBatchesCutTheTextIntoRowsAndSteps() {
        let text = (0..<21).map(Int32.init)   // rows of 10: 0...9 and 10...19, word 20 dropped
        let batches = PennTreebank.batches(text, batch: 2, steps: 4)
        XCTAssertEqual(batches.count, 2)      // windows start at 0 and 4; one at 8 would need word 12 of a 10-word row
        XCTAssertEqual(batches[0].tokens, [0, 1, 2, 3, 10, 11, 12, 13])
        XCTAssertEqual(batches[0].targets, [1, 2, 3, 4, 11, 12, 13, 14])
        XCTAssertEqual(batches[1].tokens, [4, 5, 6, 7, 14, 15, 16, 17])
        XCTAssertEqual(batches[1].targets, [5, 6, 7, 8, 15, 16, 17, 18])
        XCTAssertTrue(PennTreebank.batches([1, 2, 3], batch: 2, steps: 4).isEmpty)
    }

    func testATextTooShortIsAClearError() throws {
        let t = try trainer()
        XCTAssertThrowsError(try t.trainEpoch([1, 2, 3, 4, 0], validation: [1, 2, 3])) { error in
            XCTAssertTrue("\(error)".contains("the training text (5 words) is too short for 2 rows of 5 words"), "\(error)")
        }
    }

    /// All weights zero: every word gets probability 1/V, so perplexity is
    /// exactly V. Softmax biases log p: perplexity is exp of the mean of
    /// -log p(next word), computed here by hand.
    func testPerplexityIsTheExponentOfTheMeanCrossEntropy() throws {
        let t = try trainer()
        var zero = t.step.sources()
        for k in zero.keys { zero[k]!.data = zero[k]!.data.map { _ in 0 } }
        try t.step.setSources(zero)
        let text: [Int32] = [0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1, 2, 3, 4]
        XCTAssertEqual(try t.perplexity(text), 5, accuracy: 1e-4)

        let p = [0.4, 0.3, 0.1, 0.1, 0.1]
        var unigram = zero
        unigram["softmax_b"]!.data = p.map { log($0) }
        try t.step.setSources(unigram)
        // Batch 1, 4 steps: 20 words give 4 windows (the last word has no successor
        // past word 19 for a fifth); the targets are words 1...16.
        let targets = text[1...16]
        let expected = exp(targets.map { -log(p[Int($0)]) }.reduce(0, +) / Double(targets.count))
        XCTAssertEqual(try t.perplexity(text), expected, accuracy: expected * 1e-5)
    }

    /// A text that repeats itself is learned: perplexity falls far below V.
    func testTrainingLearnsARepeatingText() throws {
        let t = try trainer(vocabulary: 6) { o in
            o.steps = 5
            o.learningRate = 0.5
            o.decayAfter = 100
        }
        let text = (0..<600).map { Int32([0, 1, 2, 3, 4, 5, 3, 2][$0 % 8]) }
        let first = try t.trainEpoch(text, validation: text)
        var last = first
        for _ in 0..<12 { last = try t.trainEpoch(text, validation: text) }
        XCTAssertGreaterThan(first.trainPerplexity, last.trainPerplexity)
        XCTAssertLessThan(last.validationPerplexity, 1.5, "after 13 epochs: \(last)")
        // The median step's rate counts the run of the step alone, so no slower than the epoch's mean.
        XCTAssertTrue(last.medianStepWordsPerSecond.isFinite, "\(last)")
        XCTAssertGreaterThan(last.medianStepWordsPerSecond, 0.9 * last.wordsPerSecond, "\(last)")
    }

    /// Stopping after an epoch and resuming from its checkpoint gives the
    /// weights of training straight through.
    func testResumingEqualsTrainingStraightThrough() throws {
        let text: [Int32] = (0..<400).map { (i: Int) -> Int32 in Int32((i * 7 + i / 3) % 5) }
        let straight = try trainer()
        for _ in 0..<2 { try straight.trainEpoch(text, validation: text) }
        let first = try trainer()
        try first.trainEpoch(text, validation: text)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("lm-\(UUID()).ckpt").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try first.checkpoint().write(to: path)
        let resumed = try trainer()
        try resumed.restore(try Checkpoint.read(path), path: path)
        XCTAssertEqual(resumed.epochsDone, 1)
        try resumed.trainEpoch(text, validation: text)
        XCTAssertEqual(resumed.step.sources(), straight.step.sources())
        // Another cell's checkpoint is refused.
        let other = try LanguageModelTrainer(cell: try Verifier.parseAndVerify(Array(Self.cell.replacingOccurrences(of: "= tanh", with: "= relu").utf8)),
                                             vocabulary: 5, options: first.options)
        XCTAssertThrowsError(try other.restore(try Checkpoint.read(path), path: path))
    }

    /// The learning rate halves every epoch after the 4th, as Zaremba et al. train.
    func testTheClassicSchedule() {
        let o = LanguageModelTrainer.Options()
        XCTAssertEqual((0..<7).map { o.rate(epoch: $0) }, [1, 1, 1, 1, 0.5, 0.25, 0.125])
    }
}
