import NascIR
import NascPasses

/// Checks autodiff's gradients against central finite differences of the
/// loss, both computed by the interpreter in double precision.
///
/// For each parameter, a seeded sample of its elements is perturbed by ±h and
/// the difference quotient compared with the analytic gradient. The error of
/// an element is |analytic − numeric| / max(|analytic|, |numeric|, 1e-3):
/// relative for gradients of normal size, absolute below 1e-3, where the
/// difference quotient's own rounding (about 1e-16 / h) would dominate a
/// relative measure. In double precision with h = 1e-5 the quotient is
/// accurate to about 1e-9, so the default tolerance 1e-5 leaves a wide margin
/// while a wrong rule (off by a factor, a sign, a transposition) gives
/// errors near 1. When an element misses the tolerance, it is re-measured
/// with h/10 and h/100 and the best is kept: a relu input or a max-pool tie
/// within h of its kink makes the quotient meaningless, and a smaller step
/// steps off it, while a wrong gradient stays wrong at every step.
public struct GradientCheck {
    public struct Options: Sendable {
        public var batch = 2
        public var seed: UInt64 = 0
        public var samplesPerParameter = 16
        public var step = 1e-5
        public var tolerance = 1e-5
        public var loss = "loss"
        public init() {}
    }

    public struct ParameterReport: Sendable {
        public var name: String
        public var type: TensorType
        public var checked: Int
        public var worstError: Double
        public var worstIndex: Int
        public var analytic: Double
        public var numeric: Double
    }

    public var reports: [ParameterReport]
    public var loss: Double
    public var options: Options

    public var passed: Bool { reports.allSatisfy { $0.worstError <= options.tolerance } }
    public var worstError: Double { reports.map(\.worstError).max() ?? 0 }

    /// `alter` edits the differentiated graph before it runs; tests use it to
    /// plant a wrong gradient and show the check catches it.
    public static func run(_ graph: Graph, _ options: Options = Options(),
                           alter: (Graph) throws -> Graph = { $0 }) throws -> GradientCheck {
        let forward = try withScalarLoss(graph, options.loss)
        let training = try alter(try Autodiff.run(forward, loss: options.loss))
        let lossValue = forward.outputs.first { $0.label == options.loss }!.value
        try Interpreter.checkMemory(training, batch: options.batch)
        let inputs = RandomInputs.make(forward, batch: options.batch, seed: options.seed)
        let sources = Initializers.initializeAll(forward, seed: options.seed)
        let analytic = try Interpreter(training).run(inputs: inputs, sources: sources)
        let lossInterpreter = Interpreter(forward)

        func lossAt(_ p: String, _ index: Int, _ value: Double) throws -> Double {
            var perturbed = sources
            perturbed[p]!.data[index] = value
            return try lossInterpreter.run(inputs: inputs, sources: perturbed).values[lossValue]!.data[0]
        }

        var rng = SeededGenerator(seed: options.seed &+ 77)
        var reports: [ParameterReport] = []
        for node in forward.nodes where node.op == .param {
            let p = node.result
            let grad = analytic.output("grad." + p)!
            let count = grad.count
            let indices = count <= options.samplesPerParameter
                ? Array(0..<count) : (0..<options.samplesPerParameter).map { _ in rng.index(count) }
            var report = ParameterReport(name: p, type: node.type!, checked: indices.count, worstError: -1,
                                         worstIndex: 0, analytic: 0, numeric: 0)
            for i in indices {
                let x = sources[p]!.data[i]
                var best = Double.infinity, bestNumeric = 0.0
                var h = options.step
                for _ in 0..<3 {
                    let numeric = (try lossAt(p, i, x + h) - lossAt(p, i, x - h)) / (2 * h)
                    let error = Self.error(grad.data[i], numeric)
                    if error < best { (best, bestNumeric) = (error, numeric) }
                    if best <= options.tolerance { break }
                    h /= 10
                }
                if best > report.worstError {
                    report.worstError = best
                    report.worstIndex = i
                    report.analytic = grad.data[i]
                    report.numeric = bestNumeric
                }
            }
            reports.append(report)
        }
        return GradientCheck(reports: reports, loss: analytic.output(options.loss)!.data[0], options: options)
    }

    /// A graph whose output `label` is a scalar: the graph itself, or, for
    /// an output of any other shape, the graph with that output replaced by
    /// half its sum of squares, so any f32 output (an RNN cell's next state)
    /// can be checked.
    public static func withScalarLoss(_ graph: Graph, _ label: String) throws -> Graph {
        guard let i = graph.outputs.firstIndex(where: { $0.label == label }) else {
            throw PassError("@\(graph.name) has no output labelled '\(label)' (outputs: \(graph.outputs.map(\.label).joined(separator: ", ")); choose one with --loss)")
        }
        let output = graph.outputs[i]
        if output.type.isScalar { return graph }
        guard output.type.dtype == .f32 else { throw PassError("output '\(label)' is \(output.type); a loss must be f32") }
        var b = GraphBuilder(graph)
        let squared = try b.add(.mul, [output.value, output.value], name: label + ".squared")
        let sum = try b.add(.reduceSum, [squared], name: label + ".sum")
        let half = try b.add(.mul, [sum, try b.scalar(0.5)], name: label + ".loss")
        var g = b.graph
        g.outputs[i] = GraphOutput(label: label, type: TensorType(.f32, []), value: half)
        return try GraphBuilder(g).finish(pass: "gradcheck loss")
    }

    public static func error(_ analytic: Double, _ numeric: Double) -> Double {
        abs(analytic - numeric) / max(abs(analytic), abs(numeric), 1e-3)
    }
}
