import NascIR

/// A word-level language model built from a recurrent cell, unrolled over
/// time into one ordinary graph.
///
/// Why unrolled and not a loop construct: every later stage (autodiff,
/// fusion, planning, the JIT, the C emitter) already handles plain graphs,
/// and the kernels of step 2 are the kernels of step 1 with other buffers,
/// so the kernel cache (keyed by kernel text) compiles each of them once.
/// Truncated backpropagation through time falls out of the graph's edges:
/// the state entering the first step is an input (not differentiated), the
/// state leaving the last step is an output that the trainer feeds back.
///
/// The cell is a graph with inputs `%x: f32[N,E]`, `%h: f32[N,H]` and
/// optionally `%c: f32[N,H]`, and outputs labelled `h` (and `c` with `%c`),
/// as `nasc sample --space rnn-cell` writes them. The model, as Zaremba et
/// al. (2014) build it:
///
///     tokens i32[B,T] -> embedding f32[V,E] -> layer 1 cell -> ... -> layer L cell
///       -> f32[B*T,H] x softmax weights f32[H,V] + bias -> cross-entropy against targets i32[B*T]
///
/// Each layer's cell parameters are shared by its T steps (`%l0.W` for the
/// cell's `%W`); step t's values are `%l0.t3.<name>`. Shapes are static
/// (B rows carry state from one batch to the next, so the batch is fixed).
/// The loss is the cross-entropy summed over the T steps and averaged over
/// the B rows, the quantity Zaremba et al. train with (and clip gradients
/// against); perplexity is exp(loss / T).
public enum LanguageModel {
    public struct Shape: Sendable, Equatable {
        public var vocabulary: Int
        public var batch: Int
        public var steps: Int
        public var layers: Int
        /// Bound of the uniform initialization of the embedding and softmax weights.
        public var initScale: Double
        /// Dropout on the connections that are not recurrent (each layer's
        /// input and the softmax's), as Zaremba et al. regularize; 0: none.
        public var dropout: Double

        public init(vocabulary: Int, batch: Int = 20, steps: Int = 35, layers: Int = 2, initScale: Double = 0.1, dropout: Double = 0) {
            self.vocabulary = vocabulary
            self.batch = batch
            self.steps = steps
            self.layers = layers
            self.initScale = initScale
            self.dropout = dropout
        }
    }

    /// What the cell looks like from outside.
    public struct CellInterface: Sendable, Equatable {
        public var inputSize: Int
        public var hidden: Int
        /// The cell has a memory `c` besides `h` (LSTM, NAS cells).
        public var hasMemory: Bool
    }

    /// Input names of the unrolled model, and its logits' (f32[B*T, vocabulary]).
    public static let tokens = "tokens", targets = "targets", logits = "logits"
    /// The input seeding the dropout masks (only with dropout): the trainer
    /// feeds a new one every step.
    public static let dropoutSeed = "dropout_seed"
    /// Names of the state entering layer `l` (inputs) and its output labels.
    public static func stateInput(_ kind: String, layer: Int) -> String { "\(kind)0.l\(layer)" }
    public static func stateOutput(_ kind: String, layer: Int) -> String { "\(kind).l\(layer)" }

    /// Checks that `cell` is a recurrent cell and returns its sizes.
    public static func interface(of cell: Graph) throws(PassError) -> CellInterface {
        func input(_ name: String) -> TensorType? { cell.inputs.first { $0.name == name }?.type }
        func rowType(_ t: TensorType?) -> Int? {
            guard let t, t.dtype == .f32, t.rank == 2, t.dims[0] == .batch, case .fixed(let n) = t.dims[1] else { return nil }
            return n
        }
        let expected = "a cell takes %x: f32[N,E], %h: f32[N,H] and optionally %c: f32[N,H], and returns h (and c)"
        guard let e = rowType(input("x")), let h = rowType(input("h")) else {
            throw PassError("@\(cell.name) is not a recurrent cell: \(expected); its inputs are \(cell.inputs.map { "%\($0.name): \($0.type)" }.joined(separator: ", "))")
        }
        let hasMemory = input("c") != nil
        guard cell.inputs.count == (hasMemory ? 3 : 2) else {
            throw PassError("@\(cell.name) is not a recurrent cell: \(expected); it has other inputs too")
        }
        let hType = TensorType(.f32, [.batch, .fixed(h)])
        if hasMemory, input("c") != hType { throw PassError("@\(cell.name): %c must be \(hType) like %h, got \(input("c")!)") }
        for label in hasMemory ? ["h", "c"] : ["h"] {
            guard let out = cell.outputs.first(where: { $0.label == label }) else {
                throw PassError("@\(cell.name) is not a recurrent cell: it has no output labelled '\(label)' (\(expected))")
            }
            guard out.type == hType else { throw PassError("@\(cell.name): output '\(label)' must be \(hType), got \(out.type)") }
        }
        if let stray = cell.nodes.first(where: { $0.op == .state }) {
            throw PassError("@\(cell.name): a cell cannot hold state nodes (%\(stray.result)): its only state is h and c, carried by the model")
        }
        if let bn = cell.nodes.first(where: { $0.op == .batchNorm }) {
            throw PassError("@\(cell.name): batch_norm (%\(bn.result)) has no meaning across time steps of a cell")
        }
        return CellInterface(inputSize: e, hidden: h, hasMemory: hasMemory)
    }

