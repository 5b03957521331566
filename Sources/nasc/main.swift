import ArgumentParser
import Foundation

/// nasc: neural architecture search built like a compiler.
struct Nasc: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nasc",
        abstract: "Neural architecture search, built like a compiler.",
        discussion: """
            Every child architecture is a graph in nasc's typed IR (files \
            ending in .nasir): nasc searches for children, and compiles, \
            trains, checks and deploys any graph.

            Examples:
              nasc search                               # the default search, ~11 min
              nasc retrain nasc-run --save best.ckpt    # its best child, trained fully
              nasc report nasc-run --out report.html    # see it: charts, leaderboard, drawings
              nasc sample --seed 3                      # a child of the space, as IR
              nasc dump-ir nasc-run/best.nasir --after fuse
              nasc gradcheck ir-specs/autodiff/conv_bn_relu.nasir
              nasc emit-c nasc-run/best.nasir --weights best.ckpt --out best
            """,
        version: NascVersion.string,
        groupedSubcommands: [
            CommandGroup(name: "Searching", subcommands: [SearchCommand.self, WorkerCommand.self, Status.self, ReportCommand.self, Retrain.self,
                                                          Correlate.self, Score.self, Latency.self, Sample.self, SearchCells.self]),
            CommandGroup(name: "Training", subcommands: [Train.self, Eval.self, TrainLM.self, EvalLM.self, Unroll.self]),
            CommandGroup(name: "Deploying", subcommands: [EmitC.self, ExportONNX.self, ExportPyTorch.self]),
            CommandGroup(name: "Compiler", subcommands: [Verify.self, DumpIR.self, Opt.self, Dot.self, Run.self, Gradcheck.self,
                                                         Compile.self, Bench.self, CacheCommand.self, Version.self]),
        ])
}

/// OpenBLAS's idle threads spin for 2^28 cycles (about 90 ms here) after
/// each product it splits before they sleep, holding a core that nasc's
/// own threads need right then (batch chunks, row splits): on two cores,
/// two chunks and a spinning thread share two cores. The library reads
/// OPENBLAS_THREAD_TIMEOUT (log2 of the cycles) only as it loads, so when
/// the caller has not chosen a value nasc sets the shortest one and runs
/// itself again; if that fails it runs on with the library's default.
func quietOpenBLASIdleThreads() {
    guard getenv("OPENBLAS_THREAD_TIMEOUT") == nil else { return }
    setenv("OPENBLAS_THREAD_TIMEOUT", "4", 1)
    execv("/proc/self/exe", CommandLine.unsafeArgv)
}

quietOpenBLASIdleThreads()
Nasc.main()
