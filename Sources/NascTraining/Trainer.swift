import Foundation
import NascData
import NascIR
import NascInterpreter
import NascLLVM
import NascRuntime
import NascPasses

/// Trains a graph (an image classifier: an f32 image input, an i32 label
/// input, outputs `loss` and the logits) on an image dataset with its
/// JIT-compiled training step, and evaluates it with its inference graph.
public final class Trainer {
    public struct Options: Sendable {
        public var epochs = 10
        public var batch = 128
        public var learningRate = 0.05
        public var schedule = LearningRateSchedule.cosine
        public var training = TrainingOptions(optimizer: .sgd(momentum: 0.9, nesterov: true), weightDecay: 5e-4)
        public var seed: UInt64 = 0
        /// Train on at most this many examples per epoch (nil: all).
        public var limit: Int? = nil
        /// Print progress.
        public var verbose = true
        /// Threads for the compiled step's batch chunks and OpenBLAS.
        public var execution = ExecutionSettings()
        /// Random changes to training images (none by default).
        public var augmentation = Augmentation()
        /// Label smoothing of the training loss (0: none): the target puts
        /// 1 - ε on the label and ε / classes on every class.
        public var labelSmoothing = 0.0
        /// Drop-path's rate at the end of training (0: none): every path
        /// into a sum (DropPath) is dropped per example with a probability
        /// that rises linearly from 0 over the training, as NASNet does.
        public var dropPath = 0.0
        public init() {}
    }

    public struct EpochResult: Sendable {
        public var epoch: Int
        public var trainLoss: Double
        public var validationAccuracy: Double
        public var seconds: Double
        public var imagesPerSecond: Double
    }

    public let forward: Graph
    public private(set) var options: Options
    public let step: CompiledGraph
    public let inference: CompiledGraph
    public private(set) var epochsDone = 0
    /// The pass the learning-rate schedule starts from: 0, or where a
    /// continued run (a multi-fidelity rung) starts its schedule afresh.
    public var scheduleFrom = 0
    public private(set) var stepsDone = 0

    /// False while a time budget has not fixed the count yet (progress shows "?").
    public var epochCountKnown = true

    /// Lays the learning-rate schedule over `epochs` passes in all, from the
    /// next step on (a time budget fixes the count after the first epoch).
    public func respan(epochs: Int, schedule: LearningRateSchedule) {
        options.epochs = epochs
        options.schedule = schedule
        epochCountKnown = true
    }
    /// Paths drop-path drops in the training step (0: none).
    public private(set) var dropPaths = 0
    let imageInput: String, labelInput: String, logits: String
    let imageType: TensorType
    let classes: Int?

    public init(_ forward: Graph, options: Options) throws {
        self.forward = forward
        self.options = options
        guard let image = forward.inputs.first(where: { $0.type.dtype == .f32 }), let label = forward.inputs.first(where: { $0.type.dtype == .i32 }),
              forward.inputs.count == 2 else {
            throw TrainingError("@\(forward.name) must take an f32 image input and an i32 label input to train on images")
        }
        guard let out = forward.outputs.first(where: { $0.label != options.training.loss && $0.type.rank == 2 }) else {
            throw TrainingError("@\(forward.name) needs a logits output f32[N,classes] besides '\(options.training.loss)' to be evaluated")
        }
        imageInput = image.name
        imageType = image.type
        labelInput = label.name
        logits = out.label
        classes = out.type.dims[1].staticValue
        // Smoothing changes the training loss only: the architecture (its
        // hash, which checkpoints carry) and the inference graph stay as written.
        var trained = options.labelSmoothing > 0 ? LabelSmoothing.apply(options.labelSmoothing, to: forward) : forward
        if options.dropPath > 0 {
            let (dropped, paths) = DropPath.apply(to: trained)
            guard paths > 0 else {
                throw TrainingError("@\(forward.name) has no path to drop: drop-path drops the branches of sums (a cell's blocks, residual branches), and no add sums two paths here")
            }
            trained = dropped
            dropPaths = paths
        }
        step = try CompiledGraph.compile(try Pipeline.run(trained, upTo: .train, options.training), maxBatch: options.batch,
                                         settings: options.execution)
        inference = try CompiledGraph.compile(try InferenceGraph.run(forward), maxBatch: options.batch, settings: options.execution)
        try step.setSources(Initializers.initializeAll(step.graph, seed: options.seed))
    }

