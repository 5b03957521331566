import Foundation
import NascIR
import NascLLVM
import NascPasses
import NascRuntime
import NascSearch

/// Builds the kernel library: the kernels of children sampled from the CNN
/// and cell spaces, compiled ahead of time into a folder that every later compile
/// links from (KernelCache's `library`), so a child's first compile in a
/// new process mostly links instead of running LLVM. Kernels are
/// shape-generic (channel and filter counts, kernel sizes and the batch are
/// read at run time), so what a child's kernels depend on takes few values
/// across the space: the fusion pattern around each anchor, strides, plane
/// sizes, pool windows, the optimizer and the loss. A few hundred random
/// children cover nearly all of them; the sample is drawn from the space,
/// never from the benchmark's children.
enum KernelLibrary {
    /// One sampled child: the space it comes from and its input images.
    struct Child {
        var space: any ImageSpace
        var choices: [Int]
        var channels: Int
        var size: Int

        var ir: String { space.ir(choices, name: "child", image: ImageShape(channels: channels, size: size, classes: 10), width: 1) }
    }

    /// Training steps the library holds kernels for: what `nasc search`,
    /// `train` and `retrain` build by default, and with Adam.
    static let trainingOptions: [TrainingOptions] = [
        TrainingOptions(optimizer: .sgd(momentum: 0.9, nesterov: false)),
        TrainingOptions(optimizer: .adam(beta1: 0.9, beta2: 0.999, epsilon: 1e-8)),
    ]

    /// `count` children drawn with `seed` from the CNN space: 1 to 12
    /// layers (a quarter of them 13 to 24), strides or not, a pool after
    /// every 0 to 4 layers; then a sixth as many from the cell space (1 to 6
    /// blocks, 0 to 2 cells per stage; a cell child holds every operation
    /// at every plane size of its network, so few cover it); on
    /// Fashion-MNIST's or CIFAR-10's images.
    static func sample(_ count: Int, seed: UInt64) -> [Child] {
        var rng = SeededGenerator(seed: seed)
        let cnn = (0..<count).map { _ in
            let layers = rng.index(4) == 0 ? 13 + rng.index(12) : 1 + rng.index(12)
            let space = CNNSpace(layers: layers, strides: rng.index(2) == 1, poolEvery: rng.index(5))
            let image = [(1, 28), (3, 32)][rng.index(2)]
            return Child(space: space, choices: space.decisions.map { rng.index($0.options) }, channels: image.0, size: image.1)
        }
        var cellRng = SeededGenerator(seed: seed, stream: 1)
        let cells = (0..<(count / 6)).map { _ in
            let space = CellSpace(blocks: 1 + cellRng.index(6), cellsPerStage: cellRng.index(3), channels: 4 + cellRng.index(13),
                                  stemStride: 1 + cellRng.index(2))
            let image = [(1, 28), (3, 32)][cellRng.index(2)]
            return Child(space: space, choices: space.decisionOptions.map { cellRng.index($0) }, channels: image.0, size: image.1)
        }
        return cnn + cells
    }

    /// Compiles every sampled child's training steps and inference graph
    /// into `folder` (replaced whole, so kernels of an older nasc go), and
    /// says how many kernels it holds. A child that does not compile is
    /// reported in `failures` and left out: the library only saves time.
    static func build(into folder: URL, children: [Child], threads: Int,
                      progress: (Int, Int) -> Void) throws -> (kernels: Int, failures: [String]) {
        let fm = FileManager.default
        let staging = folder.deletingLastPathComponent().appendingPathComponent(".\(folder.lastPathComponent).\(getpid())")
        try? fm.removeItem(at: staging)
        try fm.createDirectory(at: staging, withIntermediateDirectories: true)
        defer { try? fm.removeItem(at: staging) }
        let cache = KernelCache(directory: staging)
        let settings = ExecutionSettings(threads: threads)
        var failures: [String] = []
        for (i, child) in children.enumerated() {
            do {
                let forward = try Verifier.parseAndVerify(Array(child.ir.utf8))
                for options in trainingOptions {
                    _ = try CompiledGraph.compile(try Pipeline.run(forward, upTo: .train, options), maxBatch: 1, settings: settings, cache: cache)
                }
                _ = try CompiledGraph.compile(try InferenceGraph.run(forward), maxBatch: 1, settings: settings, cache: cache)
            } catch {
                failures.append("child \(i + 1) (decisions \(child.choices.map(String.init).joined(separator: ","))): \(error)")
            }
            progress(i + 1, cache.count)  // every kernel it compiled, each also written to `staging`
        }
        try? fm.removeItem(at: folder)
        try fm.moveItem(at: staging, to: folder)
        return (try kernels(in: folder), failures)
    }

    static func kernels(in folder: URL) throws -> Int {
        try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".o") }.count
    }
}
