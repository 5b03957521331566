import NascIR

/// Threads for kernels that must see the whole batch because they compute
/// batch statistics: batch norm in training, its two gradients, batch mean
/// and variance. They cannot run as chunks of examples (BatchSplit), but
/// each channel's statistics and outputs depend on that channel alone, and
/// their fused epilogue runs inside the loop over channels. Such a kernel
/// reads its count of channels to loop over from `%dims` slot `boundSlot`,
/// apart from the channel stride of its addresses, so the runtime can give
/// each thread a range of channels: it moves every pointer on by the
/// range's first channel and passes the range's length in that slot. On
/// one thread, these kernels were about 12% of a searched child's step,
/// the same time whether the step had one thread or two.
public struct ChannelSplit: Sendable, Equatable {
    /// Channels in all.
    public var channels: Int
    /// The `%dims` slot holding how many channels the kernel loops over.
    public var boundSlot: Int
    /// Per argument, the bytes one channel moves its pointer on: a plane
    /// for a value shaped like the normalized one, a float for a
    /// per-channel vector ([C]: gamma, a gradient, a running statistic),
    /// 0 for a scalar (a learning rate).
    public var bytesPerChannel: [Int]

    static let ops = Set(Op.allCases.filter { $0.anchor?.member(of: Lowering.ChannelKind.self) != nil })

    /// The value an op of `ops` takes its statistics of (the gradients'
    /// operand 0 is dy).
    static func summed(_ n: Node) -> String { n.operands[n.op == .batchNormGrad || n.op == .batchNormGradGamma ? 1 : 0] }

    /// The split of a kernel anchored by `anchor`, or nil: another anchor,
    /// or an argument shaped some other way.
    static func plan(anchor: Node, arguments: [String], types: [String: TensorType], boundSlot: Int?) -> ChannelSplit? {
        guard let boundSlot, ops.contains(anchor.op) else { return nil }
        let data = types[summed(anchor)]!
        guard data.rank >= 2, let channels = data.dims[1].staticValue, channels > 1 else { return nil }
        let plane = data.dims.dropFirst(2).reduce(1) { $0 * ($1.staticValue ?? 1) }
        var bytes: [Int] = []
        for a in arguments {
            let t = types[a]!
            guard t.dtype == .f32 else { return nil }
            if t.dims == data.dims { bytes.append(4 * plane) }
            else if t.dims == [.fixed(channels)] { bytes.append(4) }
            else if t.isScalar { bytes.append(0) }
            else { return nil }
        }
        return ChannelSplit(channels: channels, boundSlot: boundSlot, bytesPerChannel: bytes)
    }
}
