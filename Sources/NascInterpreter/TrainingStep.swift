import NascIR

/// Running a training graph (see `Pipeline` in NascPasses) step by step:
/// each output labelled `next.<name>` is written back into the `param` or
/// `state` called `<name>` before the next step.
public struct TrainingStep {
    public let interpreter: Interpreter
    public var sources: [String: Tensor]

    public init(_ trainingGraph: Graph, seed: UInt64) {
        interpreter = Interpreter(trainingGraph)
        sources = Initializers.initializeAll(trainingGraph, seed: seed)
    }

    /// One step on one batch; returns the step's outputs (the loss among them).
    @discardableResult
    public mutating func step(_ inputs: [String: Tensor]) throws(InterpreterError) -> Interpreter.Result {
        let result = try interpreter.run(inputs: inputs, sources: sources)
        for (label, value) in result.outputs where label.hasPrefix("next.") {
            sources[String(label.dropFirst("next.".count))] = value
        }
        return result
    }
}
