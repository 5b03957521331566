import ArgumentParser
import Foundation
import NascIR
import NascInterpreter
import NascPasses

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a graph with the reference interpreter and print its outputs.",
        discussion: """
            Parameters and states start from their init attributes (seeded). \
            Inputs are random unless given: f32 inputs standard normal, i32 \
            inputs within the range their uses accept (labels below the \
            number of classes, ids below the vocabulary size). Give an input \
            as a list of numbers, or @FILE for a file of numbers separated by \
            spaces, commas or newlines; a batch of N examples is N times an \
            example's elements.

            With --after train, each of --steps runs one training step on the \
            same batch (forward, backward, update) and prints the loss, so \
            you can watch a graph learn; --lr sets the learning rate.

            The interpreter computes in double precision with plain loops: \
            it is the reference every compiled backend is checked against, \
            not a fast path.

            Examples:
              nasc run ir-specs/models/nasrl_rnn_cell.nasir
              nasc run model.nasir --input x=@image.txt --input y=3 --batch 1
              nasc run model.nasir --after train --steps 20 --lr 0.05
            """)

    @Argument(help: "The IR file ('-' reads standard input).")
    var file: String

    @Option(name: .customLong("input"), help: ArgumentHelp("Bind an input: NAME=v1,v2,... or NAME=@FILE.", valueName: "NAME=VALUES"))
    var inputs: [String] = []

    @Option(help: "Batch size N for random inputs (given inputs set it themselves).")
    var batch: Int?

    @Option(help: "Seed for random inputs and initial parameters.")
    var seed: UInt64 = 0

    @Option(help: "Elements to print per output (0 prints all).")
    var limit = 16

    @Option(help: "Stage to run: verify (the graph as written), autodiff or train.")
    var after: Stage = .verify

    @Option(help: "Training steps to run with --after train.")
    var steps = 1

    @Option(help: "Learning rate with --after train.")
    var lr = 0.01

    @OptionGroup(title: "Training step (with --after autodiff or train)")
    var training: TrainingFlags

    func validate() throws {
        try FlagCheck.int(batch, "--batch", 1...FlagCheck.largeCount)
        try FlagCheck.int(steps, "--steps", 1...1_000_000)
        try FlagCheck.int(limit, "--limit", 0...Int.max)
        try FlagCheck.real(lr, "--lr", atLeast: 0)
    }

    func run() throws {
        try reportingErrors {
            let graph = try runPipeline(try IRInput.load(file), upTo: after, training, file: file)
            var given: [String: Tensor] = [:]
            var n = batch
            for spec in inputs {
                let (name, tensor) = try parseInput(spec, graph: graph, batch: batch)
                given[name] = tensor
                if graph.inputs.first(where: { $0.name == name })!.type.hasBatch { n = n ?? tensor.shape[0] }
            }
            try interpret { () throws(InterpreterError) in try Interpreter.checkMemory(graph, batch: n ?? 2) }
            var values = RandomInputs.make(graph, batch: n ?? 2, seed: seed)
            for (k, v) in given { values[k] = v }
            if after == .train {
                values["lr"] = .scalar(lr)
                var session = TrainingStep(graph, seed: seed)
                var last: Interpreter.Result? = nil
                for step in 1...steps {
                    let result = try interpret { () throws(InterpreterError) in try session.step(values) }
                    if let loss = result.output(training.loss) {
                        print("step \(step): \(training.loss) = \(loss.data[0])")
                    }
                    last = result
                }
                printOutputs(last!, skipping: { $0.hasPrefix("next.") })
            } else {
                let sources = Initializers.initializeAll(graph, seed: seed)
                let result = try interpret { () throws(InterpreterError) in
                    try Interpreter(graph).run(inputs: values, sources: sources)
                }
                printOutputs(result, skipping: { _ in false })
            }
        }
    }

    private func interpret<T>(_ body: () throws(InterpreterError) -> T) throws -> T {
        do { return try body() } catch { throw CommandError("\(file): error: \(error.message)") }
    }

    private func printOutputs(_ result: Interpreter.Result, skipping skip: (String) -> Bool) {
        for (label, value) in result.outputs where !skip(label) {
            print("\(label) = \(value.formatted(limit: limit == 0 ? Int.max : limit))")
        }
    }

    /// NAME=v1,v2,... or NAME=@FILE, checked against the input's type.
    private func parseInput(_ spec: String, graph: Graph, batch: Int?) throws -> (String, Tensor) {
        guard let eq = spec.firstIndex(of: "=") else {
            throw CommandError("--input \(spec): expected NAME=VALUES (e.g. x=0.5,1,2 or x=@values.txt)")
        }
        let name = String(spec[..<eq]).trimmingCharacters(in: CharacterSet(charactersIn: "%"))
        guard let input = graph.inputs.first(where: { $0.name == name }) else {
            throw CommandError("--input \(name): error: @\(graph.name) has no input '%\(name)' (inputs: \(graph.inputs.map { "%" + $0.name }.joined(separator: ", ")))")
        }
        var text = String(spec[spec.index(after: eq)...])
        var origin = "--input \(name)"
        if text.hasPrefix("@") {
            let path = String(text.dropFirst())
            guard let data = FileManager.default.contents(atPath: path) else { throw CommandError("\(path): error: cannot read the file") }
            text = String(decoding: data, as: UTF8.self)
            origin = path
        }
        let words = text.split(whereSeparator: { $0 == "," || $0.isWhitespace })
        var numbers: [Double] = []
        for (i, w) in words.enumerated() {
            guard let v = Double(w), v.isFinite else { throw CommandError("\(origin): error: value \(i + 1) ('\(w)') is not a finite number") }
            if input.type.dtype == .i32, v != v.rounded() { throw CommandError("\(origin): error: value \(i + 1) (\(w)) is not an integer, but %\(name) is \(input.type)") }
            numbers.append(v)
        }
        let perExample = input.type.elementsPerExample ?? 1
        var n = batch ?? 1
        if input.type.hasBatch, batch == nil {
            guard !numbers.isEmpty, numbers.count % perExample == 0 else {
                throw CommandError("\(origin): error: %\(name) is \(input.type): expected a multiple of \(perExample) values, got \(numbers.count)")
            }
            n = numbers.count / perExample
        }
        let shape = input.type.bound(batch: n)
        let expected = shape.reduce(1, *)
        guard numbers.count == expected else {
            throw CommandError("\(origin): error: %\(name) is \(input.type)\(input.type.hasBatch ? " with N = \(n)" : ""): expected \(expected) values, got \(numbers.count)")
        }
        return (name, Tensor(input.type.dtype, shape: shape, data: numbers))
    }
}
