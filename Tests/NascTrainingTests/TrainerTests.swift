import Foundation
import NascData
import NascIR
import NascLLVM
import NascRuntime
import NascPasses
import NascTraining
import XCTest

/// Training with the compiled step on a small synthetic image set, and
/// checkpoints: round trip, resume, corruption.
final class TrainerTests: XCTestCase {
    static let cnn = """
        graph @tiny(%x: f32[N,1,8,8], %y: i32[N]) -> (loss: f32[], logits: f32[N,3]) {
          %w = param {init = he_normal} : f32[6,1,3,3]
          %g = param {init = ones} : f32[6]
          %b = param {init = zeros} : f32[6]
          %m = state {init = zeros} : f32[6]
          %v = state {init = ones} : f32[6]
          %c = conv2d %x, %w
          %n = batch_norm %c, %g, %b, %m, %v
          %r = relu %n
          %p = max_pool %r {window = [2, 2], stride = [2, 2]}
          %f = flatten %p
          %wd = param {init = glorot_uniform} : f32[96,3]
          %bd = param {init = zeros} : f32[3]
          %z = matmul %f, %wd
          %logits = bias_add %z, %bd
          %loss = softmax_cross_entropy %logits, %y
          return %loss, %logits
        }
        """

    /// Bars: horizontal, vertical, diagonal, at random places, with noise.
    static func bars(_ count: Int, seed: UInt64) -> ImageDataset {
        var state = seed
        func unit() -> Float {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(state >> 40) / Float(1 << 24)
        }
        var px: [Float] = [], labels: [Int32] = []
        for i in 0..<count {
            let label = i % 3, k = Int(unit() * 8) % 8
            var img = (0..<64).map { _ in 0.3 * (unit() - 0.5) }
            for j in 0..<8 {
                switch label {
                case 0: img[k * 8 + j] += 1
                case 1: img[j * 8 + k] += 1
                default: img[j * 8 + j] += 1
                }
            }
            px += img
            labels.append(Int32(label))
        }
        return ImageDataset(channels: 1, height: 8, width: 8, classes: 3, pixels: px, labels: labels)
    }

    func options(epochs: Int) -> Trainer.Options {
        var o = Trainer.Options()
        o.epochs = epochs
        o.batch = 32
        o.learningRate = 0.05
        o.seed = 3
        o.verbose = false
        o.execution = ExecutionSettings(threads: 1)  // bit-for-bit repeatable GEMMs
        return o
    }

    func testTrainingLearnsAndIsDeterministic() throws {
        let g = try Verifier.parseAndVerify(Array(Self.cnn.utf8))
        let (train, validation) = Self.bars(480, seed: 1).split(validation: 96)
        func run() throws -> [Trainer.EpochResult] {
            let t = try Trainer(g, options: options(epochs: 3))
            return try (0..<3).map { _ in try t.trainEpoch(train, validation: validation) }
        }
        let a = try run(), b = try run()
        XCTAssertEqual(a.map(\.trainLoss), b.map(\.trainLoss))
        XCTAssertEqual(a.map(\.validationAccuracy), b.map(\.validationAccuracy))
        XCTAssertGreaterThan(a.last!.validationAccuracy, 0.9, "\(a.map(\.validationAccuracy))")
        XCTAssertLessThan(a.last!.trainLoss, a.first!.trainLoss)
    }

    /// Augmentation: each change does what it says, draws the same for the
    /// same seed, and leaves the images alone when off.
    func testAugmentationCropsFlipsAndCutsOut() {
        // One 2-channel 4x5 image with distinct non-zero pixels.
        let image = (0..<40).map { Float($0 + 1) }
        func apply(_ a: Augmentation, seed: UInt64) -> [Float] {
            var px = image
            a.apply(&px, count: 1, channels: 2, height: 4, width: 5, seed: seed)
            return px
        }
        XCTAssertEqual(apply(Augmentation(), seed: 1), image)
        let flips = (0..<40).map { apply(Augmentation(flip: true), seed: UInt64($0)) }
        let mirrored: [Float] = (0..<40).map { (i: Int) -> Float in image[(i / 5) * 5 + 4 - i % 5] }
        XCTAssertTrue(flips.contains(image) && flips.contains(mirrored), "a flip is a mirror, about half the time")
        XCTAssertTrue(flips.allSatisfy { $0 == image || $0 == mirrored })
        XCTAssertEqual(apply(Augmentation(cropPadding: 2, flip: true, cutout: 3), seed: 9), apply(Augmentation(cropPadding: 2, flip: true, cutout: 3), seed: 9))
        for seed in UInt64(0)..<30 {
            // A crop is a shift: every kept pixel moves by one offset, the rest are zeros.
            let cropped = apply(Augmentation(cropPadding: 2), seed: seed)
            var offsets = Set<Int>()
            for (i, v) in cropped.enumerated() where v != 0 { offsets.insert(Int(v) - 1 - i) }
            XCTAssertLessThanOrEqual(offsets.count, 1, "seed \(seed): \(cropped)")
            // Cutout zeroes at most a 3x3 square per channel, the same place in both.
            let cut = apply(Augmentation(cutout: 3), seed: seed)
            let zeros = cut.indices.filter { cut[$0] == 0 }
            XCTAssertTrue(zeros.count <= 18 && zeros.count % 2 == 0 && !zeros.isEmpty, "seed \(seed): \(zeros)")
            XCTAssertEqual(zeros.filter { $0 < 20 }.map { $0 + 20 }, zeros.filter { $0 >= 20 })
        }
    }

