import Foundation
import NascIR

/// A first-order optimizer, applied inside the training graph.
public enum Optimizer: Equatable, Sendable {
    /// SGD; `momentum` 0 is plain SGD. As PyTorch: buf = momentum*buf + g,
    /// then step along buf (or g + momentum*buf with Nesterov).
    case sgd(momentum: Double, nesterov: Bool)
    /// Adam as PyTorch computes it, with bias correction.
    case adam(beta1: Double, beta2: Double, epsilon: Double)

    public static let adamDefault = Optimizer.adam(beta1: 0.9, beta2: 0.999, epsilon: 1e-8)
}

/// Turns the `grad.<p>` outputs of an autodiff'ed graph into parameter
/// updates: adds the input `%lr: f32[]` (so schedules change it per step
/// without recompiling), the optimizer's state as `state` nodes, and an output
/// `next.<name>` for every parameter and optimizer state; the gradients stop
/// being outputs. One step of the resulting graph does forward, backward and
/// update.
///
/// Weight decay (L2, added to the gradient as PyTorch does) applies to
/// parameters of rank 2 and more: conv filters, dense and embedding matrices,
/// not biases or batch-norm scales.
///
/// Clipping by global norm (`clipNorm`) scales every gradient by
/// clip / max(norm, clip), where norm is the 2-norm of all gradients taken
/// together, before weight decay and momentum (as PyTorch's
/// `clip_grad_norm_` before `step()`).
public enum OptimizerUpdate {
    public static func run(_ graph: Graph, optimizer: Optimizer, weightDecay: Double = 0, clipNorm: Double? = nil) throws(PassError) -> Graph {
        let grads = graph.outputs.filter { $0.label.hasPrefix("grad.") }
        guard !grads.isEmpty else { throw PassError("optimizer: @\(graph.name) has no grad.<param> outputs; run autodiff first") }
        var b = GraphBuilder(try freeingLearningRateName(graph))
        let lr = b.addInput("lr", TensorType(.f32, []))
        b.removeOutputs { $0.label.hasPrefix("grad.") }

        // Adam's bias corrections depend only on the step count: computed once.
        var adam: (stepSize: String, correction2: String)? = nil
        if case .adam(let beta1, let beta2, _) = optimizer {
            let b1t = try power(&b, beta1, name: "adam.beta1_power")
            let b2t = try power(&b, beta2, name: "adam.beta2_power")
            // step size lr / (1 - beta1^t); the second moment is divided by sqrt(1 - beta2^t).
            let c1 = try b.add(.sub, [try b.scalar(1), b1t], name: "adam.correction1")
            let stepSize = try b.add(.div, [lr, c1], name: "adam.step_size")
            let c2 = try b.add(.sqrt, [try b.add(.sub, [try b.scalar(1), b2t], name: "adam.one_minus_beta2_power")], name: "adam.correction2")
            adam = (stepSize, c2)
        }

        let scale = try clipNorm.map { clip throws(PassError) in try clippingScale(&b, grads.map(\.value), clip: clip) }
        for output in grads {
            let p = String(output.label.dropFirst("grad.".count))
            var g = output.value
            if let scale { g = try b.add(.mul, [g, scale], name: p + ".clipped_grad") }
            if weightDecay > 0, b.type(of: p).rank >= 2 {
                let decay = try b.add(.mul, [p, try b.scalar(weightDecay)], name: p + ".decay")
                g = try b.add(.add, [g, decay], name: p + ".decayed_grad")
            }
            let next: String
            switch optimizer {
            case .sgd(let momentum, let nesterov):
                var direction = g
                if momentum > 0 {
                    let buf = try b.add(.state, [], ["init": .symbol("zeros")], name: p + ".momentum", type: b.type(of: p))
                    let scaled = try b.add(.mul, [buf, try b.scalar(momentum)], name: p + ".momentum.kept")
                    let newBuf = try b.add(.add, [scaled, g], name: p + ".momentum.next")
                    b.addOutput("next." + buf, newBuf)
                    direction = newBuf
                    if nesterov {
                        let look = try b.add(.mul, [newBuf, try b.scalar(momentum)], name: p + ".nesterov")
                        direction = try b.add(.add, [g, look], name: p + ".nesterov.direction")
                    }
                }
                let step = try b.add(.mul, [direction, lr], name: p + ".step")
                next = try b.add(.sub, [p, step], name: p + ".next")
            case .adam(let beta1, let beta2, let epsilon):
                let m = try b.add(.state, [], ["init": .symbol("zeros")], name: p + ".adam_m", type: b.type(of: p))
                let v = try b.add(.state, [], ["init": .symbol("zeros")], name: p + ".adam_v", type: b.type(of: p))
                let newM = try mix(&b, m, beta1, g, name: m)
                let g2 = try b.add(.mul, [g, g], name: p + ".grad_squared")
                let newV = try mix(&b, v, beta2, g2, name: v)
                b.addOutput("next." + m, newM)
                b.addOutput("next." + v, newV)
                let root = try b.add(.sqrt, [newV], name: p + ".adam_root")
                let corrected = try b.add(.div, [root, adam!.correction2], name: p + ".adam_corrected")
                let denominator = try b.add(.add, [corrected, try b.scalar(epsilon)], name: p + ".adam_denominator")
                let ratio = try b.add(.div, [newM, denominator], name: p + ".adam_ratio")
                let step = try b.add(.mul, [ratio, adam!.stepSize], name: p + ".step")
                next = try b.add(.sub, [p, step], name: p + ".next")
            }
            b.addOutput("next." + p, next)
        }
        return try b.finish(pass: "optimizer")
    }

