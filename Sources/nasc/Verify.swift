import ArgumentParser
import NascIR

struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check IR files: syntax, names, attributes, types and shapes.",
        discussion: """
            Prints one line per valid file, or every error found as \
            file:line:col: error: message, with the source line and a caret. \
            Exits with 1 if any file has errors.

            Example:
              $ nasc verify child.nasir
              child.nasir: ok (14 ops, 5 parameters, hash 3f9c2a81d0e4b7a6)
            """)

    @Argument(help: "IR files to check ('-' reads standard input).")
    var files: [String]

    @Flag(name: .shortAndLong, help: "Print nothing for valid files.")
    var quiet = false

    func run() throws {
        var failed = false
        for file in files {
            do {
                try reportingErrors {
                    let graph = try IRInput.load(file)
                    if !quiet {
                        let params = graph.nodes.filter { $0.op == .param }.count
                        let hash = StructuralHash.hash(graph).prefix(16)
                        print("\(file): ok (\(graph.nodes.count) ops, \(params) parameters, hash \(hash))")
                    }
                }
            } catch {
                failed = true
            }
        }
        if failed { throw ExitCode.failure }
    }
}
