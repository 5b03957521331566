import Foundation
import NascIR
import NascPasses

/// A trained architecture as a readable `torch.nn.Module`, for retraining a
/// winner at scale: each convolution, dense layer and batch norm whose
/// weights only it uses becomes an `nn.Conv2d`, `nn.Linear` or
/// `nn.BatchNorm2d` (a bias_add right after a layer becomes its bias), the
/// rest are `nn.Parameter`s and buffers, and `forward` reads like the IR,
/// one line per node. Weights, when given, go to a safetensors file whose
/// keys are the module's state_dict keys.
public enum PyTorchExport {
    public struct Exported: Sendable {
        public var source: String
        public var className: String
        /// The safetensors file, when weights were given.
        public var weights: Data?
        public var modules: Int
        public var parameters: Int
    }

    public static func export(_ forward: Graph, weights: [String: Tensor]?, file: String) throws(ExportError) -> Exported {
        let deployable = try ExportError.wrap { () throws(PassError) in
            try DeployableGraph.prepare(forward, weights: weights, for: "PyTorch export", simplify: false)
        }
        var writer = PyTorchWriter(deployable)
        try writer.write()
        let className = PythonNames.className(forward.name)
        let source = writer.module(className: className, graphName: forward.name, file: file, hash: StructuralHash.hash(forward))
        var data: Data?
        if weights != nil {
            var file = SafeTensors()
            file.metadata = ["nasc_graph": forward.name, "nasc_structural_hash": StructuralHash.hash(forward)]
            for entry in writer.state { file.add(entry.key, shape: entry.shape, entry.values(deployable.weights)) }
            do { data = try file.serialized() } catch { throw ExportError("could not write the weights: \(error)") }
        }
        return Exported(source: source, className: className, weights: data, modules: writer.modules,
                        parameters: GraphStatistics(deployable.graph).parameterElements)
    }
}

/// Python identifiers for IR names (which may hold dots or be keywords).
enum PythonNames {
    static let reserved: Set<String> = [
        "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue", "def", "del", "elif",
        "else", "except", "finally", "for", "from", "global", "if", "import", "in", "is", "lambda", "nonlocal", "not", "or",
        "pass", "raise", "return", "try", "while", "with", "yield", "self", "torch", "nn", "F", "json", "super", "print",
        "load_nasc_weights", "avg_pool_inside",
        // Builtins a local would shadow.
        "id", "sum", "min", "max", "abs", "round", "input", "type", "len", "list", "tuple", "range", "float", "int", "object",
    ]

    static func identifier(_ name: String) -> String {
        var s = String(name.map { $0.isLetter || $0.isNumber || $0 == "_" ? $0 : "_" })
        if s.first?.isNumber ?? true { s = "v_" + s }
        return reserved.contains(s) ? s + "_" : s
    }

    static func className(_ name: String) -> String {
        let words = name.split(whereSeparator: { !$0.isLetter && !$0.isNumber })
        let joined = words.map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined()
        return joined.first?.isLetter == true ? joined : "Net" + joined
    }

    static func float(_ v: Double) -> String {
        v.isFinite ? "\(v)" : (v.isNaN ? "float(\"nan\")" : (v > 0 ? "float(\"inf\")" : "float(\"-inf\")"))
    }

    static func tuple(_ v: [Int]) -> String { v.count == 1 ? "(\(v[0]),)" : "(\(v.map(String.init).joined(separator: ", ")))" }
}

/// One state_dict entry and where its values come from in the checkpoint.
struct StateEntry {
    var key: String
    var shape: [Int]
    /// The IR tensor, or nil for BatchNorm's step counter.
    var source: String?
    /// nn.Linear keeps its weight as [out, in]; nasc's matmul operand is [in, out].
    var transposed = false

    func values(_ weights: [String: Tensor]) -> SafeTensors.Values {
        guard let source, let t = weights[source] else { return .i64([0]) }
        guard transposed else { return .f32(t.data.map(Float.init)) }
        let (rows, cols) = (t.shape[0], t.shape[1])
        return .f32((0..<(rows * cols)).map { i in Float(t.data[(i % rows) * cols + i / rows]) })
    }
}

