import ArgumentParser
import Foundation
import NascData
import NascIR
import NascPasses
import NascRuntime
import NascTraining

/// The shape of the language model a cell is unrolled into, shared by the
/// commands that build one.
struct LanguageModelFlags: ParsableArguments {
    @Option(help: "Rows of text read in parallel (the state of each is carried from batch to batch).")
    var batch = 20

    @Option(help: "Time steps per batch: how far back gradients flow (truncated backpropagation through time).")
    var steps = 35

    @Option(help: "Layers of cells; each layer's h is the next one's x.")
    var layers = 2

    @Option(name: .customLong("init-scale"), help: "Uniform bound of the embedding and softmax weights' initialization.")
    var initScale = 0.1

    @Option(help: "Dropout on each layer's input and on the softmax's input, in training (Zaremba et al.'s medium model: 0.5); 0: none.")
    var dropout = 0.0

    func validate() throws {
        try FlagCheck.int(batch, "--batch", 1...100_000)
        try FlagCheck.int(steps, "--steps", 1...10_000)
        try FlagCheck.int(layers, "--layers", 1...64)
        try FlagCheck.real(initScale, "--init-scale", above: 0)
        try FlagCheck.real(dropout, "--dropout", atLeast: 0, below: 1)
    }

    func shape(vocabulary: Int) -> LanguageModel.Shape {
        LanguageModel.Shape(vocabulary: vocabulary, batch: batch, steps: steps, layers: layers, initScale: initScale, dropout: dropout)
    }
}

/// `--data` for the commands that read Penn Treebank.
struct TextDataFlags: ParsableArguments {
    @Option(help: "Folder holding ptb.train.txt, ptb.valid.txt and ptb.test.txt (`make ptb` writes them to data/ptb).")
    var data = "data/ptb"

    func load() throws -> PennTreebank {
        do { return try PennTreebank.load(directory: data) } catch let e as DatasetError { throw CommandError(e.description) }
    }
}

struct Unroll: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write the language model a recurrent cell is unrolled into, as IR.",
        discussion: """
            A cell (inputs %x, %h and optionally %c; outputs h and c) becomes \
            a word-level language model: an embedding, --layers cells over \
            --steps time steps with shared parameters, and a softmax over the \
            vocabulary. This is the graph `nasc train-lm` trains; every other \
            command (dump-ir, compile, gradcheck, run) takes it like any graph.

            Example:
              nasc unroll ir-specs/models/lstm_cell.nasir --vocabulary 10000 | nasc dump-ir - --after fuse
            """)

    @Argument(help: "The cell (an IR file).")
    var file: String

    @Option(help: "Words in the vocabulary (Penn Treebank has 10,000).")
    var vocabulary = 10_000

    @OptionGroup(title: "Model")
    var model: LanguageModelFlags

    @Option(help: "Write the IR here instead of standard output.")
    var out: String?

    func validate() throws { try FlagCheck.int(vocabulary, "--vocabulary", 2...10_000_000) }

    func run() throws {
        try reportingErrors {
            if let out { try checkWritable(out, flag: "--out") }
            let cell = try IRInput.load(file)
            let graph: NascIR.Graph
            do { graph = try LanguageModel.unroll(cell, model.shape(vocabulary: vocabulary)) } catch { throw CommandError("\(file): error: \(error)") }
            let text = Printer.print(graph)
            if let out { try text.writeWhole(to: out) } else { print(text, terminator: "") }
        }
    }
}

