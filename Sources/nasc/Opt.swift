import ArgumentParser
import Foundation
import NascIR
import NascPasses

struct Opt: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a pipeline of passes on a graph and print the result.",
        discussion: """
            --passes lists passes by name, run in order; each one's output is \
            verified before the next runs. Passes: \(PassRegistry.passes.map(\.name).joined(separator: ", ")), \
            and plan (print the memory plan of a fused graph for --batch, as \
            comments after it; must come last).

            \(PassRegistry.passes.map { "  \($0.name): \($0.summary)" }.joined(separator: "\n"))

            Examples:
              nasc opt child.nasir --passes=canonicalize,cse,dce
              nasc opt child.nasir --passes=autodiff,running-stats,optimizer,canonicalize,cse,fuse,plan
            """)

    @Argument(help: "The IR file ('-' reads standard input).")
    var file: String

    @Option(help: "Comma-separated pass names.")
    var passes: String

    @Option(help: "Batch size N for the plan pass.")
    var batch = 128

    @OptionGroup(title: "Training step (for autodiff and optimizer)")
    var training: TrainingFlags

    func validate() throws {
        try FlagCheck.int(batch, "--batch", 1...FlagCheck.largeCount)
        let names = passes.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        guard !names.isEmpty else { throw ValidationError("--passes needs at least one pass") }
        for (i, name) in names.enumerated() {
            if name == "plan" {
                guard i == names.count - 1 else { throw ValidationError("plan must be the last pass") }
                continue
            }
            guard PassRegistry.pass(named: name) != nil else {
                throw ValidationError("unknown pass '\(name)' (passes: \(PassRegistry.passes.map(\.name).joined(separator: ", ")), plan)")
            }
        }
    }

    func run() throws {
        try reportingErrors {
            var graph = try IRInput.load(file)
            var plan: MemoryPlan? = nil
            for name in passes.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) {
                do {
                    if name == "plan" {
                        plan = try MemoryPlan.plan(graph, batch: batch)
                    } else {
                        graph = try PassRegistry.pass(named: name)!(graph, training.options)
                    }
                } catch {
                    throw CommandError("\(file): error: \(name): \((error as? PassError)?.message ?? "\(error)")")
                }
            }
            print(Printer.print(graph.sorted()), terminator: "")
            if let plan { print(plan.describe(), terminator: "") }
        }
    }
}
