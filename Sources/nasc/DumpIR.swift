import ArgumentParser
import NascIR
import NascPasses

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
            per parameter and state, written back after each step).

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
              cat child.nasir | nasc dump-ir -
            """)

    @Argument(help: "The IR file ('-' reads standard input).")
    var file: String

    @Flag(help: "Print the structural hash (64 hex digits) instead of the IR.")
    var hash = false

    @Option(help: "The stage to print after: \(Stage.allCases.map(\.rawValue).joined(separator: ", ")).")
    var after: Stage = .verify

    @OptionGroup(title: "Training step (with --after autodiff or train)")
    var training: TrainingFlags

    func run() throws {
        try reportingErrors {
            let graph = try runPipeline(try IRInput.load(file), upTo: after, training, file: file)
            if hash {
                print(StructuralHash.hash(graph))
            } else {
                print(Printer.print(graph.sorted()), terminator: "")
            }
        }
    }
}
