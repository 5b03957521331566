import ArgumentParser

/// nasc: neural architecture search built like a compiler.
struct Nasc: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nasc",
        abstract: "Neural architecture search, built like a compiler.",
        discussion: """
            Every child architecture is a graph in nasc's typed IR (files ending in .nasir). \
            These commands read, check and print that IR.

            Examples:
              nasc verify ir-specs/models/nasrl_child.nasir
              nasc dump-ir ir-specs/models/nasrl_child.nasir
              nasc dump-ir --hash ir-specs/models/nasrl_child.nasir
            """,
        version: NascVersion.string,
        subcommands: [Verify.self, DumpIR.self, Opt.self, Run.self, Gradcheck.self, Compile.self, Bench.self, Train.self, Eval.self, SearchCommand.self, Retrain.self, Sample.self, EmitC.self, Version.self])
}

Nasc.main()
