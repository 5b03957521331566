import ArgumentParser
import Foundation
import NascData
import NascIR
import NascPasses
import NascReport
import NascSearch

struct Dot: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Draw a graph after any stage: Graphviz text, or SVG with --svg.",
        discussion: """
            Ops are boxes (parameters tan, states grey, elementwise ops green, \
            anchors orange), edges carry the type of their value. After fuse, \
            each kernel is a red cluster; after plan, each edge also gives \
            its buffer's size and place (arena offset, or the value it \
            overwrites) for --batch. --svg lays the graph out with Graphviz's \
            dot (Debian's graphviz package).

            Examples:
              nasc dot ir-specs/models/reference_cnn.nasir | dot -Tpng > cnn.png
              nasc dot ir-specs/models/reference_cnn.nasir --after fuse --svg --out cnn-fused.svg
              nasc dot nasc-run/best.nasir --after plan --batch 32 --svg --out best-plan.svg
              nasc dot cells-run --svg --out cells.svg        # a cell search's winner, as its two cells

            Given a search's run folder instead of a file, it draws the \
            winner (or --trial K): a child of the cell space as its normal \
            and reduction cells, the way the papers draw them (inputs c_{k-2} \
            and c_{k-1}, one node per block, each edge labelled with its \
            operation, the loose ends concatenated into c_{k}); a child of \
            the cnn space as its graph.
            """)

    @Argument(help: "The IR file ('-' reads standard input), or a search's run folder.")
    var file: String

    @Option(help: "With a run folder: draw this trial instead of the winner.")
    var trial: Int?

    @Option(help: "The stage to draw after: \(Stage.allCases.map(\.rawValue).joined(separator: ", ")).")
    var after: Stage = .verify

    @Option(help: "Batch size N for the memory plan (with --after plan).")
    var batch = 128

    @Flag(help: "Lay the graph out with Graphviz's dot and write SVG.")
    var svg = false

    @Option(help: "Write here instead of standard output.")
    var out: String?

    @OptionGroup(title: "Training step (with --after autodiff or later)")
    var training: TrainingFlags

    func validate() throws { try FlagCheck.int(batch, "--batch", 1...FlagCheck.largeCount) }

    func run() throws {
        try reportingErrors {
            if let out { try checkWritable(out, flag: "--out") }
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: file, isDirectory: &isDirectory), isDirectory.boolValue {
                return try write(try runDrawing())
            }
            if trial != nil { throw CommandError("--trial draws a trial of a search: give its run folder, not an IR file") }
            let graph = try runPipeline(try IRInput.load(file), upTo: after, training, file: file)
            var plan: MemoryPlan?
            if after == .plan {
                do { plan = try MemoryPlan.plan(graph, batch: batch) } catch let error as PassError { throw CommandError("\(file): error: \(error.message)") }
            }
            try write(GraphDot.text(graph.sorted(), plan: plan))
        }
    }

    /// The Graphviz text of a run's winner or --trial: its cells, or its graph.
    func runDrawing() throws -> String {
        let shape = try FinalTrainingFlags.shape(of: file, command: "dot")
        let store = try StoreLocation.open(folder: file, url: nil)
        guard let chosen = try trial.map({ k in try store.all().first { $0.id == k } }) ?? store.winner() else {
            throw CommandError("\(file): error: \(trial.map { "no trial \($0)" } ?? "no child has trained yet")")
        }
        if let problem = shape.space.problem(with: chosen.decisions) { throw CommandError("\(file): error: trial \(chosen.id): \(problem)") }
        if let cells = shape.space as? CellSpace { return CellDot.text(cells, chosen.decisions, title: "trial \(chosen.id)") }
        let graph = try runPipeline(try Verifier.parseAndVerify(Array(shape.ir(chosen.decisions, name: "trial\(chosen.id)").utf8)), upTo: after, training, file: file)
        return GraphDot.text(graph.sorted())
    }

    func write(_ dot: String) throws {
        var text = dot
        if svg {
            do { text = try Graphviz.svg(text) } catch { throw CommandError("\(file): error: \(error)") }
        }
        if let out {
            try text.writeWhole(to: out)
        } else {
            print(text, terminator: "")
        }
    }
}
