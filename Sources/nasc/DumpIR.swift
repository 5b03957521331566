import ArgumentParser
import NascIR

struct DumpIR: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dump-ir",
        abstract: "Print a graph in canonical IR text, or its structural hash.",
        discussion: """
            The canonical text has every attribute written out (defaults \
            included), every type written, and ops in dependency order (the \
            file's own order where it already is one). Printing it and \
            parsing it back gives the same bytes.

            --hash prints the graph's structural hash instead: equal for \
            graphs that differ only in value names or in the order of \
            independent ops, different for any change in ops, attributes, \
            shapes or edges. The search uses it to recognise a child it has \
            already trained.

            Examples:
              nasc dump-ir child.nasir
              nasc dump-ir --hash child.nasir
              cat child.nasir | nasc dump-ir -
            """)

    @Argument(help: "The IR file ('-' reads standard input).")
    var file: String

    @Flag(help: "Print the structural hash (64 hex digits) instead of the IR.")
    var hash = false

    func run() throws {
        try reportingErrors {
            let graph = try IRInput.load(file)
            if hash {
                print(StructuralHash.hash(graph))
            } else {
                print(Printer.print(graph.sorted()), terminator: "")
            }
        }
    }
}
