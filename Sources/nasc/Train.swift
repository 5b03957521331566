import ArgumentParser
import Foundation
import NascData
import NascIR
import NascLLVM
import NascRuntime
import NascPasses
import NascTraining

extension DatasetName: ExpressibleByArgument {}

/// The dataset flags of every command that reads images.
struct DatasetFlags: ParsableArguments {
    @Option(help: "Dataset: \(DatasetName.allCases.map(\.rawValue).joined(separator: ", ")).")
    var dataset: DatasetName = .fashionMNIST

    @Option(help: "Folder holding the dataset files (default: where Debian's package puts them).")
    var data: String?

    /// Training and test splits; a missing or corrupt file is a CommandError naming it.
    func load() throws -> (train: ImageDataset, test: ImageDataset) {
        do { return try dataset.load(data) } catch let e as DatasetError { throw CommandError(e.description) }
    }

    /// The training images and the last `validation` of them held out; an
    /// error when that leaves no training image.
    func split(_ full: ImageDataset, validation: Int, flag: String) throws -> (train: ImageDataset, validation: ImageDataset) {
        do { return try dataset.holdOut(validation, of: full, flag: flag, folder: data) } catch let e as DatasetError { throw CommandError("error: \(e.problem)") }
    }

}

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train an architecture on a dataset with its JIT-compiled training step.",
        discussion: """
            The last --validation training images are held out: each epoch \
            prints the training loss and the accuracy on them, and the test \
            set is used once, at the end. Batch norm trains on batch \
            statistics and is evaluated with its running ones.

            Example:
              nasc train ir-specs/models/reference_cnn.nasir --dataset fashion-mnist --epochs 10 --save cnn.ckpt
            """)

    @Argument(help: "The architecture (an IR file with inputs image f32[N,C,H,W] and labels i32[N], outputs loss and logits).")
    var file: String

    @OptionGroup var flags: ImageTrainingFlags

    @Option(help: "Seed for initialization and shuffling.")
    var seed: UInt64 = 0

    @Option(help: "Use only this many training images per epoch (quick runs).")
    var limit: Int?

    @Option(help: "Write a checkpoint here after every epoch.")
    var save: String?

    @Option(help: "Resume from this checkpoint.")
    var resume: String?

    @OptionGroup var checkpointFlags: CheckpointFlags

    func validate() throws {
        try FlagCheck.int(limit, "--limit", 1...FlagCheck.largeCount)
    }

    func run() throws {
        Interruption.install()
        try reportingErrors {
            try flags.train(file, seed: seed, limit: limit, save: save, resume: resume, allowOtherGraph: checkpointFlags.allowOtherGraph)
        }
    }
}

/// How an image classifier trains: the flags `train`, `retrain` and
/// `correlate` share.
struct ImageTrainingFlags: ParsableArguments {
    @OptionGroup var datasetFlags: DatasetFlags

    @Option(help: "Epochs.")
    var epochs = 10

    @Option(help: ArgumentHelp("Train for about M minutes of wall clock instead of --epochs (compilation and the test evaluation included): the first epoch measures the speed, then the schedule spans the epochs that fit, and shrinks if later epochs run slower.", valueName: "M"))
    var minutes: Double?

    @Option(help: "Batch size.")
    var batch = 128

    @Option(help: "Base learning rate.")
    var lr = 0.05

    @Option(help: "Learning-rate schedule: constant, step (x0.1 every third of the run) or cosine.")
    var schedule = "cosine"

    @Option(help: "Training images held out for validation.")
    var validation = 5000

    @OptionGroup var threadFlags: ThreadFlags

    @OptionGroup(title: "Training step")
    var training: TrainingFlags

    @OptionGroup(title: "Recipe")
    var recipe: RecipeFlags

