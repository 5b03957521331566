import NascIR

/// Why a pass could not transform a graph: the input is outside what the pass
/// supports (said plainly), or an internal inconsistency (a bug, reported
/// rather than crashing).
public struct PassError: Error, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Appends nodes to a verified graph, giving each a fresh name, the op's
/// default attributes in canonical order, and its inferred type, so a pass's
/// output is already complete (and the verifier re-checks it anyway).
public struct GraphBuilder {
    public private(set) var graph: Graph
    /// Output labels added that the graph already had (see `finish`).
    private var clashingOutputs: [String] = []
    private var used: Set<String>
    private var types: [String: TensorType]
    private var scalarConsts: [Double: String] = [:]

    public init(_ graph: Graph) {
        self.graph = graph
        used = Set(graph.inputs.map(\.name) + graph.nodes.map(\.result))
        types = graph.valueTypes
    }

    public func type(of value: String) -> TensorType { types[value]! }

    /// `base` itself if no value has that name yet, else `base.1`, `base.2`, ...
    public mutating func fresh(_ base: String) -> String {
        var name = base, k = 0
        while used.contains(name) {
            k += 1
            name = "\(base).\(k)"
        }
        used.insert(name)
        return name
    }

    /// Adds `%name = op operands {attrs}` and returns its (fresh) name.
    /// `type` is needed only for ops whose type is their definition.
    @discardableResult
    public mutating func add(_ op: Op, _ operands: [String], _ attrs: [String: AttrValue] = [:],
                             name: String, type: TensorType? = nil) throws(PassError) -> String {
        var complete = Attributes()
        for spec in op.signature.attributes {
            if let v = attrs[spec.name] ?? spec.defaultValue { complete[spec.name] = v }
        }
        let inferred: TensorType
        do {
            inferred = try ShapeInference.infer(op, operands.map { types[$0]! }, complete, declared: type)
        } catch {
            throw PassError("internal: cannot build '\(op.name)' on \(operands.map { "%" + $0 + ": " + types[$0]!.description }.joined(separator: ", ")): \(error.message)")
        }
        let result = fresh(name)
        graph.nodes.append(Node(result: result, op: op, operands: operands, attrs: complete, type: inferred))
        types[result] = inferred
        return result
    }

    /// A scalar `f32[]` constant, shared by every use of the same value.
    public mutating func scalar(_ value: Double) throws(PassError) -> String {
        if let name = scalarConsts[value] { return name }
        let name = try add(.const, [], ["value": .float(value)], name: "c", type: TensorType(.f32, []))
        scalarConsts[value] = name
        return name
    }

    public mutating func addInput(_ base: String, _ type: TensorType) -> String {
        let name = fresh(base)
        graph.inputs.append(GraphInput(name: name, type: type))
        types[name] = type
        return name
    }

    public mutating func addOutput(_ label: String, _ value: String) {
        if graph.outputs.contains(where: { $0.label == label }) { clashingOutputs.append(label) }
        graph.outputs.append(GraphOutput(label: label, type: types[value]!, value: value))
    }

    /// Drops nodes a pass added and then made obsolete (nothing reads them).
    public mutating func removeNodes(_ results: Set<String>) {
        graph.nodes.removeAll { results.contains($0.result) }
    }

    public mutating func removeOutputs(where predicate: (GraphOutput) -> Bool) {
        graph.outputs.removeAll(where: predicate)
    }

    /// The finished graph, re-verified: a pass that produced an ill-typed
    /// graph reports it as an internal error instead of passing it on.
    public func finish(pass: String) throws(PassError) -> Graph {
        if !clashingOutputs.isEmpty {
            // The user's graph, not the pass, is at fault: it already has
            // outputs named the way this pass names the ones it adds.
            let names = (clashingOutputs.count == 1 ? "output " : "outputs ") + clashingOutputs.map { "'\($0)'" }.joined(separator: ", ")
            throw PassError("\(pass) adds \(names), which @\(graph.name) already has: grad.<param> and next.<name> outputs are written by the passes. "
                + "If the graph is already a training step, compile or run it as written (--after verify); otherwise rename the output")
        }
        do {
            return try Verifier.verify(graph)
        } catch {
            throw PassError("internal: \(pass) produced an invalid graph: \(error.diagnostics.map(\.message).joined(separator: "; "))")
        }
    }
}