    /// Test-time averaging with mirror images: `mirrored` is the mirror a
    /// flip makes, twice is the identity, labels stay; on images that are
    /// their own mirror, averaging changes no prediction.
    func testMirroredImagesAndFlipAveraging() throws {
        let image = (0..<40).map { Float($0 + 1) }
        let one = ImageDataset(channels: 2, height: 4, width: 5, classes: 3, pixels: image, labels: [2])
        XCTAssertEqual(one.mirrored().pixels, (0..<40).map { image[($0 / 5) * 5 + 4 - $0 % 5] })
        XCTAssertEqual(one.mirrored().labels, [2])
        XCTAssertEqual(one.mirrored().mirrored().pixels, image)

        let g = try Verifier.parseAndVerify(Array(Self.cnn.utf8))
        let (train, validation) = Self.bars(192, seed: 4).split(validation: 60)
        let trainer = try Trainer(g, options: options(epochs: 1))
        _ = try trainer.trainEpoch(train, validation: validation)
        let mirror = validation.mirrored()
        let symmetric = ImageDataset(channels: 1, height: 8, width: 8, classes: 3, pixels: zip(validation.pixels, mirror.pixels).map { ($0 + $1) / 2 },
                                     labels: validation.labels)
        let both = try trainer.evaluateWithMirrors(symmetric)
        XCTAssertEqual(both.plain, try trainer.evaluate(symmetric))
        XCTAssertEqual(both.averaged, both.plain)
        let (plain, averaged) = try trainer.evaluateWithMirrors(validation)
        XCTAssertEqual(plain, try trainer.evaluate(validation))
        XCTAssertTrue((0...1).contains(averaged))
    }

    /// The recipe trains (and resumes) deterministically, changes training
    /// only when asked, and keeps the architecture's hash for checkpoints.
    func testRecipeTrainsAndResumesDeterministically() throws {
        let g = try Verifier.parseAndVerify(Array(Self.cnn.utf8))
        let (train, validation) = Self.bars(192, seed: 4).split(validation: 48)
        var recipe = options(epochs: 2)
        recipe.augmentation = Augmentation(cropPadding: 1, flip: true, cutout: 2)
        recipe.labelSmoothing = 0.1
        let plain = try Trainer(g, options: options(epochs: 2)).trainEpoch(train, validation: validation)
        let a = try Trainer(g, options: recipe), b = try Trainer(g, options: recipe)
        let first = try a.trainEpoch(train, validation: validation)
        XCTAssertEqual(first.trainLoss, try b.trainEpoch(train, validation: validation).trainLoss)
        XCTAssertNotEqual(first.trainLoss, plain.trainLoss)
        XCTAssertEqual(a.checkpoint().graphHash, StructuralHash.hash(g))
        let resumed = try Trainer(g, options: recipe)
        try resumed.restore(a.checkpoint(), path: "<memory>")
        XCTAssertEqual(try resumed.trainEpoch(train, validation: validation).trainLoss, try a.trainEpoch(train, validation: validation).trainLoss)
    }

