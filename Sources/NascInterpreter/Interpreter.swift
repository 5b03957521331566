import Foundation
import NascIR

/// A run-time error: inputs that do not fit the graph, or data the types
/// cannot rule out (a label out of range). Never a crash.
public struct InterpreterError: Error, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// The reference semantics of every op: plain loops over `Tensor`s in double
/// precision, written to be obviously correct rather than fast. Every backend
/// is checked against it.
public struct Interpreter {
    public let graph: Graph
    private let order: [Int]

    /// `graph` must have passed the verifier (types filled in, no cycles).
    public init(_ graph: Graph) {
        self.graph = graph
        self.order = graph.topologicalOrder()
    }

    /// Every value of one run, and the outputs by label.
    public struct Result {
        public var values: [String: Tensor]
        public var outputs: [(label: String, value: Tensor)]

        public func output(_ label: String) -> Tensor? { outputs.first { $0.label == label }?.value }
    }

    /// Runs the graph. `inputs` binds every graph input; `sources` holds the
    /// current value of every `param` and `state` (see `Initializers.initializeAll`).
    public func run(inputs: [String: Tensor], sources: [String: Tensor]) throws(InterpreterError) -> Result {
        var values: [String: Tensor] = [:]
        let batch = try bindInputs(inputs, into: &values)
        try Interpreter.checkMemory(graph, batch: batch)
        for i in order {
            let node = graph.nodes[i]
            let type = node.type ?? TensorType(.f32, [])
            let shape = type.bound(batch: batch)
            let result: Tensor
            if node.op == .param || node.op == .state {
                guard let t = sources[node.result] else { throw InterpreterError("no value for \(node.op.name) '%\(node.result)'") }
                guard t.shape == shape else {
                    throw InterpreterError("\(node.op.name) '%\(node.result)' is \(type) but its value has shape \(t.shape)")
                }
                result = t
            } else if node.op == .const {
                result = Tensor(type.dtype, shape: shape, repeating: node.attrs.float("value"))
            } else {
                let operands = node.operands.map { values[$0]! }
                do {
                    result = try Interpreter.evaluate(node.op, operands, node.attrs, shape: shape)
                } catch {
                    throw InterpreterError("'%\(node.result) = \(node.op.name)': \(error.message)")
                }
            }
            values[node.result] = result
        }
        let outputs = graph.outputs.map { (label: $0.label, value: values[$0.value]!) }
        return Result(values: values, outputs: outputs)
    }

    /// Refuses a run whose values (every input and node, kept for the whole
    /// run in 8-byte doubles) exceed the memory limit, before allocating them.
    public static func checkMemory(_ graph: Graph, batch: Int) throws(InterpreterError) {
        let sizes = graph.inputs.map { $0.type.bytes(batch: batch, bytesPerElement: 8) }
            + graph.nodes.map { ($0.type ?? TensorType(.f32, [])).bytes(batch: batch, bytesPerElement: 8) }
        do {
            try MemoryLimit.check(MemoryLimit.sum(sizes), for: "interpreting @\(graph.name) at batch \(batch)",
                                  advice: "use a smaller --batch or smaller shapes, or raise the memory limit (`nasc version` shows it and where it comes from)")
        } catch { throw InterpreterError(error.message) }
    }

    /// Checks inputs against the signature and binds `N` (1 if no input has it).
    private func bindInputs(_ inputs: [String: Tensor], into values: inout [String: Tensor]) throws(InterpreterError) -> Int {
        var batch: Int? = nil
        for input in graph.inputs {
            guard let t = inputs[input.name] else { throw InterpreterError("missing input '%\(input.name)' (\(input.type))") }
            guard t.rank == input.type.rank else {
                throw InterpreterError("input '%\(input.name)' is \(input.type) but the value has shape \(t.shape)")
            }
            if input.type.hasBatch {
                let n = t.shape[0]
                if let b = batch, b != n {
                    throw InterpreterError("input '%\(input.name)' has batch size \(n) but an earlier input has \(b)")
                }
                batch = n
            }
            let expected = input.type.bound(batch: batch ?? 1)
            guard t.shape == expected else {
                throw InterpreterError("input '%\(input.name)' is \(input.type) but the value has shape \(t.shape)")
            }
            var bound = t
            bound.dtype = input.type.dtype
            if input.type.dtype == .i32, let bad = t.data.first(where: { $0 != $0.rounded() }) {
                throw InterpreterError("input '%\(input.name)' is i32 but holds \(bad)")
            }
            values[input.name] = bound
        }
        for name in inputs.keys where !graph.inputs.contains(where: { $0.name == name }) {
            throw InterpreterError("'%\(name)' is not an input of @\(graph.name) (inputs: \(graph.inputs.map { "%" + $0.name }.joined(separator: ", ")))")
        }
        return batch ?? 1
    }

