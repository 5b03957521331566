import Foundation
import NascData
import NascIR
import NascInterpreter
import NascPasses
import NascRuntime

/// Trains a recurrent cell as a word-level language model (LanguageModel's
/// unrolled graph, JIT-compiled) with truncated backpropagation through
/// time: the text is cut into `batch` parallel rows, each step reads the next
/// `steps` words of every row, and the state a step leaves is the state the
/// next one starts from. Defaults are the small model of Zaremba et al.
/// (2014): plain SGD at learning rate 1, halved every epoch after the 4th,
/// gradients clipped to global norm 5, 13 epochs.
public final class LanguageModelTrainer {
    public struct Options: Sendable {
        public var epochs = 13
        public var batch = 20
        public var steps = 35
        public var layers = 2
        public var initScale = 0.1
        /// Dropout on each layer's input and on the softmax's (training only).
        public var dropout = 0.0
        public var learningRate = 1.0
        /// The rate is multiplied by `decay` at the start of every epoch after `decayAfter`.
        public var decay = 0.5
        public var decayAfter = 4
        public var training = TrainingOptions(optimizer: .sgd(momentum: 0, nesterov: false), clipNorm: 5)
        public var seed: UInt64 = 0
        /// Train on at most this many words per epoch, the first ones (nil: all).
        public var limit: Int? = nil
        /// Rows evaluated at once (validation and test): 1 uses every word
        /// but the last, as Zaremba et al. measure test perplexity.
        public var evaluationBatch = 1
        public var verbose = true
        public var execution = ExecutionSettings()
        public init() {}

        /// Learning rate of epoch `epoch` (0-based).
        public func rate(epoch: Int) -> Double {
            learningRate * pow(decay, Double(max(epoch + 1 - decayAfter, 0)))
        }
    }

    public struct EpochResult: Sendable {
        public var epoch: Int
        public var trainPerplexity: Double
        public var validationPerplexity: Double
        public var learningRate: Double
        public var seconds: Double
        public var wordsPerSecond: Double
        /// The median training step's words/s: steady speed, which a slow
        /// first step or a moment of a busy machine does not move (benchmarks
        /// compare it with the peers' median step).
        public var medianStepWordsPerSecond: Double
    }

    public let cell: Graph
    public let vocabulary: Int
    public let options: Options
    public let interface: LanguageModel.CellInterface
    /// The unrolled model at the training shape, and its training step.
    public let model: Graph
    public let step: CompiledGraph
    public private(set) var epochsDone = 0
    public private(set) var stepsDone = 0
    /// Compiled forward graphs per evaluation batch size.
    private var evaluators: [Int: CompiledGraph] = [:]

    public init(cell: Graph, vocabulary: Int, options: Options) throws {
        self.cell = cell
        self.vocabulary = vocabulary
        self.options = options
        interface = try LanguageModel.interface(of: cell)
        var training = Self.shape(options, vocabulary: vocabulary, batch: options.batch, steps: options.steps)
        training.dropout = options.dropout
        model = try LanguageModel.unroll(cell, training)
        step = try CompiledGraph.compile(try Pipeline.run(model, upTo: .train, options.training), maxBatch: 1, settings: options.execution)
        try step.setSources(Initializers.initializeAll(step.graph, seed: options.seed))
    }

    private func shape(batch: Int, steps: Int) -> LanguageModel.Shape {
        Self.shape(options, vocabulary: vocabulary, batch: batch, steps: steps)
    }

    private static func shape(_ options: Options, vocabulary: Int, batch: Int, steps: Int) -> LanguageModel.Shape {
        LanguageModel.Shape(vocabulary: vocabulary, batch: batch, steps: steps, layers: options.layers, initScale: options.initScale)
    }

    /// Checkpoints are keyed by the cell (its structural hash). The model's
    /// own parameters (how many layers, the vocabulary) are checked by name
    /// and shape when a checkpoint is loaded, and the batch and steps do not
    /// matter: a checkpoint trained at one shape evaluates at another.
    public func checkpoint() -> Checkpoint {
        Checkpoint(of: step, trainedFrom: cell, epoch: epochsDone, step: stepsDone)
    }

    public func restore(_ c: Checkpoint, path: String, allowOtherGraph: Bool = false) throws {
        try c.load(into: step, of: cell, path: path, allowOtherGraph: allowOtherGraph)
        epochsDone = c.epoch
        stepsDone = c.step
    }

    /// Each state input of the model and the output that continues it.
    private var stateNames: [(input: String, output: String)] {
        (0..<options.layers).flatMap { l in
            (interface.hasMemory ? ["h", "c"] : ["h"]).map { (LanguageModel.stateInput($0, layer: l), LanguageModel.stateOutput($0, layer: l)) }
        }
    }

