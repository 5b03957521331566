import ArgumentParser
import Foundation
import NascIR
import NascInterpreter
import NascSearch
import NascTraining

struct Latency: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure the batch-1 inference latency of children on one thread.",
        discussion: """
            The measurement a search's workers make after training each \
            child (see nasc report): the inference graph compiled for batch \
            1 on one thread, the median of \(ChildLatency.runs) runs on one \
            image after \(ChildLatency.warmUp) untimed ones. Latency does not \
            depend on the weights' values, so children are measured at their \
            initial weights.

            Given IR files, it prints each one's latency. Given a search run \
            folder, it measures the children whose workers did not (runs \
            from before the measurement, cached children) and records their \
            latencies in the store, where the leaderboard and the report \
            read them.

            Examples:
              nasc latency best.nasir ir-specs/models/small_cnn.nasir
              nasc latency nasc-run
            """)

    @Argument(help: "IR files of classifiers (inputs %x and %y, output logits), or one search run folder.")
    var inputs: [String]

    @Flag(help: "With a run folder: measure again children that already have a latency.")
    var again = false

    func validate() throws {
        guard !inputs.isEmpty else { throw ValidationError("give IR files or a search run folder") }
    }

    func run() throws {
        Interruption.install()
        try reportingErrors {
            var isDirectory: ObjCBool = false
            if inputs.count == 1, FileManager.default.fileExists(atPath: inputs[0], isDirectory: &isDirectory), isDirectory.boolValue {
                return try measureRun(inputs[0])
            }
            for path in inputs {
                let graph = try IRInput.load(path)
                print(String(format: "%@: %.3f ms", path, try measure(graph, name: path)))
            }
        }
    }

    /// One image of the graph's input shape (its values do not change the time).
    func measure(_ graph: Graph, name: String) throws -> Double {
        guard let x = graph.inputs.first(where: { $0.name == "x" }), graph.inputs.contains(where: { $0.name == "y" }),
              graph.outputs.contains(where: { $0.label == "logits" }) else {
            throw CommandError("\(name): error: nasc latency measures a classifier's graph: inputs %x and %y, output logits (as nasc search and nasc sample write them)")
        }
        let pixels = x.type.bound(batch: 1).reduce(1, *)
        var rng = SeededGenerator(seed: 1)
        return try ChildLatency.measure(graph, weights: Initializers.initializeAll(graph, seed: 0),
                                        image: (0..<pixels).map { _ in Float(rng.unit()) }, label: 0)
    }

    func measureRun(_ folder: String) throws {
        let shape = try FinalTrainingFlags.shape(of: folder, command: "latency")
        let store = try StoreLocation.open(folder: folder, url: nil)
        let todo = try store.all().filter { $0.status == "ok" && (again || $0.latencyMs == nil) }
        print("latency: \(todo.count) child(ren) of \(folder) to measure (batch 1, one thread)")
        let start = Date()
        for (k, t) in todo.enumerated() {
            let ms = try measure(try shape.space.graph(t.decisions, name: "trial\(t.id)", image: shape.image), name: "trial \(t.id)")
            try store.setLatency(trial: t.id, milliseconds: ms)
            let eta = Date().timeIntervalSince(start) / Double(k + 1) * Double(todo.count - k - 1)
            print(String(format: "[%d/%d] trial %d: %.3f ms (%.1f MFLOP per image); ETA %@", k + 1, todo.count, t.id, ms, Double(t.flops) / 1e6, Progress.clock(eta)))
        }
        let all = try store.all().filter { $0.status == "ok" && $0.latencyMs != nil }
        if all.count >= 2 {
            let tau = RankCorrelation.kendall(all.map { Double($0.flops) }, all.map { $0.latencyMs! })
            print(String(format: "%d children measured: %.3f to %.3f ms; rank correlation of MFLOP and latency: Kendall tau-b %@",
                         all.count, all.map { $0.latencyMs! }.min()!, all.map { $0.latencyMs! }.max()!, tau.map { String(format: "%.3f", $0) } ?? "undefined"))
        }
    }
}