    /// One op on concrete operands. `shape` is the result's shape with `N` bound.
    static func evaluate(_ op: Op, _ x: [Tensor], _ a: Attributes, shape: [Int]) throws(InterpreterError) -> Tensor {
        let anchor: AnchorOp
        switch op.kind {
        case .elementwise(let e):
            let f = e.formula
            return x.count == 1 ? map(x[0]) { v in f.evaluate({ _ in v }, a) }
                                : zip(x[0], x[1]) { u, v in f.evaluate({ $0 == 0 ? u : v }, a) }
        case .anchor(let a): anchor = a
        }
        switch anchor {
        case .param, .state, .const:
            throw InterpreterError("internal: sources are bound by run()")

        case .conv2d: return conv2d(x[0], x[1], a, shape: shape)
        case .conv2dGradInput: return conv2dGradInput(x[0], x[1], a, shape: shape)
        case .conv2dGradFilter: return conv2dGradFilter(x[0], x[1], a, shape: shape)
        case .matmul: return matmul(x[0], x[1], transposeA: a.bool("transpose_a"), transposeB: a.bool("transpose_b"))
        case .biasAdd: return biasAdd(x[0], x[1])

        case .batchNorm: return batchNorm(x, a)
        case .batchNormGrad: return batchNormGrad(x, a)
        case .batchNormGradGamma: return batchNormGradGamma(x, a)
        case .batchMean: return batchStatistics(x[0]).mean
        case .batchVar: return batchStatistics(x[0], unbiased: a.bool("unbiased")).variance

        case .maxPool: return maxPool(x[0], a, shape: shape)
        case .maxPoolGrad: return maxPoolGrad(x[0], x[1], a)
        case .avgPool: return avgPool(x[0], a, shape: shape)
        case .avgPoolGrad: return avgPoolGrad(x[0], a, shape: shape)
        case .globalAvgPool: return globalAvgPool(x[0])
        case .globalAvgPoolGrad: return globalAvgPoolGrad(x[0], shape: shape)

        case .concat: return concat(x, axis: a.int("axis"), shape: shape)
        case .slice: return slice(x[0], axis: a.int("axis"), start: a.int("start"), shape: shape)
        case .zeroPad: return pad(x[0], a.ints("pads"), shape: shape)
        case .crop: return crop(x[0], a.ints("pads"), shape: shape)
        case .flatten, .reshape: return Tensor(x[0].dtype, shape: shape, data: x[0].data)
        case .reduceSum: return .scalar(x[0].data.reduce(0, +))
        case .channelSum: return channelSum(x[0])

        case .dropout:
            let (rate, stream, seed) = (a.float("rate"), a.int("stream"), Int32(truncatingIfNeeded: Int(x[1].data[0])))
            var out = x[0]
            for i in 0..<out.count {
                out.data[i] = DropoutMask.keep(seed: seed, stream: stream, index: i, rate: rate) ? out.data[i] * DropoutMask.scale(rate: rate) : 0
            }
            return out
        case .dropPath:
            let (stream, seed, rate) = (a.int("stream"), Int32(truncatingIfNeeded: Int(x[1].data[0])), DropoutMask.clamped(rate: Double(Float(x[2].data[0]))))
            var out = x[0]
            let perExample = out.count / max(x[0].shape[0], 1)
            for i in 0..<out.count {
                out.data[i] = DropoutMask.keep(seed: seed, stream: stream, index: i / perExample, rate: rate) ? out.data[i] * DropoutMask.scale(rate: rate) : 0
            }
            return out
        case .embedding: return try embedding(x[0], x[1])
        case .embeddingGrad: return try embeddingGrad(x[0], x[1], shape: shape)
        case .softmax: return softmax(x[0])
        case .softmaxGrad: return softmaxGrad(x[0], x[1])
        case .softmaxCrossEntropy: return try softmaxCrossEntropy(x[0], x[1], smoothing: a["smoothing"]?.floatValue ?? 0)
        case .softmaxCrossEntropyGrad: return try softmaxCrossEntropyGrad(x[0], x[1], x[2], smoothing: a["smoothing"]?.floatValue ?? 0)
        case .weightedSoftmaxCrossEntropy: return try softmaxCrossEntropy(x[0], x[1], weights: x[2])
        case .weightedSoftmaxCrossEntropyGrad: return try softmaxCrossEntropyGrad(x[0], x[1], x[3], weights: x[2])
        }
    }
}