    /// A residual block (x + f(x)) and a sum of two branches that only the
    /// sum reads: drop-path's paths.
    static let residual = """
        graph @residual(%x: f32[N,1,8,8], %y: i32[N]) -> (loss: f32[], logits: f32[N,3]) {
          %w0 = param {init = he_normal} : f32[4,1,3,3]
          %h = conv2d %x, %w0
          %w1 = param {init = he_normal} : f32[4,4,3,3]
          %f = conv2d %h, %w1
          %r = relu %f
          %s = add %h, %r
          %a = max_pool %s {window = [3, 3], pad = same}
          %b = avg_pool %s {window = [3, 3], pad = same}
          %t = add %a, %b
          %g = global_avg_pool %t
          %wd = param {init = glorot_uniform} : f32[4,3]
          %logits = matmul %g, %wd
          %loss = softmax_cross_entropy %logits, %y
          return %loss, %logits
        }
        """

    /// Drop-path finds the paths (the residual branch, both pooled branches;
    /// not the skip, which the pool branches also read, nor anything in a
    /// graph without sums), trains with a scheduled rate (0 at the start,
    /// so the first step is the plain one; then other losses), resumes
    /// exactly, and leaves the architecture's hash and inference alone.
    func testDropPathDropsTheBranchesOfSumsOnASchedule() throws {
        let g = try Verifier.parseAndVerify(Array(Self.residual.utf8))
        let (dropped, paths) = DropPath.apply(to: g)
        XCTAssertEqual(paths, 3)
        XCTAssertEqual(dropped.nodes.filter { $0.op == .dropPath }.map { $0.operands[0] }.sorted(), ["a", "b", "r"])
        XCTAssertNoThrow(try Verifier.verify(dropped))
        XCTAssertEqual(DropPath.apply(to: try Verifier.parseAndVerify(Array(Self.cnn.utf8))).paths, 0)
        XCTAssertThrowsError(try { var o = options(epochs: 1); o.dropPath = 0.2; _ = try Trainer(try Verifier.parseAndVerify(Array(Self.cnn.utf8)), options: o) }()) {
            XCTAssertTrue("\($0)".contains("has no path to drop"), "\($0)")
        }

        let (train, validation) = Self.bars(192, seed: 4).split(validation: 48)
        var o = options(epochs: 3)
        o.dropPath = 0.5
        let plain = try Trainer(g, options: options(epochs: 3)), withDrop = try Trainer(g, options: o)
        XCTAssertEqual(withDrop.dropPaths, 3)
        XCTAssertEqual(withDrop.dropPathRate(progress: 0), 0)
        XCTAssertEqual(withDrop.dropPathRate(progress: 0.5), 0.25)
        XCTAssertEqual(withDrop.dropPathRate(progress: 2), 0.5)
        XCTAssertEqual(withDrop.checkpoint().graphHash, StructuralHash.hash(g), "the architecture is the one written")
        let first = try withDrop.trainEpoch(train, validation: validation), firstPlain = try plain.trainEpoch(train, validation: validation)
        XCTAssertNotEqual(first.trainLoss, firstPlain.trainLoss, "paths dropped once the rate rises")
        XCTAssertTrue(first.trainLoss.isFinite && first.validationAccuracy > 0)
        let resumed = try Trainer(g, options: o)
        try resumed.restore(withDrop.checkpoint(), path: "<memory>")
        XCTAssertEqual(try resumed.trainEpoch(train, validation: validation).trainLoss, try withDrop.trainEpoch(train, validation: validation).trainLoss)
    }

