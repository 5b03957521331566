import Foundation
import NascData
import NascIR
import NascPasses
import NascRuntime
import NascTraining

/// How every child of a search is built, trained and rewarded: what the
/// coordinator writes into the store and each worker reads back, so a
/// worker on another machine trains a child exactly as the coordinator's own.
public struct SearchSettings: Sendable {
    public var shape: ChildShape
    public var reward = Reward()
    public var epochs = 1
    public var batch = 32
    public var learningRate = 0.1
    public var seed: UInt64 = 0
    /// Where workers load the images from (nil: only in-process training,
    /// with images handed over in memory).
    public var images: SearchImages?
    /// A worker renews its lease every quarter of this; a lease not renewed
    /// for this long is taken back and its child queued again.
    public var leaseSeconds = 60.0
    /// Leases a child gets before it is recorded as crashed.
    public var maxAttempts = 2
    /// A child still training after this long is stopped and recorded as
    /// timed out (0: no limit).
    public var childTimeout = 1800.0
    /// Multi-fidelity (ASHA) budgets; nil: every child trains `epochs` once.
    public var fidelity: (any FidelitySchedule)?
    /// How each child's latency is measured.
    public var latencyTarget = LatencyTarget.jit

    public init(shape: ChildShape) { self.shape = shape }

    public var json: [String: Any] {
        var out = shape.json.merging(reward.json) { a, _ in a }
        out.merge(["epochs": epochs, "batch": batch, "lr": learningRate, "seed": Int64(bitPattern: seed),
                   "lease_s": leaseSeconds, "max_attempts": maxAttempts, "child_timeout_s": childTimeout,
                   "latency_target": latencyTarget.rawValue] as [String: Any]) { a, _ in a }
        if let images { out.merge(images.json) { a, _ in a } }
        if let fidelity { out.merge(fidelity.json) { a, _ in a } }
        return out
    }

    public init?(json: [String: Any]) {
        guard let shape = ChildShape(json: json) else { return nil }
        self.init(shape: shape)
        reward = Reward(json: json)
        epochs = json["epochs"] as? Int ?? epochs
        batch = json["batch"] as? Int ?? batch
        learningRate = json["lr"] as? Double ?? learningRate
        seed = UInt64(bitPattern: (json["seed"] as? Int64) ?? Int64(json["seed"] as? Int ?? 0))
        images = SearchImages(json: json)
        leaseSeconds = json["lease_s"] as? Double ?? leaseSeconds
        maxAttempts = json["max_attempts"] as? Int ?? maxAttempts
        childTimeout = json["child_timeout_s"] as? Double ?? childTimeout
        fidelity = fidelitySchedule(json: json)
        latencyTarget = LatencyTarget(recordedIn: json)
    }
}

/// Trains one child and makes its trial: the one place a child is turned
/// into a reward, for the coordinator's in-process worker and `nasc worker`
/// alike. Failures are the trial's status, never an escaping error: a child
/// that does not fit memory or diverges is a result of the search.
public struct ChildTrainer {
    public let settings: SearchSettings
    public let train: ImageDataset, validation: ImageDataset
    public var execution: ExecutionSettings

    public init(settings: SearchSettings, train: ImageDataset, validation: ImageDataset, execution: ExecutionSettings) {
        self.settings = settings
        self.train = train
        self.validation = validation
        self.execution = execution
    }

