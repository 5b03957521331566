import ArgumentParser
import Foundation
import NascSearch
import NascTraining

struct Correlate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure whether a search's cheap reward ranks children as full training does.",
        discussion: """
            Takes --children of a search's children spread evenly over its \
            ranking (best to worst by the reward every child got at the \
            first rung), trains each with the final recipe given (the flags \
            of nasc retrain), and prints each one's search reward beside \
            its test accuracy, then Kendall's tau-b and Spearman's rho \
            between the two: near 1, the search's order is the order full \
            training gives; near 0, a cheap search cannot be trusted.

            Each child's result goes to the run's store as it finishes \
            (table final_accuracy, keyed by the recipe), so a stopped run \
            continues where it stopped, and a run with a larger --children \
            adds children to the sample.

            Example:
              nasc correlate nasc-run --children 20 --epochs 10
            """)

    @Argument(help: "A run folder written by nasc search.")
    var folder: String

    @Option(help: "Children to train with the final recipe.")
    var children = 20

    @OptionGroup var final: FinalTrainingFlags

    func validate() throws {
        try FlagCheck.int(children, "--children", 2...100_000)
    }

    func run() throws {
        Interruption.install()
        try reportingErrors {
            let shape = try FinalTrainingFlags.shape(of: folder, command: "correlate")
            let store = try StoreLocation.open(folder: folder, url: nil)
            // The first rung's reward: the one budget every child got (under
            // ASHA only some go on), and each child once (a cached twin is the same child).
            let ranked = try store.firstRung()
            guard ranked.count >= 2 else {
                throw CommandError("\(folder): error: \(ranked.count) child(ren) trained: a rank correlation needs at least 2")
            }
            let sample = RankCorrelation.spread(ranked, count: children)
            let recipe = final.key
            var done = try store.finals(recipe: recipe)
            print("correlate: \(sample.count) of \(ranked.count) children, spread over the ranking; recipe: \(final.summary)")
            if sample.contains(where: { done[$0.id] != nil }) {
                print("continuing: \(sample.filter { done[$0.id] != nil }.count) already trained with this recipe")
            }
            let start = Date()
            var trainedHere = 0
            for (k, t) in sample.enumerated() {
                if let accuracy = done[t.id] {
                    print(String(format: "[%d/%d] trial %d: reward %.4f, test accuracy %.4f (recorded)", k + 1, sample.count, t.id, t.reward, accuracy))
                    continue
                }
                let file = try final.writeChild(of: t, shape: shape, folder: folder)
                let accuracy: Double
                do { accuracy = try final.flags.train(file, verbose: false) } catch var stop as Interrupted {
                    stop.continuation = "every child trained so far is recorded in \(folder): run the same command again to continue"
                    throw stop
                }
                try store.recordFinal(trial: t.id, recipe: recipe, accuracy: accuracy)
                done[t.id] = accuracy
                trainedHere += 1
                let left = sample[(k + 1)...].filter { done[$0.id] == nil }.count
                let eta = Date().timeIntervalSince(start) / Double(trainedHere) * Double(left)
                print(String(format: "[%d/%d] trial %d: reward %.4f, test accuracy %.4f; ETA %@", k + 1, sample.count, t.id, t.reward, accuracy, Progress.clock(eta)))
            }
            let rewards = sample.map(\.reward), accuracies = sample.map { done[$0.id]! }
            let tau = RankCorrelation.kendall(rewards, accuracies), rho = RankCorrelation.spearman(rewards, accuracies)
            func show(_ v: Double?) -> String { v.map { String(format: "%.3f", $0) } ?? "undefined (one side is all ties)" }
            print("rank correlation of search reward and test accuracy over \(sample.count) children: Kendall tau-b \(show(tau)), Spearman rho \(show(rho))")
        }
    }
}
