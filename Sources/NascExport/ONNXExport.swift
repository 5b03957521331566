import Foundation
import NascIR
import NascPasses
import SwiftProtobuf

/// A trained architecture as an ONNX model: the inference graph (batch norm
/// as BatchNormalization with the running statistics, a bias after a
/// convolution or matmul folded into its Conv or Gemm) with the trained
/// weights as initializers, the batch dimension symbolic (`N`). The
/// protobuf comes from the ONNX schema through swift-protobuf
/// (ONNX/onnx.pb.swift).
public enum ONNXExport {
    /// The operator set the model imports: the one ONNX Runtime, TensorRT
    /// and OpenVINO have all supported for years, and the IR version that
    /// goes with it.
    public static let opset = 17
    public static let irVersion = 8

    public struct Exported: Sendable {
        public var bytes: Data
        public var nodes: Int
        public var opTypes: [String]
        public var parameters: Int
        public var input: String
        public var output: String
    }

    public static func export(_ forward: Graph, weights: [String: Tensor], producerVersion: String) throws(ExportError) -> Exported {
        let deployable = try ExportError.wrap { () throws(PassError) in
            try DeployableGraph.prepare(forward, weights: weights, for: "ONNX export")
        }
        var writer = ONNXGraphWriter(deployable)
        try writer.writeNodes()
        var graph = writer.graphProto()
        graph.name = forward.name

        var model = Onnx_ModelProto()
        model.irVersion = Int64(irVersion)
        var opset = Onnx_OperatorSetIdProto()
        opset.domain = ""
        opset.version = Int64(Self.opset)
        model.opsetImport = [opset]
        model.producerName = "nasc"
        model.producerVersion = producerVersion
        model.docString = "@\(forward.name), exported by nasc export-onnx"
        var hash = Onnx_StringStringEntryProto()
        hash.key = "nasc_structural_hash"
        hash.value = StructuralHash.hash(forward)
        model.metadataProps = [hash]
        model.graph = graph
        let bytes: Data
        do { bytes = try model.serializedData() } catch { throw ExportError("could not serialize the ONNX model: \(error)") }
        return Exported(bytes: bytes, nodes: graph.node.count, opTypes: graph.node.map(\.opType),
                        parameters: GraphStatistics(deployable.graph).parameterElements,
                        input: deployable.input.name, output: graph.output[0].name)
    }
}

/// Writes one ONNX node (or a few) per IR node, in the graph's order.
struct ONNXGraphWriter {
    let deployable: DeployableGraph
    var graph: Graph { deployable.graph }
    var nodes: [Onnx_NodeProto] = []
    var initializers: [Onnx_TensorProto] = []
    var types: [String: TensorType] = [:]
    var users: [String: [Node]] = [:]
    var taken: Set<String> = []
    /// bias_add nodes whose bias went into the Conv or Gemm before them.
    var folded: Set<String> = []

    init(_ deployable: DeployableGraph) {
        self.deployable = deployable
        for i in deployable.graph.inputs { types[i.name] = i.type; taken.insert(i.name) }
        for n in deployable.graph.nodes {
            types[n.result] = n.type
            taken.insert(n.result)
        }
        for o in deployable.graph.outputs { taken.insert(o.label) }
        users = deployable.users
    }

    mutating func writeNodes() throws(ExportError) {
        for n in graph.nodes where !folded.contains(n.result) { try write(n) }
        if outputName != deployable.output.value { add("Identity", [deployable.output.value], [outputName]) }
    }

    func graphProto() -> Onnx_GraphProto {
        var g = Onnx_GraphProto()
        g.node = nodes
        g.initializer = initializers
        g.input = [valueInfo(deployable.input.name, deployable.input.type)]
        g.output = [valueInfo(outputName, deployable.output.type)]
        return g
    }

    /// The output keeps its label (`logits`) unless that names another value.
    var outputName: String {
        let o = deployable.output
        return types[o.label] == nil ? o.label : o.value
    }

    // MARK: One IR node