struct PyTorchWriter {
    let deployable: DeployableGraph
    var graph: Graph { deployable.graph }
    var byName: [String: Node] = [:]
    var users: [String: [Node]] = [:]
    var names: [String: String] = [:]
    /// Sources a module owns, and bias_add nodes a module's bias absorbed.
    var owned: Set<String> = []
    var folded: Set<String> = []
    var members: [String] = []
    var initializers: [String] = []
    var body: [String] = []
    var state: [StateEntry] = []
    var modules = 0
    var usesAvgPoolInside = false

    init(_ deployable: DeployableGraph) {
        self.deployable = deployable
        var taken: Set<String> = []
        func name(_ v: String) -> String {
            var s = PythonNames.identifier(v), k = 1
            while taken.contains(s) { k += 1; s = PythonNames.identifier(v) + "_\(k)" }
            taken.insert(s)
            return s
        }
        for i in deployable.graph.inputs { names[i.name] = name(i.name) }
        for n in deployable.graph.nodes {
            byName[n.result] = n
            names[n.result] = name(n.result)
        }
        users = deployable.users
    }

    var input: String { names[deployable.input.name]! }

    func type(_ v: String) -> TensorType { byName[v]?.type ?? deployable.input.type }

    /// A source only this node reads, at operand `i`.
    func ownSource(_ n: Node, _ i: Int, _ ops: Set<Op> = [.param]) -> String? {
        let v = n.operands[i]
        guard let s = byName[v], ops.contains(s.op), users[v]?.count == 1 else { return nil }
        return v
    }

    mutating func write() throws(ExportError) {
        for n in graph.nodes where !folded.contains(n.result) { try write(n) }
        body.append("return \(expr(deployable.output.value))")
        for n in graph.nodes where (n.op == .param || n.op == .state) && !owned.contains(n.result) {
            let id = names[n.result]!, shape = n.type!.bound(batch: 1)
            if n.op == .param {
                members.append("self.\(id) = nn.Parameter(torch.empty(\(PythonNames.tuple(shape))))")
            } else {
                members.append("self.register_buffer(\"\(id)\", torch.empty(\(PythonNames.tuple(shape))))")
            }
            initialize("self.\(id)", n)
            state.append(StateEntry(key: id, shape: shape, source: n.result))
        }
    }

    /// The Python expression for a value: a module's member or a local.
    func expr(_ v: String) -> String {
        if let s = byName[v], s.op == .param || s.op == .state { return "self.\(names[v]!)" }
        return names[v]!
    }

