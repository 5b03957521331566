import ArgumentParser
import Foundation
import NascData
import NascIR
import NascSearch
import NascTraining

extension ProxyKind: ExpressibleByArgument {}

struct Score: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Score untrained children by zero-cost proxies (NASWOT, SynFlow, gradient norm, SNIP).",
        discussion: """
            A zero-cost proxy predicts from one minibatch, with no training, \
            how well a network will train: naswot (Mellor et al. 2021: log \
            |det| of the images' agreement over every ReLU's on/off code), \
            synflow (Tanaka et al. 2020: sum of |theta * dR/dtheta| through \
            |theta| from an image of ones), grad-norm (the loss gradient's \
            norm) and snip (sum of |theta * dL/dtheta|). Each compiles one \
            graph derived from the child's training graph and runs it once \
            at the child's initial weights (--seed).

            Given IR files (children as nasc sample and nasc search write \
            them), it prints each one's scores. Given a search run folder, \
            it scores the run's children (--children of them, spread over \
            the ranking) and prints each one's scores beside its search \
            reward, then each proxy's Kendall tau-b and Spearman rho with \
            the reward: how far the proxy alone would have ranked the \
            children as training them did.

            Examples:
              nasc score child.nasir --proxy naswot
              nasc score nasc-run --children 50
            """)

    @Argument(help: "IR files of children, or one search run folder.")
    var inputs: [String]

    @Option(parsing: .upToNextOption, help: "Proxies to compute: \(ProxyKind.allCases.map(\.rawValue).joined(separator: ", ")) (default: all).")
    var proxy: [ProxyKind] = ProxyKind.allCases

    @Option(help: "Training images in the minibatch (NASWOT's kernel is batch x batch).")
    var batch = 64

    @Option(help: "With a run folder: score this many of its children, spread over the ranking (default: all).")
    var children: Int?

    @Option(help: "Seed of the initial weights and of the minibatch's images.")
    var seed: UInt64 = 0

    @OptionGroup var datasetFlags: DatasetFlags
    @OptionGroup var threadFlags: ThreadFlags

    func validate() throws {
        guard !inputs.isEmpty else { throw ValidationError("give IR files or a search run folder") }
        try FlagCheck.int(batch, "--batch", 2...4096)
        try FlagCheck.int(children, "--children", 2...1_000_000)
        if inputs.contains(where: isFolder) && inputs.count > 1 {
            throw ValidationError("give one search run folder, or IR files, not both")
        }
    }

    func run() throws {
        Interruption.install()
        try reportingErrors {
            let proxies = proxy.reduce(into: [ProxyKind]()) { if !$0.contains($1) { $0.append($1) } }
            let images = try minibatch()
            if isFolder(inputs[0]) {
                try scoreRun(inputs[0], proxies, images)
                return
            }
            print((["child"] + proxies.map(\.rawValue)).joined(separator: "\t"))
            for path in inputs {
                let graph = try IRInput.load(path)
                let scores = try proxies.map { try score(graph, $0, images, name: path) }
                print(([path] + scores.map(Self.format)).joined(separator: "\t"))
            }
        }
    }

    /// --batch training images from a seeded place in the training split.
    func minibatch() throws -> ProxyBatch {
        let train = try datasetFlags.load().train
        guard train.count >= batch else { throw CommandError("--batch \(batch): the training split has \(train.count) images") }
        var rng = SeededGenerator(seed: seed)
        let start = rng.index(train.count - batch + 1)
        let part = train.subset(start..<(start + batch))
        return ProxyBatch(images: part.pixels, labels: part.labels)
    }

    func score(_ graph: Graph, _ kind: ProxyKind, _ images: ProxyBatch, name: String) throws -> Double {
        do { return try kind.proxy.score(graph, on: images, seed: seed, threads: threadFlags.threads) } catch let e as ProxyError {
            throw CommandError("\(name): error: \(e.description)")
        }
    }

    static func format(_ v: Double) -> String { v.isFinite ? String(format: "%.4g", v) : (v < 0 ? "-inf" : "inf") }

    func scoreRun(_ folder: String, _ proxies: [ProxyKind], _ images: ProxyBatch) throws {
        let shape = try FinalTrainingFlags.shape(of: folder, command: "score")
        let store = try StoreLocation.open(folder: folder, url: nil)
        let ranked = try store.firstRung()
        guard ranked.count >= 2 else { throw CommandError("\(folder): error: \(ranked.count) child(ren) trained: a rank correlation needs at least 2") }
        let sample = RankCorrelation.spread(ranked, count: children ?? ranked.count)
        print("score: \(sample.count) of \(ranked.count) children of \(folder) (\(shape.space.summary)), a batch of \(batch) images")
        print((["trial", "reward"] + proxies.map(\.rawValue) + ["seconds"]).joined(separator: "\t"))
        var scores = [[Double]](repeating: [], count: proxies.count)
        for t in sample {
            let start = Date()
            let graph = try shape.space.graph(t.decisions, name: "trial\(t.id)", image: shape.image)
            for (k, kind) in proxies.enumerated() { scores[k].append(try score(graph, kind, images, name: "trial \(t.id)")) }
            let row = ["\(t.id)", String(format: "%.4f", t.reward)] + proxies.indices.map { Self.format(scores[$0].last!) }
            print((row + [String(format: "%.1f", Date().timeIntervalSince(start))]).joined(separator: "\t"))
        }
        let rewards = sample.map(\.reward), flops = sample.map { Double($0.flops) }, params = sample.map { Double($0.parameters) }
        func show(_ v: Double?) -> String { v.map { String(format: "%.3f", $0) } ?? "undefined" }
        print("rank correlation with the search reward over \(sample.count) children (Kendall tau-b, Spearman rho):")
        for (k, kind) in proxies.enumerated() {
            // -infinity (a singular NASWOT kernel) ranks below every finite score.
            let s = scores[k].map { $0.isFinite ? $0 : -Double.greatestFiniteMagnitude }
            print("  \(kind.rawValue): \(show(RankCorrelation.kendall(s, rewards))), \(show(RankCorrelation.spearman(s, rewards)))")
        }
        print("  (for comparison, MFLOP: \(show(RankCorrelation.kendall(flops, rewards))), \(show(RankCorrelation.spearman(flops, rewards))); "
              + "parameters: \(show(RankCorrelation.kendall(params, rewards))), \(show(RankCorrelation.spearman(params, rewards))))")
    }
}

/// `nasc search --screen`: proposals scored by a zero-cost proxy before training.
struct ScreeningFlags: ParsableArguments {
    @Option(help: "Screen proposals by this zero-cost proxy (\(ProxyKind.allCases.map(\.rawValue).joined(separator: ", ")); see nasc score): the strategy proposes --screen-factor times the children wanted and only the best by the proxy train. Image spaces only.")
    var screen: ProxyKind?

    @Option(help: ArgumentHelp("With --screen: proposals scored per child trained (default: 10).", valueName: "K"))
    var screenFactor: Int?

    @Option(help: "With --screen: training images in the proxy's minibatch.")
    var screenBatch = 64

    func validate() throws {
        try FlagCheck.int(screenFactor, "--screen-factor", 1...1000)
        try FlagCheck.int(screenBatch, "--screen-batch", 2...4096)
        if screen == nil && screenFactor != nil { throw ValidationError("--screen-factor applies with --screen (a proxy to screen by)") }
    }

    var screening: Screening? { screen.map { Screening(proxy: $0, factor: screenFactor ?? 10, batch: screenBatch) } }
}