struct TrainLM: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train-lm",
        abstract: "Train a recurrent cell as a language model on Penn Treebank.",
        discussion: """
            The defaults are the small model of Zaremba et al. (2014): 2 \
            layers, 20 rows of 35 steps, plain SGD at learning rate 1, halved \
            every epoch after the 4th, gradients clipped to global norm 5, 13 \
            epochs; their test perplexity is 114.5 with a 200-unit LSTM. Each \
            epoch prints the perplexity on the training text and on the \
            validation text; the test text is used once, at the end.

            Example:
              make ptb
              nasc train-lm ir-specs/models/lstm_cell.nasir --save lstm.ckpt
            """)

    @Argument(help: "The cell (an IR file with inputs %x, %h and optionally %c; outputs h and c).")
    var file: String

    @OptionGroup var dataFlags: TextDataFlags

    @OptionGroup(title: "Model")
    var model: LanguageModelFlags

    @Option(help: "Epochs.")
    var epochs = 13

    @Option(help: "Learning rate of plain SGD.")
    var lr = 1.0

    @Option(help: "The learning rate is multiplied by this every epoch after --decay-after.")
    var decay = 0.5

    @Option(name: .customLong("decay-after"), help: "Epochs at the full learning rate.")
    var decayAfter = 4

    @Option(help: "Clip the gradients' global norm to this (0: no clipping).")
    var clip = 5.0

    @Option(help: "Seed for initialization.")
    var seed: UInt64 = 0

    @Option(help: "Train on only the first this many words of the training text per epoch (quick runs).")
    var limit: Int?

    @Option(name: .customLong("eval-batch"), help: "Rows evaluated at once; 1 reads every word, as the paper's test perplexity does.")
    var evalBatch = 1

    @OptionGroup var threadFlags: ThreadFlags

    @Flag(help: "After each epoch, list the training step's kernels by time spent in them.")
    var profile = false

    @Option(help: "Write a checkpoint here after every epoch.")
    var save: String?

    @Option(help: "Resume from this checkpoint.")
    var resume: String?

    @OptionGroup var checkpointFlags: CheckpointFlags

    func validate() throws {
        try FlagCheck.int(epochs, "--epochs", 1...100_000)
        try FlagCheck.real(lr, "--lr", above: 0)
        try FlagCheck.real(decay, "--decay", above: 0)
        try FlagCheck.int(decayAfter, "--decay-after", 0...100_000)
        try FlagCheck.real(clip, "--clip", atLeast: 0)
        try FlagCheck.int(limit, "--limit", 1...FlagCheck.largeCount)
        try FlagCheck.int(evalBatch, "--eval-batch", 1...100_000)
    }

    func run() throws {
        Interruption.install()
        try reportingErrors {
            if let save { try checkWritable(save, flag: "--save") }
            let cell = try IRInput.load(file)
            let text = try dataFlags.load()
            var options = LanguageModelTrainer.Options()
            options.epochs = epochs
            options.batch = model.batch
            options.steps = model.steps
            options.layers = model.layers
            options.initScale = model.initScale
            options.dropout = model.dropout
            options.learningRate = lr
            options.decay = decay
            options.decayAfter = decayAfter
            options.training = TrainingOptions(optimizer: .sgd(momentum: 0, nesterov: false), clipNorm: clip > 0 ? clip : nil)
            options.seed = seed
            options.limit = limit
            options.evaluationBatch = evalBatch
            options.execution = ExecutionSettings(threads: threadFlags.threads)
            print("@\(cell.name) as a \(model.layers)-layer language model on Penn Treebank: \(text.vocabulary.count) words in the vocabulary, "
                  + "\(text.train.count) training, \(text.valid.count) validation, \(text.test.count) test words")
            let start = Date()
            let trainer: LanguageModelTrainer
            do { trainer = try LanguageModelTrainer(cell: cell, vocabulary: text.vocabulary.count, options: options) } catch {
                throw CommandError("\(file): error: \(error)")
            }
            print(String(format: "compiled the training step (%d nodes, %d kernels, %d parameters) in %.2f s",
                         trainer.model.nodes.count, trainer.step.timings.kernels,
                         GraphStatistics(trainer.model).parameterElements, Date().timeIntervalSince(start)))
            if let resume {
                do { try trainer.restore(try Checkpoint.read(resume), path: resume, allowOtherGraph: checkpointFlags.allowOtherGraph) } catch let e as DatasetError { throw CommandError(e.description) }
                print("resumed from \(resume) after epoch \(trainer.epochsDone)")
            }
            var saved: Int?
            do {
                while trainer.epochsDone < epochs {
                    let before = trainer.stepsDone
                    if profile { trainer.step.startProfiling() }
                    let r = try trainer.trainEpoch(text.train, validation: text.valid)
                    if profile, let seconds = trainer.step.kernelSeconds { printKernelProfile(trainer.step, seconds, steps: trainer.stepsDone - before, lines: 20) }
                    print(String(format: "epoch %d/%d: lr %.4g, train perplexity %.2f, validation perplexity %.2f, %.1f s (%.0f words/s; median step %.0f words/s)",
                                 r.epoch, epochs, r.learningRate, r.trainPerplexity, r.validationPerplexity, r.seconds, r.wordsPerSecond,
                                 r.medianStepWordsPerSecond))
                    if let save {
                        try trainer.checkpoint().write(to: save)
                        saved = trainer.epochsDone
                    }
                }
            } catch var stop as Interrupted {
                stop.continuation = resumeHint(save: save, saved: saved, resumed: resume, epochs: epochs, minutes: false)
                throw stop
            }
            print(String(format: "test perplexity %.2f (%d words), total %.1f s", try trainer.perplexity(text.test), text.test.count,
                         Date().timeIntervalSince(start)))
            if let save { print("checkpoint: \(save)") }
        }
    }
}

struct EvalLM: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval-lm",
        abstract: "Perplexity of a trained language model on Penn Treebank's test (or validation) text.",
        discussion: """
            Example:
              nasc eval-lm ir-specs/models/lstm_cell.nasir --weights lstm.ckpt
            """)

    @Argument(help: "The cell the weights were trained for.")
    var file: String

    @Option(help: "A checkpoint written by nasc train-lm --save.")
    var weights: String

    @OptionGroup var dataFlags: TextDataFlags

    @Option(help: "Layers of cells, as trained.")
    var layers = 2

    @Option(help: "Time steps per batch.")
    var steps = 35

    @Option(help: "Rows evaluated at once; 1 reads every word.")
    var batch = 1

    @Option(help: "Which text: test or valid.")
    var split = "test"

    @OptionGroup var threadFlags: ThreadFlags

    @OptionGroup var checkpointFlags: CheckpointFlags

    func validate() throws {
        try FlagCheck.int(layers, "--layers", 1...64)
        try FlagCheck.int(steps, "--steps", 1...10_000)
        try FlagCheck.int(batch, "--batch", 1...100_000)
        guard ["test", "valid"].contains(split) else { throw ValidationError("--split must be test or valid") }
    }

    func run() throws {
        try reportingErrors {
            let cell = try IRInput.load(file)
            let text = try dataFlags.load()
            var options = LanguageModelTrainer.Options()
            options.batch = batch
            options.steps = steps
            options.layers = layers
            options.evaluationBatch = batch
            options.verbose = false
            options.execution = ExecutionSettings(threads: threadFlags.threads)
            let trainer: LanguageModelTrainer
            do {
                trainer = try LanguageModelTrainer(cell: cell, vocabulary: text.vocabulary.count, options: options)
                try trainer.restore(try Checkpoint.read(weights), path: weights, allowOtherGraph: checkpointFlags.allowOtherGraph)
            } catch let e as DatasetError { throw CommandError(e.description) } catch { throw CommandError("\(file): error: \(error)") }
            let words = split == "test" ? text.test : text.valid
            print(String(format: "%@ perplexity %.2f (%d words)", split, try trainer.perplexity(words), words.count))
        }
    }
}