    /// A time budget: the epochs that fit after the first (at least the
    /// first), a count that shrinks when the run falls behind and never
    /// grows, and a schedule respanned mid-run is the schedule of that count.
    func testTimeBudgetFitsEpochsAndRespansTheSchedule() throws {
        let hour = TimeBudget(minutes: 60)
        let first = TimeBudget.provisional
        // 100 s of compilation and a 240 s first epoch; 60 s to evaluate: 3,200 s left, 13 more epochs.
        XCTAssertEqual(hour.revised(first, done: 1, elapsed: 340, meanEpochSeconds: 240, evaluationSeconds: 60), 14)
        XCTAssertEqual(hour.revised(first, done: 1, elapsed: 3000, meanEpochSeconds: 3000, evaluationSeconds: 0), 1)  // nothing more fits
        XCTAssertEqual(hour.revised(first, done: 1, elapsed: 7200, meanEpochSeconds: 7000, evaluationSeconds: 10), 1)  // over budget already
        XCTAssertEqual(hour.revised(first, done: 1, elapsed: 1, meanEpochSeconds: 0, evaluationSeconds: 0), 1)
        XCTAssertEqual(hour.revised(first, done: 1, elapsed: 1e-9, meanEpochSeconds: 1e-9, evaluationSeconds: 0), first)
        // Later epochs: on time keeps the count; behind shrinks it; ahead never stretches it.
        XCTAssertEqual(hour.revised(14, done: 5, elapsed: 1300, meanEpochSeconds: 240, evaluationSeconds: 60), 14)
        XCTAssertEqual(hour.revised(14, done: 5, elapsed: 1700, meanEpochSeconds: 320, evaluationSeconds: 60), 10)
        XCTAssertEqual(hour.revised(14, done: 5, elapsed: 600, meanEpochSeconds: 100, evaluationSeconds: 60), 14)
        XCTAssertEqual(hour.revised(14, done: 13, elapsed: 4000, meanEpochSeconds: 300, evaluationSeconds: 60), 13)
        XCTAssertEqual(hour.revised(14, done: 5, elapsed: .nan, meanEpochSeconds: 240, evaluationSeconds: 60), 5)

        let g = try Verifier.parseAndVerify(Array(Self.cnn.utf8))
        let (train, validation) = Self.bars(192, seed: 5).split(validation: 48)
        let planned = try Trainer(g, options: options(epochs: 2))
        try planned.trainEpoch(train, validation: validation)
        var long = options(epochs: TimeBudget.provisional)
        long.schedule = .cosine
        let budgeted = try Trainer(g, options: long)
        try budgeted.restore(planned.checkpoint(), path: "<memory>")
        budgeted.respan(epochs: 2, schedule: .cosine)
        XCTAssertEqual(budgeted.options.epochs, 2)
        XCTAssertEqual(try budgeted.trainEpoch(train, validation: validation).trainLoss, try planned.trainEpoch(train, validation: validation).trainLoss)
        XCTAssertEqual(budgeted.checkpoint().tensors, planned.checkpoint().tensors)
    }

    func testCheckpointRoundTripAndResume() throws {
        let g = try Verifier.parseAndVerify(Array(Self.cnn.utf8))
        let (train, validation) = Self.bars(192, seed: 2).split(validation: 48)
        let path = NSTemporaryDirectory() + "nasc-\(UUID().uuidString).ckpt"
        defer { try? FileManager.default.removeItem(atPath: path) }

        let straight = try Trainer(g, options: options(epochs: 2))
        try straight.trainEpoch(train, validation: validation)
        try straight.checkpoint().write(to: path)
        let saved = try Checkpoint.read(path)
        XCTAssertEqual(saved, straight.checkpoint())
        XCTAssertEqual(saved.epoch, 1)
        let second = try straight.trainEpoch(train, validation: validation)

        let resumed = try Trainer(g, options: options(epochs: 2))
        try resumed.restore(saved, path: path)
        let again = try resumed.trainEpoch(train, validation: validation)
        XCTAssertEqual(again.trainLoss, second.trainLoss)
        XCTAssertEqual(resumed.checkpoint().tensors, straight.checkpoint().tensors)
    }

    func testBadCheckpointsAreClearErrors() throws {
        let g = try Verifier.parseAndVerify(Array(Self.cnn.utf8))
        let path = NSTemporaryDirectory() + "nasc-\(UUID().uuidString).ckpt"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let t = try Trainer(g, options: options(epochs: 1))
        try t.checkpoint().write(to: path)
        var bytes = [UInt8](FileManager.default.contents(atPath: path)!)
        func expect(_ fragment: String) {
            FileManager.default.createFile(atPath: path, contents: Data(bytes))
            XCTAssertThrowsError(try Checkpoint.read(path)) { XCTAssertTrue("\($0)".contains(fragment), "\($0)") }
        }
        bytes[bytes.count / 2] ^= 0xFF
        expect("checksum mismatch: the checkpoint is corrupt or truncated")
        bytes[bytes.count / 2] ^= 0xFF
        let whole = bytes
        bytes = Array(whole.prefix(whole.count - 10))
        expect("checksum mismatch")
        bytes = whole
        bytes[0] = 0x41
        expect("not a nasc checkpoint (bad magic)")
        // A checkpoint of another graph.
        var other = t.checkpoint()
        other.tensors["w"] = Tensor(shape: [6, 1, 5, 5], repeating: 0)
        XCTAssertThrowsError(try t.restore(other, path: "x.ckpt")) {
            XCTAssertTrue("\($0)".contains("'%w' is [6, 1, 5, 5] in the checkpoint but f32[6,1,3,3] in @tiny"), "\($0)")
        }
    }
}
