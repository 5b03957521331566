import ArgumentParser
import Foundation
import NascIR
import NascInterpreter

struct Gradcheck: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check autodiff's gradients against finite differences.",
        discussion: """
            Builds the graph's backward pass, evaluates it with the reference \
            interpreter on seeded random inputs and parameters, and compares \
            each parameter's gradient with central finite differences of the \
            loss, both in double precision. Prints the worst error per \
            parameter and exits 1 if any exceeds the tolerance.

            The error of an element is |analytic - numeric| / max(|analytic|, \
            |numeric|, 1e-3). With h = 1e-5 in double precision the \
            difference quotient is good to about 1e-9, so the default \
            tolerance of 1e-5 is loose for a correct rule and tight for a \
            wrong one. A sample that straddles a relu or max-pool kink is \
            re-measured with h/10 and h/100.

            Examples:
              nasc gradcheck ir-specs/models/nasrl_child.nasir --samples 4
              nasc gradcheck ir-specs/models/nasrl_rnn_cell.nasir --loss h
              nasc gradcheck child.nasir --samples 64 --batch 4 --seed 3
            """)

    @Argument(help: "The IR file ('-' reads standard input).")
    var file: String

    @Option(help: "Label of the loss output; an output that is not a scalar is checked through half its sum of squares.")
    var loss = "loss"

    @Option(help: "Batch size N of the random inputs.")
    var batch = 2

    @Option(help: "Seed for inputs, parameters and sampled elements.")
    var seed: UInt64 = 0

    @Option(help: "Elements checked per parameter (all of them if it has fewer).")
    var samples = 16

    @Option(help: "Finite-difference step h.")
    var step = 1e-5

    @Option(help: "Largest acceptable error.")
    var tolerance = 1e-5

    func validate() throws {
        try FlagCheck.int(batch, "--batch", 1...FlagCheck.largeCount)
        try FlagCheck.int(samples, "--samples", 1...FlagCheck.largeCount)
        try FlagCheck.real(step, "--step", above: 0, atMost: 1)
        try FlagCheck.real(tolerance, "--tolerance", above: 0)
    }

    func run() throws {
        try reportingErrors {
            let graph = try IRInput.load(file)
            var options = GradientCheck.Options()
            options.batch = batch
            options.seed = seed
            options.samplesPerParameter = samples
            options.step = step
            options.tolerance = tolerance
            options.loss = loss
            let check: GradientCheck
            do {
                check = try GradientCheck.run(graph, options)
            } catch {
                throw CommandError("\(file): error: \(error)")
            }
            guard !check.reports.isEmpty else { throw CommandError("\(file): error: @\(graph.name) has no parameters to check") }
            print("gradcheck @\(graph.name): batch \(batch), seed \(seed), loss \(check.loss)")
            let width = max(9, check.reports.map(\.name.count).max()! + 1)
            print("parameter".padding(toLength: width, withPad: " ", startingAt: 0) + "  checked  worst error  analytic       numeric")
            for r in check.reports {
                let name = ("%" + r.name).padding(toLength: width, withPad: " ", startingAt: 0)
                let flag = r.worstError > tolerance ? "  FAIL" : ""
                print("\(name)  \(String(r.checked).leftPad(7))  \(sci(r.worstError).leftPad(11))  \(sci(r.analytic).leftPad(13))  \(sci(r.numeric).leftPad(13))\(flag)")
            }
            if check.passed {
                print("ok: worst error \(sci(check.worstError)) <= tolerance \(sci(tolerance))")
            } else {
                let bad = check.reports.filter { $0.worstError > tolerance }.map { "%" + $0.name }
                throw CommandError("\(file): error: gradient check failed for \(bad.joined(separator: ", ")) (tolerance \(sci(tolerance)))")
            }
        }
    }

    private func sci(_ v: Double) -> String { String(format: "%.3e", v) }
}

extension String {
    func leftPad(_ width: Int) -> String { count >= width ? self : String(repeating: " ", count: width - count) + self }
}
