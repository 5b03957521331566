/// A position in IR text, 1-based. `line == 0` means "not from a file"
/// (a graph built in memory).
public struct SourceLoc: Hashable, Sendable, Comparable {
    public var line: Int
    public var col: Int

    public init(line: Int, col: Int) {
        self.line = line
        self.col = col
    }

    public static let none = SourceLoc(line: 0, col: 0)

    public static func < (a: SourceLoc, b: SourceLoc) -> Bool {
        (a.line, a.col) < (b.line, b.col)
    }
}

/// A graph input: `%x: f32[N,1,28,28]`.
public struct GraphInput: Sendable, Equatable {
    public var name: String
    public var type: TensorType
    public var loc: SourceLoc = .none

    public init(name: String, type: TensorType, loc: SourceLoc = .none) {
        self.name = name
        self.type = type
        self.loc = loc
    }

    /// Equal in meaning: source positions do not count.
    public static func == (a: GraphInput, b: GraphInput) -> Bool { a.name == b.name && a.type == b.type }
}

/// A named graph output: `loss: f32[]` in the signature, bound by `return`.
public struct GraphOutput: Sendable, Equatable {
    public var label: String
    public var type: TensorType
    /// The value returned for this output.
    public var value: String
    public var loc: SourceLoc = .none
    public var valueLoc: SourceLoc = .none

    public init(label: String, type: TensorType, value: String) {
        self.label = label
        self.type = type
        self.value = value
    }

    /// Equal in meaning: source positions do not count.
    public static func == (a: GraphOutput, b: GraphOutput) -> Bool {
        a.label == b.label && a.type == b.type && a.value == b.value
    }
}

/// One op application defining one value: `%c = conv2d %x, %w {...} : f32[...]`.
public struct Node: Sendable, Equatable {
    public var result: String
    public var op: Op
    public var operands: [String]
    public var attrs: Attributes
    /// The result type: written in the text, or filled in by the verifier.
    public var type: TensorType?
    /// The fused kernel this node belongs to (`kernel @k3 { ... }` in the
    /// text), set by the fusion pass; nil outside any kernel.
    public var kernel: String?

    // Where each part came from, for precise error carets.
    public var loc: SourceLoc = .none
    public var opLoc: SourceLoc = .none
    public var operandLocs: [SourceLoc] = []
    public var attrLocs: [String: SourceLoc] = [:]
    public var typeLoc: SourceLoc = .none
    public var kernelLoc: SourceLoc = .none

    public init(result: String, op: Op, operands: [String] = [], attrs: Attributes = Attributes(),
                type: TensorType? = nil) {
        self.result = result
        self.op = op
        self.operands = operands
        self.attrs = attrs
        self.type = type
    }

    public static func == (a: Node, b: Node) -> Bool {
        a.result == b.result && a.op == b.op && a.operands == b.operands
            && a.attrs == b.attrs && a.type == b.type && a.kernel == b.kernel
    }
}

/// A dataflow graph of tensor values in SSA form: every value is defined once,
/// by a graph input or by one node. Textual order is free; the verifier checks
/// there are no cycles and `topologicalOrder()` gives an execution order.
public struct Graph: Sendable, Equatable {
    public var name: String
    public var inputs: [GraphInput]
    public var nodes: [Node]
    public var outputs: [GraphOutput]
    public var loc: SourceLoc = .none
    public var returnLoc: SourceLoc = .none

    public init(name: String, inputs: [GraphInput] = [], nodes: [Node] = [], outputs: [GraphOutput] = []) {
        self.name = name
        self.inputs = inputs
        self.nodes = nodes
        self.outputs = outputs
    }

    public static func == (a: Graph, b: Graph) -> Bool {
        a.name == b.name && a.inputs == b.inputs && a.nodes == b.nodes && a.outputs == b.outputs
    }

    /// Index of the node defining each value (the first definition, if a
    /// verifier error left several; none for a name a graph input defines).
    public var definingNode: [String: Int] {
        let inputNames = Set(inputs.map(\.name))
        var map: [String: Int] = [:]
        for (i, n) in nodes.enumerated() where map[n.result] == nil && !inputNames.contains(n.result) { map[n.result] = i }
        return map
    }

    /// The type of every value (inputs, and nodes whose type is known).
    public var valueTypes: [String: TensorType] {
        var map: [String: TensorType] = [:]
        for i in inputs { map[i.name] = i.type }
        for n in nodes { if let t = n.type { map[n.result] = t } }
        return map
    }