    func validate() throws {
        try FlagCheck.int(epochs, "--epochs", 1...100_000)
        if let minutes { try FlagCheck.real(minutes, "--minutes", above: 0) }
        try FlagCheck.int(batch, "--batch", 1...FlagCheck.largeCount)
        try FlagCheck.real(lr, "--lr", above: 0)
        try FlagCheck.int(validation, "--validation", 0...FlagCheck.largeCount)
        guard ["constant", "step", "cosine"].contains(schedule) else { throw ValidationError("--schedule must be constant, step or cosine") }
    }

    /// Everything above that changes the trained network, as one line:
    /// results trained under the same line are comparable.
    /// Stores key results by this line (table final_accuracy), so its
    /// wording stays as older stores have it; `summary` is the one to show.
    var key: String { recipeLine(step: "\(training.options)") }

    /// The same line in words, for people.
    var summary: String {
        let o = training.options
        var step: String
        switch o.optimizer {
        case .sgd(let momentum, let nesterov): step = "SGD, momentum \(momentum)" + (nesterov ? " (Nesterov)" : "")
        case .adam(let beta1, let beta2, let epsilon): step = "Adam (\(beta1), \(beta2), \(epsilon))"
        }
        if o.weightDecay > 0 { step += ", weight decay \(o.weightDecay)" }
        if let clip = o.clipNorm { step += ", gradients clipped to norm \(clip)" }
        return recipeLine(step: step)
    }

    private func recipeLine(step: String) -> String {
        "\(datasetFlags.dataset.rawValue) \(minutes.map { "minutes \($0)" } ?? "epochs \(epochs)") batch \(batch) lr \(lr) \(schedule) validation \(validation); "
            + "augmentation \(recipe.augmentation.description), \(recipe.regularization); \(step)"
    }