    mutating func write(_ n: Node) throws(ExportError) {
        let out = names[n.result]!, a = n.attrs
        let x = n.operands.map { expr($0) }
        func assign(_ e: String) { body.append("\(out) = \(e)") }
        let op: AnchorOp
        switch n.op.kind {
        case .elementwise:
            switch n.op.elementwiseOp! {
            case .identity: assign(x[0])
            case .relu: assign("F.relu(\(x[0]))")
            case .tanh: assign("torch.tanh(\(x[0]))")
            case .sigmoid: assign("torch.sigmoid(\(x[0]))")
            case .neg: assign("-\(x[0])")
            case .sqrt: assign("torch.sqrt(\(x[0]))")
            case .leakyRelu: assign("F.leaky_relu(\(x[0]), \(PythonNames.float(a.float("slope"))))")
            case .silu: assign("F.silu(\(x[0]))")
            case .add: assign("\(x[0]) + \(x[1])")
            case .sub: assign("\(x[0]) - \(x[1])")
            case .mul: assign("\(x[0]) * \(x[1])")
            case .div: assign("\(x[0]) / \(x[1])")
            // Gradient ops: a forward pass computes none (ExportCoverage).
            case .reluGrad, .tanhGrad, .sigmoidGrad, .leakyReluGrad, .siluGrad: throw ExportError.unsupported(n, by: "PyTorch")
            }
            return
        case .anchor(let a): op = a
        }
        switch op {
        case .param, .state: return
        case .const:
            let shape = n.type!.dims.map { $0.staticValue.map(String.init) ?? "\(input).shape[0]" }
            assign("torch.full(\(shape.count == 1 ? "(\(shape[0]),)" : "(\(shape.joined(separator: ", ")))"), \(PythonNames.float(a.float("value"))), device=\(input).device)")

        case .conv2d: writeConv(n, x)
        case .matmul: writeMatmul(n, x)
        case .batchNorm: writeBatchNorm(n, x)
        case .biasAdd:
            let rank = type(n.operands[0]).rank
            assign(rank == 2 ? "\(x[0]) + \(x[1])" : "\(x[0]) + \(x[1]).view(1, -1\(String(repeating: ", 1", count: rank - 2)))")

        case .maxPool, .avgPool:
            let d = type(n.operands[0]).dims
            let (k, s) = (a.ints("window"), a.ints("stride"))
            let p = WindowPads(height: d[2].staticValue!, width: d[3].staticValue!, kernel: k, stride: s, pad: a.symbol("pad"))
            let (kt, st) = (PythonNames.tuple(k), PythonNames.tuple(s))
            if n.op == .maxPool {
                assign(p.symmetric ? "F.max_pool2d(\(x[0]), \(kt), \(st), \(PythonNames.tuple([p.top, p.left])))"
                                   : "F.max_pool2d(F.pad(\(x[0]), (\(p.left), \(p.right), \(p.top), \(p.bottom)), value=float(\"-inf\")), \(kt), \(st))")
            } else if p.symmetric {
                // nasc averages over the taps inside the image.
                assign("F.avg_pool2d(\(x[0]), \(kt), \(st), \(PythonNames.tuple([p.top, p.left])), count_include_pad=False)")
            } else {
                usesAvgPoolInside = true
                assign("avg_pool_inside(\(x[0]), \(kt), \(st), (\(p.left), \(p.right), \(p.top), \(p.bottom)))")
            }
        case .globalAvgPool: assign("\(x[0]).mean((2, 3))")

        case .concat: assign("torch.cat([\(x.joined(separator: ", "))], \(a.int("axis")))")
        case .flatten: assign("torch.flatten(\(x[0]), 1)")
        case .zeroPad:
            let p = a.ints("pads")
            assign("F.pad(\(x[0]), (\(p[2]), \(p[3]), \(p[0]), \(p[1])))")
        case .slice: assign("\(x[0]).narrow(\(a.int("axis")), \(a.int("start")), \(a.int("size")))")
        case .reshape:
            let dims = n.type!.dims
            guard dims.filter({ $0.staticValue == nil }).count <= 1 else { throw ExportError.unsupported(n, by: "PyTorch") }
            assign("\(x[0]).reshape(\(dims.map { $0.staticValue.map(String.init) ?? "-1" }.joined(separator: ", ")))")

        case .softmax: assign("F.softmax(\(x[0]), 1)")
        // What an exported classifier never holds (ExportCoverage).
        case .crop, .dropout, .dropPath, .reduceSum, .channelSum, .batchMean, .batchVar, .embedding, .embeddingGrad,
             .softmaxGrad, .softmaxCrossEntropy, .softmaxCrossEntropyGrad, .weightedSoftmaxCrossEntropy, .weightedSoftmaxCrossEntropyGrad,
             .conv2dGradInput, .conv2dGradFilter, .batchNormGrad, .batchNormGradGamma, .maxPoolGrad, .avgPoolGrad, .globalAvgPoolGrad:
            throw ExportError.unsupported(n, by: "PyTorch")
        }
    }

    /// The bias_add after `n` whose bias a layer module takes as its own;
    /// the module is then named after the bias_add's result.
    mutating func foldedBias(after n: Node) -> (bias: String, result: String)? {
        guard let uses = users[n.result], uses.count == 1, uses[0].op == .biasAdd, uses[0].operands[0] == n.result,
              let bias = ownSource(uses[0], 1) else { return nil }
        folded.insert(uses[0].result)
        owned.insert(bias)
        return (bias, uses[0].result)
    }

