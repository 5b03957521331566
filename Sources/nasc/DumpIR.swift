import ArgumentParser
import Foundation
import NascIR
import NascPasses
import NascLLVM
import NascRuntime

struct DumpIR: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dump-ir",
        abstract: "Print a graph in canonical IR text after any stage, or its structural hash.",
        discussion: """
            The canonical text has every attribute written out (defaults \
            included), every type written, and ops in dependency order (the \
            file's own order where it already is one). Printing it and \
            parsing it back gives the same bytes.

            --after picks the stage: verify (the graph as written, the \
            default), autodiff (plus the backward pass: one grad.<param> \
            output per parameter), train (plus batch-norm running statistics \
            and optimizer updates: an input %lr and one next.<name> output \
            per parameter and state, written back after each step), optimize \
            (canonicalize, cse, dce), fuse (ops grouped into kernel blocks), \
            plan (the fused graph followed by its memory plan for --batch, as \
            comments).

            --stats prints figures for every stage instead: ops, kernels, \
            parameters, FLOPs per example, and the planned arena beside the \
            naive sum of all intermediate buffers.

            --hash prints the graph's structural hash instead: equal for \
            graphs that differ only in value names or in the order of \
            independent ops, different for any change in ops, attributes, \
            shapes or edges. The search uses it to recognise a child it has \
            already trained.

            Examples:
              nasc dump-ir child.nasir
              nasc dump-ir --hash child.nasir
              nasc dump-ir child.nasir --after autodiff
              nasc dump-ir child.nasir --after train --optimizer adam
              nasc dump-ir child.nasir --after plan --batch 128
              nasc dump-ir child.nasir --stats
              nasc dump-ir child.nasir --after train --emit llvm
              cat child.nasir | nasc dump-ir -
            """)

    @Argument(help: "The IR file ('-' reads standard input).")
    var file: String

    func validate() throws {
        try FlagCheck.int(batch, "--batch", 1...FlagCheck.largeCount)
    }

    private func planning<T>(_ body: () throws(PassError) -> T) throws -> T {
        do { return try body() } catch { throw CommandError("\(file): error: \(error.message)") }
    }

    /// One row per stage; the training stages only when the graph has a loss.
    private func printStatistics(_ source: Graph) throws {
        var stages: [(String, Graph)] = [("as written", source)]
        if source.outputs.contains(where: { $0.label == training.loss }) {
            for stage in [Stage.train, .optimize, .fuse] {
                stages.append((stage.rawValue, try runPipeline(source, upTo: stage, training, file: file)))
            }
        } else {
            let simplified = try planning { () throws(PassError) in try Pipeline.simplify(source) }
            stages.append(("optimize", simplified))
            stages.append(("fuse", try planning { () throws(PassError) in try Fusion.run(simplified) }))
        }
        let first = GraphStatistics(source)
        print("@\(source.name): \(first.parameters) parameters (\(first.parameterElements) elements), " +
              "forward \(GraphStatistics.mflops(first.flopsPerExample)) MFLOP per example")
        print("stage       ops  kernels  MFLOP/example  arena (N=\(batch))  naive sum      arena/naive")
        for (name, g) in stages {
            let s = GraphStatistics(g)
            var arena = "-", naive = "-", ratio = "-"
            if name == "fuse" {
                let plan = try planning { () throws(PassError) in try MemoryPlan.plan(g, batch: batch) }
                arena = MemoryPlan.human(plan.peakBytes)
                naive = MemoryPlan.human(plan.naiveBytes)
                ratio = String(format: "%.1f%%", 100 * Double(plan.peakBytes) / Double(max(plan.naiveBytes, 1)))
            }
            print(name.padding(toLength: 10, withPad: " ", startingAt: 0) + String(s.ops).leftPad(5) + String(s.kernels).leftPad(9)
                  + GraphStatistics.mflops(s.flopsPerExample).leftPad(15) + arena.leftPad(18) + naive.leftPad(11) + ratio.leftPad(17))
        }
    }

    @Flag(help: "Print the structural hash (64 hex digits) instead of the IR.")
    var hash = false

    @Option(help: "Print the kernels as LLVM IR instead (llvm): lowered and optimized for this CPU, after the shape figures each kernel reads from its %dims argument.")
    var emit: EmitKind?

    enum EmitKind: String, ExpressibleByArgument { case llvm }

    @Flag(help: "Print figures for every stage instead of the IR.")
    var stats = false

    @Option(help: "Batch size N for the memory plan and --stats.")
    var batch = 128

    @Option(help: "The stage to print after: \(Stage.allCases.map(\.rawValue).joined(separator: ", ")).")
    var after: Stage = .verify

    @OptionGroup(title: "Training step (with --after autodiff or train)")
    var training: TrainingFlags

    func run() throws {
        try reportingErrors {
            let source = try IRInput.load(file)
            if stats {
                try printStatistics(source)
                return
            }
            let graph = try runPipeline(source, upTo: after, training, file: file)
            if hash {
                print(StructuralHash.hash(graph))
                return
            }
            if emit == .llvm {
                do {
                    let compiled = try CompiledGraph.compile(graph, maxBatch: batch)
                    print(compiled.dimsListing + (try JIT.get().optimizedText(compiled.llvmText)), terminator: "")
                } catch {
                    throw CommandError("\(file): error: \(error)")
                }
                return
            }
            print(Printer.print(graph.sorted()), terminator: "")
            if after == .plan {
                print(try planning { () throws(PassError) in try MemoryPlan.plan(graph, batch: batch) }.describe(), terminator: "")
            }
        }
    }
}
