import ArgumentParser
import NascPasses

/// Flags that shape a training step, shared by every command that builds one.
struct TrainingFlags: ParsableArguments {
    @Option(help: "Label of the scalar loss output to differentiate.")
    var loss = "loss"

    @Option(help: "Optimizer: sgd or adam.")
    var optimizer: OptimizerKind = .sgd

    @Option(help: "SGD momentum (0 for plain SGD).")
    var momentum = 0.9

    @Flag(help: "Use Nesterov momentum with SGD.")
    var nesterov = false

    @Option(name: .customLong("weight-decay"), help: "L2 weight decay on parameters of rank >= 2 (filters and matrices).")
    var weightDecay = 0.0

    @Option(help: "Adam's beta1.")
    var beta1 = 0.9

    @Option(help: "Adam's beta2.")
    var beta2 = 0.999

    @Option(name: .customLong("adam-eps"), help: "Adam's epsilon.")
    var adamEpsilon = 1e-8

    @Option(help: "Clip the gradients' global norm to this (default: no clipping).")
    var clip: Double?

    enum OptimizerKind: String, ExpressibleByArgument, CaseIterable {
        case sgd, adam
    }

    var options: TrainingOptions {
        let opt: Optimizer = optimizer == .sgd
            ? .sgd(momentum: momentum, nesterov: nesterov)
            : .adam(beta1: beta1, beta2: beta2, epsilon: adamEpsilon)
        return TrainingOptions(loss: loss, optimizer: opt, weightDecay: weightDecay, clipNorm: clip)
    }

    func validate() throws {
        try FlagCheck.real(momentum, "--momentum", atLeast: 0, below: 1)
        try FlagCheck.real(weightDecay, "--weight-decay", atLeast: 0)
        try FlagCheck.real(beta1, "--beta1", atLeast: 0, below: 1)
        try FlagCheck.real(beta2, "--beta2", atLeast: 0, below: 1)
        try FlagCheck.real(adamEpsilon, "--adam-eps", above: 0)
        if let clip { try FlagCheck.real(clip, "--clip", above: 0) }
        if nesterov && (optimizer != .sgd || momentum == 0) {
            throw ValidationError("--nesterov needs --optimizer sgd and a positive --momentum")
        }
    }
}

extension Stage: ExpressibleByArgument {}

/// Runs the pipeline, turning a pass error into a command error.
func runPipeline(_ graph: NascIR.Graph, upTo stage: Stage, _ flags: TrainingFlags, file: String) throws -> NascIR.Graph {
    do {
        return try Pipeline.run(graph, upTo: stage, flags.options)
    } catch {
        throw CommandError("\(file): error: \(error.message)")
    }
}

import NascIR