    mutating func write(_ n: Node) throws(ExportError) {
        let x = n.operands, out = n.result, a = n.attrs
        let op: AnchorOp
        switch n.op.kind {
        case .elementwise:
            switch n.op.elementwiseOp! {
            case .identity: add("Identity", x, [out])
            case .relu: add("Relu", x, [out])
            case .tanh: add("Tanh", x, [out])
            case .sigmoid: add("Sigmoid", x, [out])
            case .neg: add("Neg", x, [out])
            case .sqrt: add("Sqrt", x, [out])
            case .leakyRelu: add("LeakyRelu", x, [out], [attr("alpha", float: a.float("slope"))])
            case .silu:
                let s = fresh(out + "_sigmoid")
                add("Sigmoid", x, [s])
                add("Mul", [x[0], s], [out])
            case .add: add("Add", x, [out])
            case .sub: add("Sub", x, [out])
            case .mul: add("Mul", x, [out])
            case .div: add("Div", x, [out])
            // Gradient ops: a forward pass computes none (ExportCoverage).
            case .reluGrad, .tanhGrad, .sigmoidGrad, .leakyReluGrad, .siluGrad: throw ExportError.unsupported(n, by: "ONNX")
            }
            return
        case .anchor(let a): op = a
        }
        switch op {
        case .param, .state:
            let t = deployable.weights[out]!
            addInitializer(out, shape: t.shape, floats: t.data.map(Float.init))
        case .const:
            try writeConstant(n)

        case .conv2d:
            let w = types[x[1]]!.dims.map { $0.staticValue! }
            let input = types[x[0]]!.dims
            let pads = WindowPads(height: input[2].staticValue!, width: input[3].staticValue!, kernel: [w[2], w[3]],
                                  stride: a.ints("stride"), pad: a.symbol("pad"), dilation: a.dilation)
            let (inputs, output) = foldingBias(of: n, into: x)
            add("Conv", inputs, [output], [attr("kernel_shape", ints: [w[2], w[3]]), attr("strides", ints: a.ints("stride")),
                                           attr("pads", ints: [pads.top, pads.left, pads.bottom, pads.right]),
                                           attr("dilations", ints: a.dilation), attr("group", int: a.groups)])
        case .matmul:
            let (inputs, output) = foldingBias(of: n, into: x)
            add("Gemm", inputs, [output], [attr("transA", int: a.bool("transpose_a") ? 1 : 0), attr("transB", int: a.bool("transpose_b") ? 1 : 0)])
        case .biasAdd:
            let rank = types[x[0]]!.rank
            if rank == 2 {
                add("Add", x, [out])
            } else {
                let column = fresh(x[1] + "_as_column")
                add("Reshape", [x[1], int64s(out + "_bias_shape", [-1] + Array(repeating: 1, count: rank - 2))], [column])
                add("Add", [x[0], column], [out])
            }
        case .batchNorm:
            add("BatchNormalization", x, [out], [attr("epsilon", float: a.float("eps"))])

        case .maxPool, .avgPool:
            let d = types[x[0]]!.dims
            let pads = WindowPads(height: d[2].staticValue!, width: d[3].staticValue!, kernel: a.ints("window"), stride: a.ints("stride"),
                                  pad: a.symbol("pad"))
            var attrs = [attr("kernel_shape", ints: a.ints("window")), attr("strides", ints: a.ints("stride")),
                         attr("pads", ints: [pads.top, pads.left, pads.bottom, pads.right])]
            // nasc averages over the taps inside the image, as ONNX does by default.
            if n.op == .avgPool { attrs.append(attr("count_include_pad", int: 0)) }
            add(n.op == .maxPool ? "MaxPool" : "AveragePool", x, [out], attrs)
        case .globalAvgPool:
            let pooled = fresh(out + "_nchw")
            add("GlobalAveragePool", x, [pooled])
            add("Flatten", [pooled], [out], [attr("axis", int: 1)])

        case .concat: add("Concat", x, [out], [attr("axis", int: a.int("axis"))])
        case .flatten: add("Flatten", x, [out], [attr("axis", int: 1)])
        case .zeroPad:
            let p = a.ints("pads")
            add("Pad", [x[0], int64s(out + "_pads", [0, 0, p[0], p[2], 0, 0, p[1], p[3]])], [out], [attr("mode", string: "constant")])
        case .slice:
            let start = a.int("start")
            add("Slice", [x[0], int64s(out + "_starts", [start]), int64s(out + "_ends", [start + a.int("size")]),
                          int64s(out + "_axes", [a.int("axis")])], [out])
        case .reshape:
            let dims = n.type!.dims
            guard dims.filter({ $0.staticValue == nil }).count <= 1 else { throw ExportError.unsupported(n, by: "ONNX") }
            add("Reshape", [x[0], int64s(out + "_shape", dims.map { $0.staticValue ?? -1 })], [out])

        case .softmax: add("Softmax", x, [out], [attr("axis", int: 1)])

        // What an exported classifier never holds (ExportCoverage).
        case .crop, .dropout, .dropPath, .reduceSum, .channelSum, .batchMean, .batchVar, .embedding, .embeddingGrad,
             .softmaxGrad, .softmaxCrossEntropy, .softmaxCrossEntropyGrad, .weightedSoftmaxCrossEntropy, .weightedSoftmaxCrossEntropyGrad,
             .conv2dGradInput, .conv2dGradFilter, .batchNormGrad, .batchNormGradGamma, .maxPoolGrad, .avgPoolGrad, .globalAvgPoolGrad:
            throw ExportError.unsupported(n, by: "ONNX")
        }
    }

