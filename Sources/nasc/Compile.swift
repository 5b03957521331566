import ArgumentParser
import Foundation
import NascIR
import NascInterpreter
import NascLLVM
import NascRuntime
import NascPasses

struct Compile: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "JIT-compile a graph's training step (or forward pass) and report the time per stage.",
        discussion: """
            Runs the passes (autodiff, optimizer, canonicalize, cse, dce, \
            fuse, plan), lowers every kernel to LLVM IR, optimizes it (O2 for \
            the host CPU) and generates machine code, then compiles the same \
            graph again to show the kernel cache at work: the second time, \
            every kernel is a cache hit. With --after verify the forward \
            graph is compiled as written (for inference).

            Compiled kernels are also kept on disk (NASC_KERNEL_CACHE, else \
            $XDG_CACHE_HOME/nasc/kernels, else ~/.cache/nasc/kernels), so a \
            later process links them instead of compiling, and kernels the \
            kernel library holds (compiled ahead of time by make release; \
            see nasc cache --help) are linked from there: the first line says \
            how many came from each. NASC_KERNEL_CACHE=off \
            NASC_KERNEL_LIBRARY=off compiles everything.

            Example:
              $ nasc compile ir-specs/models/nasrl_child.nasir
            """)

    @Argument(help: "The IR file ('-' reads standard input).")
    var file: String

    @Option(help: "Stage to compile: verify (the graph as written), autodiff or train (the default when the graph has a loss and no grad.* or next.* outputs yet).")
    var after: Stage?

    @Option(help: "The largest batch the compiled graph accepts (sizes the arena).")
    var batch = 128

    @OptionGroup(title: "Training step")
    var training: TrainingFlags

    @Option(help: "Then run this many steps of the compiled code on seeded random inputs of --batch examples (parameters from their init attributes, lr 0.01), printing each output's first values.")
    var steps = 0

    @Option(help: "Seed for --steps.")
    var seed: UInt64 = 0

    func validate() throws {
        try FlagCheck.int(batch, "--batch", 1...FlagCheck.largeCount)
        try FlagCheck.int(steps, "--steps", 0...1_000_000)
    }

    func run() throws {
        try reportingErrors {
            let source = try IRInput.load(file)
            // A graph that already carries gradients or updates (grad.* or
            // next.* outputs) is a training step as written.
            let isStep = source.outputs.contains { $0.label.hasPrefix("grad.") || $0.label.hasPrefix("next.") }
            let stage = after ?? (source.outputs.contains { $0.label == training.loss } && !isStep ? .train : .verify)
            var clock = Date()
            let graph = try runPipeline(source, upTo: stage == .fuse || stage == .plan || stage == .optimize ? .train : stage, training, file: file)
            let pipeline = Date().timeIntervalSince(clock)
            func ms(_ s: Double) -> String { String(format: "%8.1f ms", s * 1000) }
            var last: CompiledGraph? = nil
            for attempt in ["cold", "warm"] {
                clock = Date()
                let compiled: CompiledGraph
                do { compiled = try CompiledGraph.compile(graph, maxBatch: batch) } catch {
                    throw CommandError("\(file): error: \(error)")
                }
                last = compiled
                let total = Date().timeIntervalSince(clock) + (attempt == "cold" ? pipeline : 0)
                let t = compiled.timings
                print("\(attempt): @\(source.name) after \(stage.rawValue), \(t.kernels) kernels (\(t.distinctKernels) distinct), cache \(t.cacheHits) hits / \(t.cacheMisses) misses (\(t.diskHits) from disk, \(t.libraryHits) from the kernel library)")
                if attempt == "cold" { print("  autodiff + optimizer  \(ms(pipeline))") }
                print("  passes + plan        \(ms(t.passes))")
                print("  LLVM IR build        \(ms(t.lowering))")
                print("  parse + verify       \(ms(t.llvm.parse))")
                print("  optimize (O2)        \(ms(t.llvm.optimize))")
                print("  codegen              \(ms(t.llvm.codegen))")
                print("  total                \(ms(total))")
                if attempt == "cold" {
                    print("  arena \(MemoryPlan.human(compiled.plan.peakBytes)) + workspace \(MemoryPlan.human(compiled.workspaceBytes)) at N = \(batch)")
                }
            }
            if steps > 0, let compiled = last { try runSteps(compiled) }
        }
    }

    /// Runs the compiled code: the end of the pipeline a graph must survive.
    private func runSteps(_ compiled: CompiledGraph) throws {
        do {
            try compiled.setSources(Initializers.initializeAll(compiled.graph, seed: seed))
            var inputs = RandomInputs.make(compiled.graph, batch: batch, seed: seed)
            if inputs["lr"] != nil { inputs["lr"] = .scalar(0.01) }
            for step in 1...steps {
                let outputs = try compiled.run(inputs)
                for o in compiled.graph.outputs where !o.label.hasPrefix("next.") {
                    print("step \(step): \(o.label) = \(outputs[o.label]!.formatted(limit: 4))")
                }
            }
        } catch { throw CommandError("\(file): error: \(error)") }
    }
}
