import ArgumentParser
import Foundation
import NascData
import NascIR
import NascPasses
import NascReport

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
            """)

    @Argument(help: "The IR file ('-' reads standard input).")
    var file: String

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
            let graph = try runPipeline(try IRInput.load(file), upTo: after, training, file: file)
            var plan: MemoryPlan?
            if after == .plan {
                do { plan = try MemoryPlan.plan(graph, batch: batch) } catch let error as PassError { throw CommandError("\(file): error: \(error.message)") }
            }
            var text = GraphDot.text(graph.sorted(), plan: plan)
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
}
