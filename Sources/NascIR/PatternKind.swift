/// How an op may fuse with its neighbours, after TVM's op patterns.
public enum PatternKind: String, Sendable {
    /// One output element from the same element of each operand.
    case elementwise
    /// Like elementwise, with some operands broadcast (a per-channel bias, a scalar).
    case broadcast
    /// Moves elements without arithmetic (concat, pad, slice, reshape, gather).
    case injective
    /// Each output element sums or compares many inputs.
    case reduction
    /// A GEMM-like op whose output can take an elementwise epilogue (conv, matmul).
    case outElementwiseFusable = "out-elementwise-fusable"
    /// Builds its output by scattered accumulation: nothing fuses after it.
    case opaque
    /// `param`, `state`, `const`: no computation, no kernel.
    case source

    /// Kinds that may join the kernel of the op producing their operand.
    public var isEpilogue: Bool { self == .elementwise || self == .broadcast }

    /// The node's kind, from its op's definition (batch norm's depends on its mode).
    public static func of(_ node: Node) -> PatternKind { node.op.definition.pattern(node.attrs) }

    /// Whether `node` adds up one contribution per example into a result
    /// without N (a weight or bias gradient, a summed loss). Such a kernel
    /// runs as batch chunks on several threads whose partial sums the
    /// executor adds (NascRuntime's BatchSplit), so it takes no epilogue: the
    /// epilogue would see a partial sum. The operands carrying N must have it
    /// leading, so a chunk of examples is one block of memory.
    public static func sumsOverBatch(_ node: Node, _ types: [String: TensorType]) -> Bool {
        guard let result = node.type, !result.hasBatch else { return false }
        func batchLed(_ v: String) -> Bool {
            guard let t = types[v] else { return false }
            return t.dims.first == .batch && !t.dims.dropFirst().contains(.batch)
        }
        return node.op.definition.sumsOverBatch(node.attrs) && node.operands.allSatisfy(batchLed)
    }
}