    /// Parameters, states and optimizer buffers, for checkpoints.
    public func checkpoint() -> Checkpoint {
        Checkpoint(of: step, trainedFrom: forward, epoch: epochsDone, step: stepsDone)
    }

    /// Continues from a checkpoint of the same graph.
    public func restore(_ c: Checkpoint, path: String, allowOtherGraph: Bool = false) throws {
        try c.load(into: step, of: forward, path: path, allowOtherGraph: allowOtherGraph)
        epochsDone = c.epoch
        stepsDone = c.step
    }

    /// A batch as the kernels read it: pixels and labels straight from the
    /// dataset's f32 and i32 arrays.
    /// With `augment`, the images are changed as `options.augmentation`
    /// says, drawing from a generator with that seed.
    /// With `dropPath`, the training step's drop-path seed and rate.
    func run(_ graph: CompiledGraph, _ data: ImageDataset, _ indices: ArraySlice<Int>, lr: Double? = nil,
             augment seed: UInt64? = nil, dropPath: (seed: Int32, rate: Double)? = nil, reading: Set<String>) throws -> [String: CompiledGraph.Output] {
        var (px, lb) = data.batch(indices)
        if let seed {
            options.augmentation.apply(&px, count: indices.count, channels: data.channels, height: data.height, width: data.width, seed: seed)
        }
        var floats = [imageInput: px], ints = [labelInput: lb]
        if let lr { floats["lr"] = [Float(lr)] }
        if let dropPath {
            floats[DropPath.rateInput] = [Float(dropPath.rate)]
            ints[DropPath.seedInput] = [dropPath.seed]
        }
        return try graph.run(floats: floats, ints: ints, batch: indices.count, reading: reading)
    }

    /// Drop-path's rate at a point of the training (`progress` from 0 to 1).
    public func dropPathRate(progress: Double) -> Double { options.dropPath * min(max(progress, 0), 1) }

    /// One epoch over `train`, then accuracy on `validation`.
    @discardableResult
    public func trainEpoch(_ train: ImageDataset, validation: ImageDataset) throws -> EpochResult {
        try train.checkFits(imageType, logits: classes, graph: forward.name)
        guard train.count > 0 else { throw DatasetError(train.origin ?? "the dataset", "no training images") }
        let epoch = epochsDone
        let start = Date()
        var order = train.shuffled(seed: options.seed &+ UInt64(epoch) &* 7919)
        if let limit = options.limit { order = Array(order.prefix(limit)) }
        let batches = stride(from: 0, to: order.count, by: options.batch).map { order[$0..<min($0 + options.batch, order.count)] }
        let progress = options.verbose ? Progress(total: batches.count, label: "epoch \(epoch + 1)/\(epochCountKnown ? String(options.epochs) : "?")") : nil
        var lossSum = 0.0, seen = 0
        for (b, indices) in batches.enumerated() {
            try Interruption.check()
            let lr = options.schedule.rate(base: options.learningRate, epoch: epoch - scheduleFrom, fraction: Double(b) / Double(batches.count), epochs: options.epochs)
            let batchSeed = options.seed ^ (UInt64(epoch) << 32 | UInt64(b))
            let trained = (Double(epoch - scheduleFrom) + Double(b) / Double(batches.count)) / Double(max(options.epochs, 1))
            let drop = dropPaths > 0 ? (seed: Int32(truncatingIfNeeded: batchSeed &* 0x9E37_79B9_7F4A_7C15 >> 32), rate: dropPathRate(progress: trained)) : nil
            let out = try run(step, train, indices, lr: lr, augment: batchSeed, dropPath: drop, reading: [options.training.loss])
            let loss = Double(out[options.training.loss]!.values[0])
            guard loss.isFinite else { throw TrainingError("training diverged: the loss became \(loss) at epoch \(epoch + 1), step \(b + 1); try a lower --lr", diverged: true) }
            lossSum += loss * Double(indices.count)
            seen += indices.count
            stepsDone += 1
            progress?.update(b + 1, String(format: "loss %.4f  %.0f img/s  lr %.4g", lossSum / Double(seen), Double(seen) / Date().timeIntervalSince(start), lr))
        }
        progress?.finish()
        let seconds = Date().timeIntervalSince(start)
        epochsDone += 1
        let accuracy = try evaluate(validation)
        return EpochResult(epoch: epochsDone, trainLoss: lossSum / Double(max(seen, 1)), validationAccuracy: accuracy,
                           seconds: seconds, imagesPerSecond: Double(seen) / seconds)
    }