    mutating func writeConv(_ n: Node, _ x: [String]) {
        let a = n.attrs, stride = a.ints("stride"), dilation = a.dilation, groups = a.groups
        let d = type(n.operands[0]).dims, w = byName[n.operands[1]]?.type?.bound(batch: 1) ?? type(n.operands[1]).bound(batch: 1)
        let p = WindowPads(height: d[2].staticValue!, width: d[3].staticValue!, kernel: [w[2], w[3]], stride: stride, pad: a.symbol("pad"),
                           dilation: dilation)
        let input = p.symmetric ? x[0] : "F.pad(\(x[0]), (\(p.left), \(p.right), \(p.top), \(p.bottom)))"
        let padding = p.symmetric ? PythonNames.tuple([p.top, p.left]) : "0"
        // Dilation and groups only where the IR has them: the code of other convolutions reads as before.
        let grouping = (dilation == [1, 1] ? "" : ", dilation=\(PythonNames.tuple(dilation))") + (groups == 1 ? "" : ", groups=\(groups)")
        guard let weight = ownSource(n, 1) else {
            let extra = grouping.isEmpty ? "" : ", \(PythonNames.tuple(dilation)), \(groups)"
            body.append("\(names[n.result]!) = F.conv2d(\(input), \(x[1]), None, \(PythonNames.tuple(stride)), \(padding)\(extra))")
            return
        }
        let bias = foldedBias(after: n)
        let module = addModule(named: bias?.result ?? n.result)
        owned.insert(weight)
        members.append("self.\(module) = nn.Conv2d(\(w[1] * groups), \(w[0]), \(PythonNames.tuple([w[2], w[3]])), stride=\(PythonNames.tuple(stride)), padding=\(padding)\(grouping), bias=\(bias != nil ? "True" : "False"))")
        adopt(weight, as: "\(module).weight")
        if let bias { adopt(bias.bias, as: "\(module).bias") }
        body.append("\(module) = self.\(module)(\(input))")
    }

    mutating func writeMatmul(_ n: Node, _ x: [String]) {
        let a = n.attrs
        guard !a.bool("transpose_a"), let weight = ownSource(n, 1) else {
            let lhs = a.bool("transpose_a") ? "\(x[0]).t()" : x[0], rhs = a.bool("transpose_b") ? "\(x[1]).t()" : x[1]
            body.append("\(names[n.result]!) = torch.matmul(\(lhs), \(rhs))")
            return
        }
        let shape = byName[weight]!.type!.bound(batch: 1)
        let transposed = !a.bool("transpose_b")
        let (inputs, outputs) = transposed ? (shape[0], shape[1]) : (shape[1], shape[0])
        let bias = foldedBias(after: n)
        let module = addModule(named: bias?.result ?? n.result)
        owned.insert(weight)
        members.append("self.\(module) = nn.Linear(\(inputs), \(outputs), bias=\(bias != nil ? "True" : "False"))")
        adopt(weight, as: "\(module).weight", transposed: transposed)
        if let bias { adopt(bias.bias, as: "\(module).bias") }
        body.append("\(module) = self.\(module)(\(x[0]))")
    }

    mutating func writeBatchNorm(_ n: Node, _ x: [String]) {
        let a = n.attrs, out = names[n.result]!
        let own = [ownSource(n, 1), ownSource(n, 2), ownSource(n, 3, [.state]), ownSource(n, 4, [.state])]
        let (eps, momentum) = (PythonNames.float(a.float("eps")), PythonNames.float(a.float("momentum")))
        guard own.allSatisfy({ $0 != nil }) else {
            body.append("\(out) = F.batch_norm(\(x[0]), \(x[3]), \(x[4]), \(x[1]), \(x[2]), self.training, \(momentum), \(eps))")
            return
        }
        modules += 1
        let channels = type(n.operands[0]).dims[1].staticValue!
        members.append("self.\(out) = nn.BatchNorm\(type(n.operands[0]).rank == 4 ? "2d" : "1d")(\(channels), eps=\(eps), momentum=\(momentum))")
        for (k, key) in ["weight", "bias", "running_mean", "running_var"].enumerated() {
            owned.insert(n.operands[k + 1])
            adopt(n.operands[k + 1], as: "\(out).\(key)", torchDefault: k == 0 || k == 3 ? "ones" : "zeros")
        }
        state.append(StateEntry(key: "\(out).num_batches_tracked", shape: [], source: nil))
        body.append("\(out) = self.\(out)(\(x[0]))")
    }

    /// A module takes the name of the value it produces.
    mutating func addModule(named value: String) -> String {
        modules += 1
        return names[value]!
    }