    /// A bias_add right after a convolution or matmul, its only user, goes
    /// into the Conv or Gemm as the bias operand, as deployed models have it.
    mutating func foldingBias(of n: Node, into inputs: [String]) -> (inputs: [String], output: String) {
        guard let uses = users[n.result], uses.count == 1, uses[0].op == .biasAdd, uses[0].operands[0] == n.result,
              let bias = graph.nodes.first(where: { $0.result == uses[0].operands[1] }), bias.op == .param || bias.op == .state
        else { return (inputs, n.result) }
        folded.insert(uses[0].result)
        return (inputs + [bias.result], uses[0].result)
    }

    /// A constant of static shape is an initializer; one with the batch
    /// dimension becomes a scalar when every user broadcasts it against a
    /// value of its own shape (what an elementwise op with a scalar does).
    mutating func writeConstant(_ n: Node) throws(ExportError) {
        let value = Float(n.attrs.float("value")), type = n.type!
        if !type.hasBatch {
            let shape = type.bound(batch: 1)
            addInitializer(n.result, shape: shape, floats: Array(repeating: value, count: shape.reduce(1, *)))
            return
        }
        let broadcastOnly = (users[n.result] ?? []).allSatisfy { user in
            user.op.elementwise?.shape == .broadcast && user.operands.contains { $0 != n.result && types[$0] == type }
        }
        guard broadcastOnly else { throw ExportError.unsupported(n, by: "ONNX") }
        addInitializer(n.result, shape: [], floats: [value])
    }

    // MARK: Protobuf pieces

    mutating func add(_ opType: String, _ inputs: [String], _ outputs: [String], _ attributes: [Onnx_AttributeProto] = []) {
        var node = Onnx_NodeProto()
        node.opType = opType
        node.name = fresh(outputs[0] + "_" + opType)
        node.input = inputs
        node.output = outputs
        node.attribute = attributes
        nodes.append(node)
    }

    mutating func fresh(_ base: String) -> String {
        var name = base, k = 1
        while taken.contains(name) { k += 1; name = "\(base)_\(k)" }
        taken.insert(name)
        return name
    }

    mutating func addInitializer(_ name: String, shape: [Int], floats: [Float]) {
        var t = Onnx_TensorProto()
        t.name = name
        t.dims = shape.map(Int64.init)
        t.dataType = Int32(Onnx_TensorProto.DataType.float.rawValue)
        t.rawData = floats.map(\.bitPattern.littleEndian).withUnsafeBytes { Data($0) }
        initializers.append(t)
    }

    /// A 1-D int64 initializer (shapes, pads, axes), under a fresh name.
    mutating func int64s(_ base: String, _ values: [Int]) -> String {
        var t = Onnx_TensorProto()
        t.name = fresh(base)
        t.dims = [Int64(values.count)]
        t.dataType = Int32(Onnx_TensorProto.DataType.int64.rawValue)
        t.int64Data = values.map(Int64.init)
        initializers.append(t)
        return t.name
    }

    func valueInfo(_ name: String, _ type: TensorType) -> Onnx_ValueInfoProto {
        var tensor = Onnx_TypeProto.Tensor()
        tensor.elemType = Int32(Onnx_TensorProto.DataType.float.rawValue)
        var shape = Onnx_TensorShapeProto()
        shape.dim = type.dims.map { d in
            var dim = Onnx_TensorShapeProto.Dimension()
            if let v = d.staticValue { dim.dimValue = Int64(v) } else { dim.dimParam = "N" }
            return dim
        }
        tensor.shape = shape
        var info = Onnx_ValueInfoProto()
        info.name = name
        info.type.tensorType = tensor
        return info
    }

    func attr(_ name: String, int: Int) -> Onnx_AttributeProto { attr(name, .int) { $0.i = Int64(int) } }
    func attr(_ name: String, ints: [Int]) -> Onnx_AttributeProto { attr(name, .ints) { $0.ints = ints.map(Int64.init) } }
    func attr(_ name: String, float: Double) -> Onnx_AttributeProto { attr(name, .float) { $0.f = Float(float) } }
    func attr(_ name: String, string: String) -> Onnx_AttributeProto { attr(name, .string) { $0.s = Data(string.utf8) } }

    func attr(_ name: String, _ type: Onnx_AttributeProto.AttributeType, _ value: (inout Onnx_AttributeProto) -> Void) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name
        a.type = type
        value(&a)
        return a
    }
}
