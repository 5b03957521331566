import ArgumentParser
import Foundation
import NascIR
import NascInterpreter
import NascSearch
import NascTraining

extension LatencyTarget: ExpressibleByArgument {}

struct Latency: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure the batch-1 inference latency of children on one thread.",
        discussion: """
            The measurement a search's workers take after training each \
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
              nasc latency runs/front/front/*.nasir --target emitted-c
            """)

    @Argument(help: "IR files of classifiers (inputs %x and %y, output logits), or one search run folder.")
    var inputs: [String]

    @Option(help: "Timed runs per child (the median is its latency; a search's workers time \(ChildLatency.runs)).")
    var runs = ChildLatency.runs

    @Option(help: "What to time: jit (nasc's inference) or emitted-c (the nasc emit-c source, built with $CC, default cc, -O3 -march=native). With a run folder, the search's own target unless given; another one is printed, not recorded.")
    var target: LatencyTarget?

    @Flag(help: "With a run folder: measure again children that already have a latency.")
    var again = false

    @Option(help: ArgumentHelp("Fit a latency model to the measured children of the run folders given, print its cross-validated error, and write it to FILE (JSON).", valueName: "FILE"))
    var fit: String?

    @Option(help: ArgumentHelp("A latency model (written by --fit): print its prediction beside each measurement, per op class for IR files.", valueName: "FILE"))
    var model: String?

    func validate() throws {
        guard !inputs.isEmpty else { throw ValidationError("give IR files or a search run folder") }
        try FlagCheck.int(runs, "--runs", 1...100_000)
        if fit != nil && model != nil { throw ValidationError("--fit writes a model and --model reads one: give one of them") }
    }

    func run() throws {
        Interruption.install()
        try reportingErrors {
            let loaded = try model.map(Self.loadModel)
            if let fit {
                if let file = inputs.first(where: { !isFolder($0) }) {
                    throw CommandError("\(file): error: --fit reads search run folders (their measured children), not IR files")
                }
                return try fitModel(fit)
            }
            if inputs.count == 1, isFolder(inputs[0]) { return try measureRun(inputs[0], model: loaded) }
            for path in inputs {
                let graph = try IRInput.load(path)
                let ms = try measure(graph, name: path, target: target ?? .jit)
                guard let loaded else {
                    print(String(format: "%@: %.3f ms", path, ms))
                    continue
                }
                let (total, byClass) = loaded.predict(try LatencyModel.features(graph))
                print(String(format: "%@: measured %.3f ms, predicted %.3f ms (%+.1f%%)", path, ms, total, (total - ms) / ms * 100))
                print(String(format: "  %-18@ %10@", "op class", "predicted ms"))
                print(String(format: "  %-18@ %10.3f", "(per run)", loaded.constant))
                for (c, v) in byClass.sorted(by: { $0.value > $1.value }) {
                    print(String(format: "  %-18@ %10.3f%@", c, v, loaded.table[c] == nil ? "  (a class the model never saw: 0)" : ""))
                }
            }
        }
    }

    static func loadModel(_ path: String) throws -> LatencyModel {
        guard let data = FileManager.default.contents(atPath: path) else { throw CommandError("\(path): error: cannot read the latency model") }
        do { return try JSONDecoder().decode(LatencyModel.self, from: data) } catch {
            throw CommandError("\(path): error: not a latency model written by nasc latency --fit (\(error))")
        }
    }

    /// The measured children of a run folder and their features.
    func samples(of folder: String) throws -> [(trial: Int, features: [String: [Double]], milliseconds: Double)] {
        let shape = try FinalTrainingFlags.shape(of: folder, command: "latency")
        let store = try StoreLocation.open(folder: folder, url: nil)
        return try store.all().filter { $0.status == "ok" }.compactMap { t in
            guard let ms = t.latencyMs, ms > 0 else { return nil }
            return (t.id, try LatencyModel.features(try shape.space.graph(t.decisions, name: "trial\(t.id)", image: shape.image)), ms)
        }
    }

    func fitModel(_ out: String) throws {
        let all = try inputs.flatMap { try samples(of: $0).map { (features: $0.features, milliseconds: $0.milliseconds) } }
        guard all.count >= 10 else {
            throw CommandError("\(inputs.joined(separator: ", ")): error: \(all.count) measured children; a model needs at least 10 (measure a run's with nasc latency RUN)")
        }
        // The ridge is chosen inside each fold too, so the error is of children no choice saw.
        let model = LatencyModel.fitSelectingRidge(all)
        let check = LatencyModel.crossValidate(all, fit: LatencyModel.fitSelectingRidge)
        let baseline = LatencyModel.crossValidate(all.map { (features: LatencyModel.flopsOnly($0.features), milliseconds: $0.milliseconds) })
        func show(_ v: Double?) -> String { v.map { String(format: "%.3f", $0) } ?? "undefined" }
        print("latency model: \(model.table.count) op classes fitted to \(all.count) children, ridge \(model.ridge.map { String($0) } ?? "?") (\(String(format: "%.3f", all.map(\.milliseconds).min()!)) to \(String(format: "%.3f", all.map(\.milliseconds).max()!)) ms)")
        print(String(format: "5-fold cross-validation: mean absolute error %.1f%%, Kendall tau-b %@ (latency from MFLOP alone: %.1f%%, %@)",
                     check.mape * 100, show(check.tau), baseline.mape * 100, show(baseline.tau)))
        let data = try JSONEncoder().encode(model)
        do { try data.writeWhole(to: out) } catch { throw CommandError("\(out): error: cannot write the model: \(error)") }
        print("model: \(out)")
    }

    /// One image of the graph's input shape (its values do not change the time).
    func measure(_ graph: Graph, name: String, target: LatencyTarget) throws -> Double {
        guard let x = graph.inputs.first(where: { $0.name == "x" }), graph.inputs.contains(where: { $0.name == "y" }),
              graph.outputs.contains(where: { $0.label == "logits" }) else {
            throw CommandError("\(name): error: nasc latency measures a classifier's graph: inputs %x and %y, output logits (as nasc search and nasc sample write them)")
        }
        let pixels = x.type.bound(batch: 1).reduce(1, *)
        var rng = SeededGenerator(seed: 1)
        return try ChildLatency.measure(graph, weights: Initializers.initializeAll(graph, seed: 0), target: target,
                                        image: (0..<pixels).map { _ in Float(rng.unit()) }, label: 0, runs: runs)
    }

    func measureRun(_ folder: String, model: LatencyModel?) throws {
        let shape = try FinalTrainingFlags.shape(of: folder, command: "latency")
        let store = try StoreLocation.open(folder: folder, url: nil)
        let own = LatencyTarget(recordedIn: try store.settings() ?? [:])
        let chosen = target ?? own
        // Another target's figures would not compare with the store's: printed only.
        let record = chosen == own
        let todo = try store.all().filter { $0.status == "ok" && (again || !record || $0.latencyMs == nil) }
        print("latency: \(todo.count) child(ren) of \(folder) to measure (batch 1, one thread, \(chosen.rawValue))"
              + (record ? "" : "; printed, not recorded: the search measures \(own.rawValue)"))
        let start = Date()
        for (k, t) in todo.enumerated() {
            let ms = try measure(try shape.space.graph(t.decisions, name: "trial\(t.id)", image: shape.image), name: "trial \(t.id)", target: chosen)
            if record { try store.setLatency(trial: t.id, milliseconds: ms) }
            let eta = Date().timeIntervalSince(start) / Double(k + 1) * Double(todo.count - k - 1)
            print(String(format: "[%d/%d] trial %d: %.3f ms (%.1f MFLOP per image); ETA %@", k + 1, todo.count, t.id, ms, Double(t.flops) / 1e6, Progress.clock(eta)))
        }
        if let model {
            let measured = try samples(of: folder)
            let predicted = measured.map { model.predict($0.features).total }
            let mape = zip(predicted, measured).reduce(0) { $0 + abs($1.0 - $1.1.milliseconds) / $1.1.milliseconds } / Double(max(measured.count, 1))
            let tau = RankCorrelation.kendall(predicted, measured.map(\.milliseconds))
            print(String(format: "the model on %d measured children: mean absolute error %.1f%%, Kendall tau-b %@", measured.count, mape * 100,
                         tau.map { String(format: "%.3f", $0) } ?? "undefined"))
        }
        let all = try store.all().filter { $0.status == "ok" && $0.latencyMs != nil }
        if all.count >= 2 {
            let tau = RankCorrelation.kendall(all.map { Double($0.flops) }, all.map { $0.latencyMs! })
            print(String(format: "%d children measured: %.3f to %.3f ms; rank correlation of MFLOP and latency: Kendall tau-b %@",
                         all.count, all.map { $0.latencyMs! }.min()!, all.map { $0.latencyMs! }.max()!, tau.map { String(format: "%.3f", $0) } ?? "undefined"))
        }
    }
}