    /// A checkpoint tensor becomes a module's tensor, initialized as the IR says.
    mutating func adopt(_ source: String, as key: String, transposed: Bool = false, torchDefault: String? = nil) {
        let n = byName[source]!
        var shape = n.type!.bound(batch: 1)
        if transposed { shape.reverse() }
        state.append(StateEntry(key: key, shape: shape, source: source, transposed: transposed))
        if n.attrs.symbol("init") != torchDefault { initialize("self.\(key)", n) }
    }

    /// The IR's initializer as torch.nn.init calls (the same distributions:
    /// He for ReLU networks, Glorot, constants).
    mutating func initialize(_ target: String, _ n: Node) {
        let a = n.attrs
        let scale = a["scale"]?.floatValue.map(PythonNames.float) ?? "1.0"
        let call: String
        switch a.symbol("init") {
        case "zeros": call = "nn.init.zeros_(\(target))"
        case "ones": call = "nn.init.ones_(\(target))"
        case "constant": call = "nn.init.constant_(\(target), \(PythonNames.float(a["value"]?.floatValue ?? 0)))"
        case "uniform": call = "nn.init.uniform_(\(target), -\(scale), \(scale))"
        case "normal": call = "nn.init.normal_(\(target), 0.0, \(scale))"
        case "he_normal": call = "nn.init.kaiming_normal_(\(target), nonlinearity=\"relu\")"
        case "he_uniform": call = "nn.init.kaiming_uniform_(\(target), nonlinearity=\"relu\")"
        case "glorot_normal": call = "nn.init.xavier_normal_(\(target))"
        default: call = "nn.init.xavier_uniform_(\(target))"
        }
        initializers.append(call)
    }

    func module(className: String, graphName: String, file: String, hash: String) -> String {
        let indent = { (lines: [String], depth: Int) in lines.map { String(repeating: "    ", count: depth) + $0 }.joined(separator: "\n") }
        var s = """
            # @\(graphName) from \(file), written by nasc export-pytorch (structural hash \(hash)).
            #
            # A torch.nn.Module with the architecture nasc trained; forward() takes
            # images f32[N,\(deployable.input.type.dims.dropFirst().map(\.description).joined(separator: ","))] and returns the logits. nasc trained it with softmax
            # cross-entropy (torch.nn.CrossEntropyLoss). To start from nasc's weights:
            #
            #     model = \(className)()
            #     load_nasc_weights(model, "\(graphName).safetensors")
            import json

            import torch
            import torch.nn as nn
            import torch.nn.functional as F



            """
        if usesAvgPoolInside {
            s += """
                def avg_pool_inside(x, kernel, stride, pads):
                    \"\"\"Average over the window taps inside the image (uneven 'same' padding).\"\"\"
                    ones = torch.ones_like(x[:1, :1])
                    total = F.avg_pool2d(F.pad(x, pads), kernel, stride, divisor_override=1)
                    return total / F.avg_pool2d(F.pad(ones, pads), kernel, stride, divisor_override=1)



                """
        }
        s += """
            class \(className)(nn.Module):
                def __init__(self):
                    super().__init__()
            \(indent(members, 2))
            \(indent(initializers, 2))

                def forward(self, \(input)):
            \(indent(body, 2))


            def load_nasc_weights(model, path):
                \"\"\"Loads the safetensors file that nasc export-pytorch --weights wrote.\"\"\"
                with open(path, "rb") as f:
                    data = f.read()
                size = int.from_bytes(data[:8], "little")
                header = json.loads(data[8:8 + size])
                dtypes = {"F32": torch.float32, "I64": torch.int64}
                state = {}
                for key, entry in header.items():
                    if key == "__metadata__":
                        continue
                    start, end = (8 + size + offset for offset in entry["data_offsets"])
                    tensor = torch.frombuffer(bytearray(data[start:end]), dtype=dtypes[entry["dtype"]])
                    state[key] = tensor.reshape(entry["shape"])
                model.load_state_dict(state)
                return model


            if __name__ == "__main__":
                model = \(className)()
                images = torch.rand(2, \(deployable.input.type.dims.dropFirst().map(\.description).joined(separator: ", ")))
                print(f"\(className): {sum(p.numel() for p in model.parameters()):,} parameters, logits {tuple(model(images).shape)}")

            """
        return s
    }
}