    /// The trial of `job`; `known` gives an earlier reward of the same
    /// structural hash, which is reused instead of training again. With
    /// multi-fidelity, a promotion (rung > 0) continues from `previous`, the
    /// checkpoint its child reached at the rung before, and every trained
    /// child's checkpoint comes back for its own promotion.
    ///
    /// Throws only `Interrupted`: a child stopped by SIGINT or SIGTERM is
    /// no result, and goes back to the queue.
    public func evaluate(_ job: Job, known: (String) throws -> TrialStore.Earlier?,
                         previous: Data? = nil) throws -> (trial: TrialStore.Trial, checkpoint: Data?) {
        var trial = TrialStore.Trial(job: job, status: "ok")
        var saved: Data?
        do {
            if let problem = settings.shape.space.problem(with: job.decisions) { throw SearchError(message: problem) }
            let graph = try Verifier.parseAndVerify(Array(settings.shape.ir(job.decisions, name: "child\(job.id)").utf8))
            trial.hash = StructuralHash.hash(graph)
            let stats = GraphStatistics(graph)
            trial.parameters = stats.parameterElements
            trial.flops = stats.flopsPerExample
            if job.rung == 0, let seen = try known(trial.hash) {
                trial.status = "cached"
                trial.reward = seen.reward
                trial.validationAccuracy = seen.accuracy
                // The same network runs as fast: its twin's measurement stands.
                trial.latencyMs = seen.latencyMs
                return (trial, nil)
            }
            // What this rung trains: with multi-fidelity, its images in
            // passes of at most the training set (the last may run over by
            // part of a pass); otherwise `epochs` passes.
            var passes = settings.epochs, limit: Int? = nil
            if let fidelity = settings.fidelity {
                let images = fidelity.increment(job.rung)
                limit = min(images, train.count)
                passes = (images + limit! - 1) / limit!
            }
            var o = Trainer.Options()
            o.epochs = passes
            o.limit = limit
            o.batch = settings.batch
            o.learningRate = settings.learningRate
            o.seed = settings.seed &+ UInt64(job.id)
            o.verbose = false
            o.execution = execution
            var start = Date()
            let trainer = try Trainer(graph, options: o)
            if job.rung > 0 {
                guard let previous else { throw SearchError(message: "no checkpoint of rung \(job.rung - 1) to continue from") }
                try trainer.restore(try Checkpoint.decode([UInt8](previous), path: "job \(job.parent ?? 0)'s checkpoint"), path: "job \(job.parent ?? 0)'s checkpoint")
                // Each rung runs its learning-rate schedule afresh, from its own first pass.
                trainer.scheduleFrom = trainer.epochsDone
            }
            trial.compileSeconds = Date().timeIntervalSince(start)
            start = Date()
            var best = 0.0
            for _ in 0..<passes {
                let epoch = try trainer.trainEpoch(train, validation: validation)
                best = max(best, epoch.validationAccuracy)
                trial.trainSeconds += epoch.seconds
            }
            // The rest of the loop was the validation passes.
            trial.evaluateSeconds = max(0, Date().timeIntervalSince(start) - trial.trainSeconds)
            trial.validationAccuracy = best
            // Unless the reward weighs it (--target-latency-ms), a measurement
            // only: a failure leaves it unknown, not the child failed.
            let images = validation.count > 0 ? validation : train
            do {
                trial.latencyMs = try ChildLatency.measure(graph, weights: trainer.inference.sources(), target: settings.latencyTarget,
                                                           image: Array(images.pixels[0..<images.imageSize]), label: images.labels[0])
            } catch where !settings.reward.needsLatency {}
            trial.reward = settings.reward(accuracy: best, flopsPerImage: trial.flops, latencyMs: trial.latencyMs)
            if let fidelity = settings.fidelity, job.rung + 1 < fidelity.rungs { saved = try trainer.checkpoint().encoded() }
        } catch let stop as Interrupted {
            throw stop
        } catch {
            trial.failed(error)
        }
        return (trial, saved)
    }
}

extension TrialStore.Trial {
    /// Records why a child did not train: it does not fit the memory limit
    /// (sized before anything was allocated: refused), its loss stopped
    /// being a number (diverged), or any other error (failed).
    mutating func failed(_ error: Error) {
        if let e = error as? RuntimeError, e.exceedsMemoryLimit {
            status = "refused"
        } else if let e = error as? TrainingError, e.diverged {
            status = "diverged"
        } else {
            status = "failed"
        }
        self.error = "\(error)"
    }
}