    /// clip / max(norm, clip) as a scalar, written max(norm, clip) =
    /// clip + relu(norm - clip) so that it needs no op of its own.
    private static func clippingScale(_ b: inout GraphBuilder, _ grads: [String], clip: Double) throws(PassError) -> String {
        guard clip > 0, clip.isFinite else { throw PassError("optimizer: the clipping norm must be a positive number, got \(clip)") }
        var total: String? = nil
        for g in grads {
            let squares = try b.add(.mul, [g, g], name: g + ".squared")
            let sum = try b.add(.reduceSum, [squares], name: g + ".sum_of_squares")
            total = try total.map { t throws(PassError) in try b.add(.add, [t, sum], name: "clip.sum_of_squares") } ?? sum
        }
        let norm = try b.add(.sqrt, [total!], name: "clip.norm")
        let excess = try b.add(.relu, [try b.add(.sub, [norm, try b.scalar(clip)], name: "clip.over")], name: "clip.excess")
        let denominator = try b.add(.add, [excess, try b.scalar(clip)], name: "clip.denominator")
        return try b.add(.div, [try b.scalar(clip), denominator], name: "clip.scale")
    }

    /// beta * old + (1 - beta) * new, named `<name>.next`.
    private static func mix(_ b: inout GraphBuilder, _ old: String, _ beta: Double, _ new: String, name: String) throws(PassError) -> String {
        let kept = try b.add(.mul, [old, try b.scalar(beta)], name: name + ".kept")
        // 1 - 0.9 is 0.09999999999999998 in binary; 0.1 reads better and
        // rounds to the same f32.
        let oneMinus = Double(String(format: "%.15g", 1 - beta))!
        let added = try b.add(.mul, [new, try b.scalar(oneMinus)], name: name + ".added")
        return try b.add(.add, [kept, added], name: name + ".next")
    }

    /// A state holding beta^t for the step t being taken: starts at 1 and is
    /// multiplied by beta every step; returns this step's power.
    private static func power(_ b: inout GraphBuilder, _ beta: Double, name: String) throws(PassError) -> String {
        let state = try b.add(.state, [], ["init": .symbol("ones")], name: name, type: TensorType(.f32, []))
        let next = try b.add(.mul, [state, try b.scalar(beta)], name: name + ".next")
        b.addOutput("next." + state, next)
        return next
    }

    /// Every consumer of a training step feeds the learning rate as `%lr`,
    /// so a forward value of that name moves aside (value names are not part
    /// of a graph's identity). A parameter or state keeps its name, which
    /// checkpoints are keyed by, and so does an input: those are errors.
    static func freeingLearningRateName(_ graph: Graph) throws(PassError) -> Graph {
        if graph.inputs.contains(where: { $0.name == "lr" }) {
            throw PassError("optimizer: the input %lr has the name of the training step's learning-rate input; rename it")
        }
        guard let taken = graph.nodes.first(where: { $0.result == "lr" }) else { return graph }
        guard taken.op != .param && taken.op != .state else {
            throw PassError("optimizer: the \(taken.op.name) %lr has the name of the training step's learning-rate input; rename it")
        }
        var builder = GraphBuilder(graph)
        let name = builder.fresh("lr")
        var g = graph
        for i in g.nodes.indices {
            if g.nodes[i].result == "lr" { g.nodes[i].result = name }
            g.nodes[i].operands = g.nodes[i].operands.map { $0 == "lr" ? name : $0 }
        }
        for i in g.outputs.indices where g.outputs[i].value == "lr" { g.outputs[i].value = name }
        return g
    }
}