    /// Node indices in an order where every operand is defined before use.
    /// Stable: nodes already in order keep their textual order. The nodes of
    /// a kernel stay together, ordered among themselves the same way. Nodes
    /// on or after a cycle are left out (the verifier reports the cycle).
    public func topologicalOrder() -> [Int] {
        let defining = definingNode
        // Every pass re-verifies its graph, and passes keep the order: the
        // common case, which needs no scheduling.
        if isInOrder(defining) { return Array(nodes.indices) }
        // Schedule units: a kernel's nodes form one unit, any other node its own.
        var unitOf = [Int](repeating: 0, count: nodes.count)
        var units: [[Int]] = []
        var kernelUnit: [String: Int] = [:]
        for (i, n) in nodes.enumerated() {
            if let k = n.kernel, let u = kernelUnit[k] {
                unitOf[i] = u
                units[u].append(i)
            } else {
                unitOf[i] = units.count
                if let k = n.kernel { kernelUnit[k] = units.count }
                units.append([i])
            }
        }
        var pending = [Int](repeating: 0, count: units.count)
        var users = [[Int]](repeating: [], count: units.count)
        for (i, n) in nodes.enumerated() {
            for operand in n.operands {
                if let d = defining[operand], unitOf[d] != unitOf[i] || d == i {
                    pending[unitOf[i]] += 1
                    users[unitOf[d]].append(unitOf[i])
                }
            }
        }
        // Taking the lowest ready unit first keeps the order stable.
        var ready = MinHeap((0..<units.count).filter { pending[$0] == 0 })
        var order: [Int] = []
        order.reserveCapacity(nodes.count)
        while let u = ready.pop() {
            order += units[u].count == 1 ? units[u] : orderWithin(units[u], defining)
            for v in users[u] {
                pending[v] -= 1
                if pending[v] == 0 { ready.push(v) }
            }
        }
        return order
    }

    /// Whether every operand is defined by an earlier node (or is an input)
    /// and each kernel's nodes are contiguous: then the order above is the
    /// nodes' own.
    private func isInOrder(_ defining: [String: Int]) -> Bool {
        var finished = Set<String>()   // kernels whose block has ended
        for (i, n) in nodes.enumerated() {
            if i > 0, let previous = nodes[i - 1].kernel, previous != n.kernel { finished.insert(previous) }
            if let k = n.kernel, finished.contains(k) { return false }
            for operand in n.operands { if let d = defining[operand], d >= i { return false } }
        }
        return true
    }

    /// A kernel's own nodes in dependency order (stable).
    private func orderWithin(_ members: [Int], _ defining: [String: Int]) -> [Int] {
        let inside = Set(members)
        var placed = Set<Int>(), order: [Int] = []
        var remaining = members
        while !remaining.isEmpty {
            guard let next = remaining.firstIndex(where: { i in
                nodes[i].operands.allSatisfy { defining[$0].map { !inside.contains($0) || placed.contains($0) } ?? true }
            }) else { break }  // a cycle inside the kernel: the verifier reports it
            placed.insert(remaining[next])
            order.append(remaining.remove(at: next))
        }
        return order
    }

    /// The graph with its nodes in topological order (the canonical order).
    public func sorted() -> Graph {
        var g = self
        g.nodes = topologicalOrder().map { nodes[$0] }
        return g
    }
}

/// A binary min-heap of node indices, so ordering a large graph stays O(n log n).
struct MinHeap {
    private var items: [Int] = []

    init(_ values: [Int]) {
        for v in values { push(v) }
    }

    mutating func push(_ v: Int) {
        items.append(v)
        var i = items.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard items[parent] > items[i] else { break }
            items.swapAt(parent, i)
            i = parent
        }
    }

    mutating func pop() -> Int? {
        guard let top = items.first else { return nil }
        let last = items.removeLast()
        guard !items.isEmpty else { return top }
        items[0] = last
        var i = 0
        while true {
            let (l, r) = (2 * i + 1, 2 * i + 2)
            var smallest = i
            if l < items.count, items[l] < items[smallest] { smallest = l }
            if r < items.count, items[r] < items[smallest] { smallest = r }
            guard smallest != i else { return top }
            items.swapAt(i, smallest)
            i = smallest
        }
    }
}