    /// Trains the architecture in `file` with these flags, as `nasc train`
    /// does; returns the test accuracy. `verbose`: print the set-up and
    /// every epoch.
    @discardableResult
    func train(_ file: String, seed: UInt64 = 0, limit: Int? = nil, save: String? = nil, resume: String? = nil,
               allowOtherGraph: Bool = false, verbose: Bool = true) throws -> Double {
        func say(_ line: String) { if verbose { print(line) } }
        if let save { try checkWritable(save, flag: "--save") }
        let graph = try IRInput.load(file)
        let (full, test) = try datasetFlags.load()
        let (trainSet, validationSet) = try datasetFlags.split(full, validation: validation, flag: "--validation")
        if minutes != nil && resume != nil {
            throw CommandError("error: --minutes with --resume: pass --epochs with the count the first run chose instead (it printed it), so that the schedule goes on as it was")
        }
        var epochs = minutes == nil ? self.epochs : TimeBudget.provisional
        var options = Trainer.Options()
        options.epochs = epochs
        options.batch = batch
        options.learningRate = lr
        func laidOver(_ epochs: Int) -> LearningRateSchedule {
            schedule == "cosine" ? .cosine : schedule == "step" ? .step(every: max(epochs / 3, 1), gamma: 0.1) : .constant
        }
        options.schedule = laidOver(epochs)
        options.seed = seed
        options.limit = limit
        options.training = training.options
        options.execution = ExecutionSettings(threads: threadFlags.threads)
        options.augmentation = recipe.augmentation
        options.labelSmoothing = recipe.labelSmoothing
        options.dropPath = recipe.dropPath
        say("@\(graph.name) on \(datasetFlags.dataset.rawValue): \(trainSet.count) training, \(validationSet.count) validation, \(test.count) test images")
        if !options.augmentation.isNone || options.labelSmoothing > 0 || options.dropPath > 0 {
            say("recipe: augmentation \(options.augmentation.description), \(recipe.regularization)")
        }
        let start = Date()
        let trainer: Trainer
        do { trainer = try Trainer(graph, options: options) } catch { throw CommandError("\(file): error: \(error)") }
        say(String(format: "compiled the training step (%d kernels) and the inference graph in %.2f s",
                   trainer.step.timings.kernels, Date().timeIntervalSince(start)))
        if trainer.dropPaths > 0 { say("drop-path on \(trainer.dropPaths) paths, its rate rising from 0 to \(options.dropPath)") }
        if let resume {
            do { try trainer.restore(try Checkpoint.read(resume), path: resume, allowOtherGraph: allowOtherGraph) } catch let e as DatasetError { throw CommandError(e.description) }
            say("resumed from \(resume) after epoch \(trainer.epochsDone)")
        }
        trainer.epochCountKnown = minutes == nil
        var epochSeconds: [Double] = []
        var evaluation = 0.0
        var saved: Int?
        do {
            while trainer.epochsDone < epochs {
                let r = try trainer.trainEpoch(trainSet, validation: validationSet)
                epochSeconds.append(r.seconds)
                if let minutes {
                    if trainer.epochsDone == 1 {
                        // The test pass is inference only: about a third of a training image's work each.
                        evaluation = r.seconds * Double(test.count) / Double(max(min(limit ?? trainSet.count, trainSet.count), 1)) / 3
                    }
                    let mean = epochSeconds.reduce(0, +) / Double(epochSeconds.count)
                    let revised = TimeBudget(minutes: minutes).revised(epochs, done: trainer.epochsDone, elapsed: Date().timeIntervalSince(start),
                                                                       meanEpochSeconds: mean, evaluationSeconds: evaluation)
                    if trainer.epochsDone == 1 || revised < epochs {
                        say(trainer.epochsDone == 1
                            ? String(format: "--minutes %g: the first epoch took %.1f s, so %d epoch(s) fit; the schedule spans %d (to resume this run: --epochs %d)",
                                     minutes, r.seconds, revised, revised, revised)
                            : String(format: "--minutes %g: the epochs took %.1f s on average, so the run fell behind; the schedule now spans %d epochs, not %d (to resume this run: --epochs %d)",
                                     minutes, mean, revised, epochs, revised))
                        epochs = revised
                        trainer.respan(epochs: epochs, schedule: laidOver(epochs))
                    }
                }
                // With --validation 0 every training image trains: there is no accuracy to show.
                let measured = validationSet.count > 0 ? String(format: "validation accuracy %.4f", r.validationAccuracy) : "no validation images"
                say(String(format: "epoch %d/%d: train loss %.4f, %@, %.1f s (%.0f img/s)",
                           r.epoch, epochs, r.trainLoss, measured, r.seconds, r.imagesPerSecond))
                if let save {
                    try trainer.checkpoint().write(to: save)
                    saved = trainer.epochsDone
                }
            }
        } catch var stop as Interrupted {
            stop.continuation = resumeHint(save: save, saved: saved, resumed: resume, epochs: epochs, minutes: minutes != nil)
            throw stop
        }
        let accuracy = try trainer.evaluate(test)
        say(String(format: "test accuracy %.4f (%d images), total %.1f s", accuracy, test.count, Date().timeIntervalSince(start)))
        if let save { say("checkpoint: \(save)") }
        return accuracy
    }
}

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Evaluate trained weights on a dataset's test set.",
        discussion: """
            Example:
              nasc eval ir-specs/models/reference_cnn.nasir --weights cnn.ckpt
            """)

    @Argument(help: "The architecture the weights were trained for.")
    var file: String

    @Option(help: "A checkpoint written by nasc train --save.")
    var weights: String

    @OptionGroup var datasetFlags: DatasetFlags

    @Option(help: "Batch size.")
    var batch = 256

    @OptionGroup var threadFlags: ThreadFlags

    @OptionGroup var checkpointFlags: CheckpointFlags

    func validate() throws {
        try FlagCheck.int(batch, "--batch", 1...FlagCheck.largeCount)
        try FlagCheck.int(limit, "--limit", 1...FlagCheck.largeCount)
    }

    @Option(help: "Also write the predicted class of every test image here, one per line (compare with emitted C).")
    var predictions: String?

    @Option(help: "Evaluate only the first this many test images.")
    var limit: Int?

    @Option(help: "Also write the logits of every test image here, as a NumPy .npy array f32[images, classes] (compare with exported models).")
    var logits: String?

    @Option(help: "Also write the test images as the network saw them here, as a NumPy .npy array f32[images, C, H, W].")
    var inputs: String?

    @Flag(help: "Also measure batch-1 inference latency with the JIT (median over 500 images).")
    var latency = false

    @Flag(help: "Also report the accuracy when each image's class probabilities are averaged with its mirror image's (for networks trained with --flip; twice the inference).")
    var flipAverage = false

    func run() throws {
        try reportingErrors {
            for (path, flag) in [(predictions, "--predictions"), (logits, "--logits"), (inputs, "--inputs")] {
                if let path { try checkWritable(path, flag: flag) }
            }
            let graph = try IRInput.load(file)
            var test = try datasetFlags.load().test
            if let limit, limit < test.count { test = test.subset(0..<limit) }
            var options = Trainer.Options()
            options.batch = batch
            options.verbose = false
            options.execution = ExecutionSettings(threads: threadFlags.threads)
            let trainer: Trainer
            do {
                trainer = try Trainer(graph, options: options)
                try trainer.restore(try Checkpoint.read(weights), path: weights, allowOtherGraph: checkpointFlags.allowOtherGraph)
            } catch let e as DatasetError { throw CommandError(e.description) } catch { throw CommandError("\(file): error: \(error)") }
            if flipAverage {
                let (plain, averaged) = try trainer.evaluateWithMirrors(test)
                print(String(format: "test accuracy %.4f (%d images)", plain, test.count))
                print(String(format: "test accuracy %.4f averaged with mirror images", averaged))
            } else {
                print(String(format: "test accuracy %.4f (%d images)", try trainer.evaluate(test), test.count))
            }
            if latency {
                let single = try CompiledGraph.compile(try InferenceGraph.run(graph), maxBatch: 1, settings: ExecutionSettings(threads: 1))
                try single.setSources(matching: try Checkpoint.read(weights).tensors)
                var times: [Double] = []
                let image = graph.inputs.first { $0.type.dtype == .f32 }!.name, label = graph.inputs.first { $0.type.dtype == .i32 }?.name
                for i in 0..<min(500, test.count) {
                    let batch = test.batch([i][...])
                    var inputs = [image: Tensor(shape: [1, test.channels, test.height, test.width], data: batch.pixels.map(Double.init))]
                    if let label { inputs[label] = Tensor(.i32, shape: [1], data: [Double(batch.labels[0])]) }
                    let start = Date()
                    _ = try single.run(inputs)
                    times.append(Date().timeIntervalSince(start))
                }
                times.sort()
                print(String(format: "JIT batch-1 latency: median %.3f ms", times[times.count / 2] * 1000))
            }
            if let predictions {
                try (try trainer.predictions(test)).map(String.init).joined(separator: "\n").appending("\n")
                    .writeWhole(to: predictions)
                print("predictions: \(predictions)")
            }
            if let logits {
                let (values, classes) = try trainer.logits(test)
                try NPY.float32(values, shape: [test.count, classes]).writeWhole(to: logits)
                print("logits: \(logits) (\(test.count) x \(classes))")
            }
            if let inputs {
                try NPY.float32(test.pixels, shape: [test.count, test.channels, test.height, test.width])
                    .writeWhole(to: inputs)
                print("inputs: \(inputs) (\(test.count) x \(test.channels) x \(test.height) x \(test.width))")
            }
        }
    }
}

/// What a training command stopped by SIGINT or SIGTERM says: which
/// checkpoint holds which epoch, and the flags that continue from it.
func resumeHint(save: String?, saved: Int?, resumed: String?, epochs: Int, minutes: Bool) -> String {
    let epochsFlag = minutes ? " --epochs \(epochs) in place of --minutes" : ""
    if let save, let saved {
        return "\(save) holds epoch \(saved): run the same command with --resume \(save)\(epochsFlag) to continue"
    }
    if let resumed {
        return "no epoch finished since \(resumed) was read: run the same command again to continue from it"
    }
    return save == nil ? "nothing was saved (--save keeps a checkpoint after every epoch)" : "no epoch had finished, so nothing was saved"
}