    /// Accuracy of the inference graph (running statistics) on `data`.
    public func evaluate(_ data: ImageDataset) throws -> Double {
        guard data.count > 0 else { return 0 }
        return Trainer.accuracy(try predictions(data), data.labels)
    }

    /// Accuracy as `evaluate` gives it, and when each image's class
    /// probabilities are averaged with its mirror image's (test-time
    /// augmentation for a network trained with flips; twice the inference).
    public func evaluateWithMirrors(_ data: ImageDataset) throws -> (plain: Double, averaged: Double) {
        guard data.count > 0 else { return (0, 0) }
        let (plain, classes) = try logits(data)
        let (mirror, _) = try logits(data.mirrored())
        let (p, q) = (Trainer.softmaxRows(plain, classes), Trainer.softmaxRows(mirror, classes))
        return (Trainer.accuracy(Trainer.argmaxRows(plain, classes), data.labels),
                Trainer.accuracy(Trainer.argmaxRows(zip(p, q).map { $0 + $1 }, classes), data.labels))
    }

    static func accuracy(_ predicted: [Int], _ labels: [Int32]) -> Double {
        Double(zip(predicted, labels).filter { $0 == Int($1) }.count) / Double(max(labels.count, 1))
    }

    /// The inference graph's predicted class for every example.
    public func predictions(_ data: ImageDataset) throws -> [Int] {
        let (values, classes) = try logits(data)
        return Trainer.argmaxRows(values, classes)
    }

    /// The index of each row's largest value (the first of equals).
    static func argmaxRows(_ values: [Float], _ width: Int) -> [Int] {
        (0..<(values.count / width)).map { k in
            let row = values[(k * width)..<((k + 1) * width)]
            return row.indices.max { row[$0] < row[$1] }! - k * width
        }
    }

    /// Each row's softmax, computed from its largest value down.
    static func softmaxRows(_ values: [Float], _ width: Int) -> [Float] {
        var out = values
        for k in 0..<(values.count / width) {
            let row = (k * width)..<((k + 1) * width)
            let top = values[row].max()!
            var sum: Float = 0
            for i in row { out[i] = expf(values[i] - top); sum += out[i] }
            for i in row { out[i] /= sum }
        }
        return out
    }

    /// The inference graph's logits for every example, row after row.
    public func logits(_ data: ImageDataset) throws -> (values: [Float], classes: Int) {
        try data.checkFits(imageType, logits: classes, graph: forward.name)
        try inference.setSources(matching: step.sources())
        var out: [Float] = [], width = classes ?? 0
        for start in stride(from: 0, to: data.count, by: options.batch) {
            let indices = Array(start..<min(start + options.batch, data.count))[...]
            let result = try run(inference, data, indices, reading: [logits])[logits]!
            width = result.shape[1]
            out += result.values.prefix(indices.count * width)
        }
        return (out, width)
    }
}

/// A graph or a run the trainer cannot work with: not an image classifier,
/// a loss that diverged. Worded for the user.
public struct TrainingError: Error, CustomStringConvertible {
    public var message: String
    /// The loss stopped being a finite number (a search records such a
    /// child as diverged, not as failed).
    public var diverged = false
    public init(_ message: String, diverged: Bool = false) {
        self.message = message
        self.diverged = diverged
    }
    public var description: String { message }
}