    /// Runs `graph` over `batches`, carrying the state; returns the summed
    /// loss and, when training (`lr` given), the median step's seconds.
    private func pass(_ graph: CompiledGraph, _ batches: [(tokens: [Int32], targets: [Int32])], batch: Int, lr: Double?,
                      progress: Progress?, words: Int) throws -> (loss: Double, medianStep: Double) {
        let names = stateNames
        var state = Dictionary(uniqueKeysWithValues: names.map { ($0.input, [Float](repeating: 0, count: batch * interface.hidden)) })
        let reading = Set(["loss"] + names.map(\.output))
        var total = 0.0
        var stepSeconds: [Double] = []
        let start = Date()
        for (i, b) in batches.enumerated() {
            try Interruption.check()
            let stepStart = Date()
            var floats = state
            var ints = [LanguageModel.tokens: b.tokens, LanguageModel.targets: b.targets]
            if let lr { floats["lr"] = [Float(lr)] }
            if lr != nil, options.dropout > 0 {
                // A new mask every step, the same ones when a run is repeated or resumed.
                ints[LanguageModel.dropoutSeed] = [Int32(truncatingIfNeeded: options.seed &* 1_000_003 &+ UInt64(stepsDone))]
            }
            let out = try graph.run(floats: floats, ints: ints, batch: 1, reading: reading)
            if lr != nil { stepSeconds.append(Date().timeIntervalSince(stepStart)) }
            let loss = Double(out["loss"]!.values[0])
            guard loss.isFinite else {
                throw TrainingError("training diverged: the loss became \(loss) at epoch \(epochsDone + 1), step \(i + 1); try a lower --lr or --clip", diverged: true)
            }
            total += loss
            for n in names { state[n.input] = out[n.output]!.values }
            if lr != nil { stepsDone += 1 }
            if let progress {
                let done = (i + 1) * words
                progress.update(i + 1, String(format: "perplexity %.2f  %.0f words/s%@", exp(total / Double(i + 1) / Double(options.steps)),
                                              Double(done) / Date().timeIntervalSince(start), lr.map { String(format: "  lr %.4g", $0) } ?? ""))
            }
        }
        progress?.finish()
        return (total, stepSeconds.isEmpty ? 0 : stepSeconds.sorted()[stepSeconds.count / 2])
    }

    /// One epoch of training on `train`, then perplexity on `validation`.
    @discardableResult
    public func trainEpoch(_ train: [Int32], validation: [Int32]) throws -> EpochResult {
        let text = options.limit.map { Array(train.prefix($0)) } ?? train
        let batches = PennTreebank.batches(text, batch: options.batch, steps: options.steps)
        guard !batches.isEmpty else {
            throw TrainingError("the training text (\(text.count) words) is too short for \(options.batch) rows of \(options.steps + 1) words")
        }
        let lr = options.rate(epoch: epochsDone)
        let progress = options.verbose ? Progress(total: batches.count, label: "epoch \(epochsDone + 1)/\(options.epochs)") : nil
        let start = Date()
        let (loss, medianStep) = try pass(step, batches, batch: options.batch, lr: lr, progress: progress, words: options.batch * options.steps)
        let seconds = Date().timeIntervalSince(start)
        epochsDone += 1
        let words = batches.count * options.batch * options.steps
        return EpochResult(epoch: epochsDone, trainPerplexity: exp(loss / Double(batches.count * options.steps)),
                           validationPerplexity: try perplexity(validation), learningRate: lr,
                           seconds: seconds, wordsPerSecond: Double(words) / seconds,
                           medianStepWordsPerSecond: Double(options.batch * options.steps) / medianStep)
    }

    /// exp of the mean cross-entropy per word of `stream`, read as
    /// `options.evaluationBatch` rows with the state carried along each.
    public func perplexity(_ stream: [Int32]) throws -> Double {
        let rows = options.evaluationBatch
        let batches = PennTreebank.batches(stream, batch: rows, steps: options.steps)
        guard !batches.isEmpty else {
            throw TrainingError("the text (\(stream.count) words) is too short for \(rows) rows of \(options.steps + 1) words")
        }
        let graph = try evaluator(batch: rows)
        try graph.setSources(matching: step.sources())
        let loss = try pass(graph, batches, batch: rows, lr: nil, progress: nil, words: rows * options.steps).loss
        return exp(loss / Double(batches.count * options.steps))
    }

    private func evaluator(batch: Int) throws -> CompiledGraph {
        if let g = evaluators[batch] { return g }
        let g = try CompiledGraph.compile(try LanguageModel.unroll(cell, shape(batch: batch, steps: options.steps)), maxBatch: 1,
                                          settings: options.execution)
        evaluators[batch] = g
        return g
    }
}