    /// The unrolled model of `cell` (a verified graph).
    public static func unroll(_ cell: Graph, _ shape: Shape) throws(PassError) -> Graph {
        let io = try interface(of: cell)
        guard shape.layers == 1 || io.inputSize == io.hidden else {
            throw PassError("@\(cell.name) takes x of \(io.inputSize) features but returns h of \(io.hidden): with several layers, each layer's h is the next one's x, so they must be equal")
        }
        guard shape.vocabulary >= 2, shape.batch >= 1, shape.steps >= 1, shape.layers >= 1 else {
            throw PassError("a language model needs a vocabulary of at least 2 words and at least one row, step and layer")
        }
        guard shape.dropout >= 0, shape.dropout < 1 else { throw PassError("dropout must be at least 0 and below 1, got \(shape.dropout)") }
        let (b, t, v) = (shape.batch, shape.steps, shape.vocabulary)
        let (e, h) = (io.inputSize, io.hidden)
        let fixed = { (dims: [Int]) in dims.map { Dim.fixed($0) } }

        var graph = Graph(name: "lm_" + cell.name)
        graph.inputs = [GraphInput(name: tokens, type: TensorType(.i32, fixed([b, t]))),
                        GraphInput(name: targets, type: TensorType(.i32, fixed([b * t])))]
        if shape.dropout > 0 { graph.inputs.append(GraphInput(name: dropoutSeed, type: TensorType(.i32, []))) }
        let kinds = io.hasMemory ? ["h", "c"] : ["h"]
        for l in 0..<shape.layers {
            for k in kinds { graph.inputs.append(GraphInput(name: stateInput(k, layer: l), type: TensorType(.f32, fixed([b, h])))) }
        }
        func node(_ result: String, _ op: Op, _ operands: [String], _ attrs: [String: AttrValue] = [:], _ type: [Int]? = nil) {
            var complete = Attributes()
            for spec in op.signature.attributes {
                if let value = attrs[spec.name] ?? spec.defaultValue { complete[spec.name] = value }
            }
            graph.nodes.append(Node(result: result, op: op, operands: operands, attrs: complete,
                                    type: type.map { TensorType(.f32, fixed($0)) }))
        }
        let uniform: [String: AttrValue] = ["init": .symbol("uniform"), "scale": .float(shape.initScale)]

        node("embedding", .param, [], uniform, [v, e])
        node("embedded", .embedding, ["embedding", tokens])
        var inputs: [String] = []
        // Step t's values of a layer as one tensor f32[B,T,size], row b*T + t.
        func stack(_ values: [String], size: Int, name: String) -> String {
            let rows = values.enumerated().map { s, value -> String in
                node("\(name).t\(s)", .reshape, [value], [:], [b, 1, size])
                return "\(name).t\(s)"
            }
            node(name, rows.count == 1 ? .identity : .concat, rows, rows.count == 1 ? [:] : ["axis": .int(1)])
            return name
        }
        let order = cell.topologicalOrder()
        let xUses = cell.nodes.filter { $0.operands.contains("x") }
        // Products of x with a weight do not depend on the recurrence: each
        // becomes one matrix product over all steps (rows of B*T), sliced per
        // step, instead of T small ones. Autodiff then gives its weight one
        // gradient product too.
        let hoisted = Set(xUses.filter { n in
            n.op == .matmul && n.operands[0] == "x" && n.operands[1] != "x" && !n.attrs.bool("transpose_a") && !n.attrs.bool("transpose_b")
                && cell.nodes.contains { $0.result == n.operands[1] && $0.op == .param }
        }.map(\.result))
        let perStepX = xUses.contains { !hoisted.contains($0.result) }
        // Dropout of a whole [B,T,size] tensor, one mask stream per site.
        func dropped(_ value: String, stream: Int) -> String {
            guard shape.dropout > 0 else { return value }
            node(value + ".dropped", .dropout, [value, dropoutSeed], ["rate": .float(shape.dropout), "stream": .int(stream)])
            return value + ".dropped"
        }
        for l in 0..<shape.layers {
            // The layer's parameters, once.
            for i in order where cell.nodes[i].op == .param {
                let p = cell.nodes[i]
                graph.nodes.append(Node(result: "l\(l).\(p.result)", op: .param, attrs: p.attrs, type: p.type))
            }
            // The layer's input as one tensor [B,T,E], where something reads
            // it whole (the first layer's embedding, dropout, a hoisted
            // product), and as step t's x where the cell reads x itself.
            var stacked: String? = l == 0 ? "embedded" : nil
            if l > 0 && (!hoisted.isEmpty || shape.dropout > 0) { stacked = stack(inputs, size: e, name: "l\(l).inputs") }
            if let whole = stacked {
                stacked = dropped(whole, stream: l)
                if perStepX {
                    inputs = (0..<t).map { s in
                        node("l\(l).x.t\(s).row", .slice, [stacked!], ["axis": .int(1), "start": .int(s), "size": .int(1)])
                        node("l\(l).x.t\(s)", .reshape, ["l\(l).x.t\(s).row"], [:], [b, e])
                        return "l\(l).x.t\(s)"
                    }
                }
            }
            if let stacked, !hoisted.isEmpty {
                node("l\(l).input_rows", .reshape, [stacked], [:], [b * t, e])
                for i in order where hoisted.contains(cell.nodes[i].result) {
                    let m = cell.nodes[i], size = m.type!.dims[1].staticValue!
                    node("l\(l).\(m.result).all", .matmul, ["l\(l).input_rows", "l\(l).\(m.operands[1])"])
                    node("l\(l).\(m.result).steps", .reshape, ["l\(l).\(m.result).all"], [:], [b, t, size])
                    for s in 0..<t {
                        node("l\(l).t\(s).\(m.result).row", .slice, ["l\(l).\(m.result).steps"], ["axis": .int(1), "start": .int(s), "size": .int(1)])
                        node("l\(l).t\(s).\(m.result)", .reshape, ["l\(l).t\(s).\(m.result).row"], [:], [b, size])
                    }
                }
            }
            var state = Dictionary(uniqueKeysWithValues: kinds.map { ($0, stateInput($0, layer: l)) })
            var outputs: [String] = []
            for s in 0..<t {
                var name = perStepX ? ["x": inputs[s]] : [:]
                for k in kinds { name[k] = state[k]! }
                for i in order {
                    let n = cell.nodes[i]
                    if n.op == .param { name[n.result] = "l\(l).\(n.result)"; continue }
                    let result = "l\(l).t\(s).\(n.result)"
                    name[n.result] = result
                    if hoisted.contains(n.result) { continue }
                    var copy = Node(result: result, op: n.op, operands: n.operands.map { name[$0]! }, attrs: n.attrs,
                                    type: n.type.map { TensorType($0.dtype, $0.bound(batch: b).map { Dim.fixed($0) }) })
                    copy.kernel = nil
                    graph.nodes.append(copy)
                }
                for k in kinds { state[k] = name[cell.outputs.first { $0.label == k }!.value]! }
                outputs.append(state["h"]!)
            }
            for k in kinds {
                graph.outputs.append(GraphOutput(label: stateOutput(k, layer: l), type: TensorType(.f32, fixed([b, h])), value: state[k]!))
            }
            inputs = outputs
        }
        // The top layer's h at every step, as rows b*T + t (the order of `targets`).
        let top = dropped(stack(inputs, size: h, name: "outputs"), stream: shape.layers)
        node("hidden", .reshape, [top], [:], [b * t, h])
        node("softmax_w", .param, [], uniform, [h, v])
        node("softmax_b", .param, [], ["init": .symbol("zeros")], [v])
        node("scores", .matmul, ["hidden", "softmax_w"])
        node(logits, .biasAdd, ["scores", "softmax_b"])
        node("xent", .softmaxCrossEntropy, [logits, targets])
        node("steps", .const, [], ["value": .float(Double(t))], [])
        node("loss", .mul, ["xent", "steps"])
        graph.outputs.insert(GraphOutput(label: "loss", type: TensorType(.f32, []), value: "loss"), at: 0)
        do {
            return try Verifier.verify(graph)
        } catch {
            throw PassError("internal: unrolling @\(cell.name) gave an invalid graph: \(error.diagnostics.map(\.message).joined(separator: "; "))")
        }
    }
}
