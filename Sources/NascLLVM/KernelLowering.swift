import NascIR
import NascPasses

/// A fused kernel lowered to one LLVM function:
///
///     define void @NAME(i8** %args, i64 %n, i8* %ws, i64* %dims)
///
/// `args` holds one pointer per buffer the kernel reads or writes, in the
/// order of `arguments`; `n` is the batch size; `ws` is scratch memory of
/// `workspaceBytes(n)` bytes (im2col columns, batch statistics, and the
/// anchor's result when no other kernel needs it); `dims` holds the
/// kernel's shape figures (channel and filter counts, kernel sizes,
/// padding, offsets), in the order of `dims`. The text names the function
/// `@KERNEL` and leaves those figures out, so kernels that differ only in
/// them, within a graph or across children, have equal text: the kernel
/// cache keys on it, and one compiled function serves them all, each call
/// with its own `dims`. Figures that shape the code and take few values
/// (strides, an image plane's size, a pool's window) stay literals.
public struct LoweredKernel: Sendable {
    public var kernel: String
    public var text: String
    public var arguments: [String]
    /// The values of `%dims` this kernel is called with.
    public var dims: [Int64]
    /// Set when the kernel loops over a static count of rows given as `%n`
    /// (see RowSplit): the runtime then passes the rows, not the batch.
    public var rowSplit: RowSplit?
    /// Set when the kernel may run as ranges of channels (see ChannelSplit).
    public var channelSplit: ChannelSplit?
    /// Workspace floats: a part that scales with the batch and a fixed part.
    var workspacePerExample: Int
    var workspaceFixed: Int

    /// The function under another name (the text names it `@KERNEL`).
    public func text(named name: String) -> String { "define void @\(name)" + text.dropFirst("define void @KERNEL".count) }

    /// Saturates instead of overflowing: the memory check then refuses it.
    public func workspaceBytes(batch: Int) -> Int {
        let (perBatch, o1) = workspacePerExample.multipliedReportingOverflow(by: rowSplit?.rows ?? batch)
        let (floats, o2) = perBatch.addingReportingOverflow(workspaceFixed)
        return o1 || o2 || floats > Int.max / 8 ? Int.max / 2 : 4 * floats
    }
}

/// Lowers the kernels of a fused graph (see Fusion in NascPasses).
public enum KernelLowering {
    /// `inPlace` maps a result to the operand whose buffer the memory plan
    /// gives it: the kernel then writes through the operand's own pointer,
    /// so LLVM sees each element read and rewritten at one address and
    /// vectorizes the loop (through two pointers it could not rule out a
    /// partial overlap, and fell back to scalar code).
    ///
    /// Kernels are lowered independently of each other, so `threads` of
    /// them are lowered side by side (writing their text is most of a
    /// compile whose machine code comes from the cache or the library).
    public static func lower(_ graph: Graph, inPlace: [String: String] = [:], threads: Int = 1) throws -> [LoweredKernel] {
        let g = graph.sorted()
        let types = g.valueTypes
        let defining = g.definingNode
        var usedOutside: [String: Set<String>] = [:]   // value -> kernels (or "") reading it
        for n in g.nodes { for v in n.operands { usedOutside[v, default: []].insert(n.kernel ?? "") } }
        let outputs = Set(g.outputs.map(\.value))
        var kernels: [String] = []
        var members: [String: [Node]] = [:]
        for n in g.nodes {
            guard let k = n.kernel else {
                guard PatternKind.of(n) == .source else { throw BackendError(message: "'%\(n.result) = \(n.op.name)' is in no kernel: run the fuse pass first") }
                continue
            }
            if members[k] == nil { kernels.append(k) }
            members[k, default: []].append(n)
        }
        func lowerKernel(_ k: String) throws -> LoweredKernel {
            let nodes = members[k]!
            let inside = Set(nodes.map(\.result))
            var inputs: [String] = []
            for n in nodes {
                for v in n.operands where !inside.contains(v) && !inputs.contains(v) {
                    if let d = defining[v], g.nodes[d].op == .const { continue }
                    inputs.append(v)
                }
            }
            let results = nodes.map(\.result).filter { outputs.contains($0) || !(usedOutside[$0] ?? []).subtracting([k]).isEmpty }
            var constants: [String: Double] = [:]
            for n in nodes { for v in n.operands { if let d = defining[v], g.nodes[d].op == .const { constants[v] = g.nodes[d].attrs.float("value") } } }
            let lowering = Lowering(nodes: nodes, types: types, arguments: inputs + results, constants: constants)
            if let (split, rowTypes) = RowSplit.plan(nodes: nodes, arguments: lowering.arguments, types: types, constants: constants) {
                lowering.rowSplit = split
                lowering.rowTypes = rowTypes
            }
            for r in results { if let o = inPlace[r], inputs.contains(o) { lowering.sharedBuffer[r] = o } }
            do {
                return try lowering.run(kernel: k)
            } catch let error as BackendError {
                throw error
            } catch {
                throw BackendError(message: "kernel @\(k): \(error)")
            }
        }
        return try SideBySide.map(kernels.count, threads: threads) { i, _ in try lowerKernel(kernels[i]) }
    }
}

/// The state of lowering one kernel.
final class Lowering {
    let nodes: [Node]
    let types: [String: TensorType]
    let arguments: [String]
    let constants: [String: Double]
    var w = IRWriter()
    var allocas: [String] = []
    /// Registers holding each buffer's base pointer.
    var pointers: [String: String] = [:]
    /// Results written over an operand's buffer: result -> operand.
    var sharedBuffer: [String: String] = [:]
    /// The bias the matmul anchor starts its rows from (see foldableBias).
    var foldedBias: String?
    var wsPerExample = 0
    var wsFixed = 0
    /// Set before lowering when the kernel's rows may be split: the split
    /// values' types then have N for their rows, so loops run to %n.
    var rowSplit: RowSplit?
    var rowTypes: [String: TensorType] = [:]
    /// The `%dims` slot of a channel op's loop bound (see ChannelSplit).
    var channelBoundSlot: Int?
    /// Each channel op's fused epilogue, run inside the loop over channels
    /// on each value the op stores (lowerChannelOp).
    var channelEpilogues: [String: ElementwiseBody] = [:]
    /// The sums already computed for the channel being lowered, by the
    /// values summed (channelSums).
    var channelSumsKept: [(x: String, dy: String?, sums: ChannelSums)] = []
    /// Workspace carving: the next free float offset, as (per-example, fixed).
    private var wsCursor: (Int, Int) = (0, 0)

    init(nodes: [Node], types: [String: TensorType], arguments: [String], constants: [String: Double]) {
        self.nodes = nodes
        self.types = types
        self.arguments = arguments
        self.constants = constants
    }

    func type(_ v: String) -> TensorType { rowTypes[v] ?? types[v]! }

    /// Shape figures the text reads from `%dims`, and the entry-block loads.
    private var dims: [Int64] = []
    private var dimLoads: [String] = []

    /// A shape figure as an i64 operand: loaded from `%dims`, never written
    /// as a literal, so the text does not depend on it. Each call takes a
    /// new slot (no sharing of equal values), so the text depends only on
    /// the kernel's structure, and equal text means equal meaning of slots.
    func i64(_ value: Int) -> String {
        let k = dims.count
        dims.append(Int64(value))
        dimLoads.append("  %dim\(k).p = getelementptr inbounds i64, i64* %dims, i64 \(k)")
        dimLoads.append("  %dim\(k) = load i64, i64* %dim\(k).p, align 8")
        return "%dim\(k)"
    }

    /// The count of channels a channel op loops over, in a slot of its own
    /// that the runtime may change (ChannelSplit).
    func channelBound(_ channels: Int) -> String {
        channelBoundSlot = dims.count
        return i64(channels)
    }

    /// A dim as an i64 operand: from `%dims`, or %n for the batch.
    func dim(_ d: Dim) -> String { d.staticValue.map(i64) ?? "%n" }

    /// The leading dimension of a value (images, rows): %n for a batch, or
    /// its static size in a graph without N (an unrolled language model).
    func lead(_ v: String) -> String { dim(type(v).dims[0]) }

    /// Elements of a value with N bound to %n (emits the multiply).
    func count(_ t: TensorType) -> String {
        let perExample = t.elementsPerExample ?? 1
        return t.hasBatch ? w.mul("%n", i64(perExample)) : i64(perExample)
    }

    /// Carves `t`-sized scratch out of the workspace; returns a float* register.
    func scratch(_ t: TensorType) -> String { scratch(floats: t.hasBatch ? (t.elementsPerExample ?? 1, 0) : (0, t.elementsPerExample ?? 1)) }

    func scratch(floats: (perExample: Int, fixed: Int)) -> String {
        // The first carving is at 0 in every kernel: a literal costs no sharing.
        let offset = wsCursor == (0, 0) ? "0" : w.add(w.mul("%n", i64(wsCursor.0)), i64(wsCursor.1))
        wsCursor.0 += floats.perExample
        wsCursor.1 += (floats.fixed + 15) / 16 * 16
        wsPerExample = max(wsPerExample, wsCursor.0)
        wsFixed = max(wsFixed, wsCursor.1)
        return w.gep("float", "%wsf", offset)
    }

    /// The buffer of a kernel output that the anchor can write its result
    /// into instead of scratch: an epilogue result of the same type, so the
    /// epilogue then reads each element just before it overwrites it (its
    /// stores come last in an iteration). Not one the plan put over another
    /// value (an optimizer update over its parameter, which the epilogue
    /// still reads); the plan never gives an anchored kernel's output the
    /// buffer of an operand it reads. Without this, a conv's input gradient
    /// before relu_grad, or batch norm before ReLU, took per-thread scratch
    /// as large as the output: a fifth of a step's resident memory.
    func epilogueOutput(like result: String, epilogue: ArraySlice<Node>) -> String? {
        let t = type(result)
        guard t.dtype == .f32, let next = epilogue.first, type(next.result) == t else { return nil }
        return epilogue.first { arguments.contains($0.result) && sharedBuffer[$0.result] == nil && type($0.result) == t }
            .flatMap { pointers[$0.result] }
    }

    /// A matmul whose only reader is the kernel's next op, a bias_add:
    /// its rows start as the bias and sgemm adds the product (beta 1).
    /// Otherwise OpenBLAS zeroes the result (beta 0) and the bias is one
    /// more pass over it: two passes over a language model's [700,10000]
    /// logits (28 MB) that this saves.
    func foldableBias(_ anchor: Node) -> Node? {
        guard anchor.op == .matmul, pointers[anchor.result] == nil, nodes.count > 1 else { return nil }
        let next = nodes[1]
        // A sum planned over an operand's buffer (perhaps the product's own
        // A) is left to the epilogue: the product cannot be written there.
        guard next.op == .biasAdd, next.operands[0] == anchor.result, next.operands[1] != anchor.result,
              type(anchor.result).rank == 2, pointers[next.operands[1]] != nil, sharedBuffer[next.result] == nil,
              !nodes.dropFirst(2).contains(where: { $0.operands.contains(anchor.result) }) else { return nil }
        return next
    }

    /// A float stack slot (promoted to a register by LLVM's mem2reg).
    func slot() -> String {
        let r = w.fresh("acc")
        allocas.append("  \(r) = alloca float, align 4")
        return r
    }
    func read(_ slot: String) -> String { w.value("load float, float* \(slot), align 4", "f") }
    func write(_ v: String, _ slot: String) { w.emit("store float \(v), float* \(slot), align 4") }
    /// slot += v, as a reduction LLVM may reorder: `reassoc` lets the loop
    /// vectorizer keep one partial sum per vector lane (sums over a batch of
    /// feature maps ran one add at a time, a quarter of a training step).
    func accumulate(_ slot: String, _ v: String) { write(w.value("fadd reassoc float \(read(slot)), \(v)", "f"), slot) }

    func run(kernel: String) throws -> LoweredKernel {
        w.emit("%wsf = bitcast i8* %ws to float*")
        for (i, a) in arguments.enumerated() {
            let slotPtr = w.gep("i8*", "%args", "\(i)")
            let raw = w.value("load i8*, i8** \(slotPtr), align 8", "a")
            let elem = type(a).dtype == .i32 ? "i32" : "float"
            pointers[a] = w.value("bitcast i8* \(raw) to \(elem)*", "buf")
        }
        for (result, operand) in sharedBuffer where type(result).dtype == type(operand).dtype { pointers[result] = pointers[operand] }
        let anchorKind = PatternKind.of(nodes[0])
        var epilogue = nodes
        var channelSplit: ChannelSplit?
        let statistics = nodes.filter { ChannelSplit.ops.contains($0.op) && !PatternKind.of($0).isEpilogue }  // not inference batch norm
        if !statistics.isEmpty {
            try lowerStatisticsKernel(statistics)
            channelSplit = ChannelSplit.plan(anchor: statistics[0], arguments: arguments, types: types, boundSlot: channelBoundSlot)
            epilogue = []
        } else if !anchorKind.isEpilogue {
            let anchor = nodes[0]
            let folded = foldableBias(anchor)
            if pointers[anchor.result] == nil { pointers[anchor.result] = epilogueOutput(like: anchor.result, epilogue: nodes.dropFirst()) ?? scratch(type(anchor.result)) }
            if let folded {
                // The product's buffer holds the sum: later ops read it there.
                foldedBias = p(folded.operands[1])
                pointers[folded.result] = pointers[anchor.result]
                epilogue.removeAll { $0.result == folded.result }
            }
            // A constant operand becomes a filled scratch buffer here, in the
            // entry block: made on first use inside the anchor's loops, its
            // pointer would not dominate a later use outside them.
            for v in anchor.operands where constants[v] != nil { _ = p(v) }
            epilogue.removeFirst()
            guard let op = anchor.op.anchor else { throw BackendError(message: "internal: '\(anchor.op.name)' anchors a kernel but is elementwise") }
            try lowerAnchor(anchor, op)
        }
        if !epilogue.isEmpty { try lowerElementwise(epilogue) }
        w.emit("ret void")
        let text = "define void @KERNEL(i8** noalias %args, i64 %n, i8* noalias %ws, i64* noalias readonly %dims) #0 {\nentry:\n"
            + (allocas + dimLoads + w.lines).joined(separator: "\n") + "\n}\n"
        return LoweredKernel(kernel: kernel, text: text, arguments: arguments, dims: dims, rowSplit: rowSplit, channelSplit: channelSplit,
                             workspacePerExample: wsPerExample, workspaceFixed: wsFixed)
    }

    /// A kernel of batch statistics: one op of ChannelSplit.ops, or several
    /// that sum the same values (Fusion's siblings), each with its epilogue:
    /// the members reading its result, and the prologues feeding them (a
    /// weight decay). The epilogues run inside the loop over channels, on
    /// each value just stored: one pass less over the result, and each
    /// channel's epilogue stays within a thread's range of channels.
    func lowerStatisticsKernel(_ statistics: [Node]) throws {
        var part: [String: Int] = [:]  // value -> the op of statistics whose epilogue computes it
        for (k, n) in statistics.enumerated() { part[n.result] = k }
        for n in nodes where part[n.result] == nil {
            let parts = Set(n.operands.compactMap { part[$0] })
            guard parts.count <= 1 else { throw BackendError(message: "internal: '%\(n.result) = \(n.op.name)' reads two ops of batch statistics") }
            part[n.result] = parts.first
        }
        for n in nodes.reversed() where part[n.result] == nil {
            part[n.result] = nodes.first { $0.operands.contains(n.result) && part[$0.result] != nil }.flatMap { part[$0.result] }
        }
        for (k, anchor) in statistics.enumerated() {
            let epilogue = nodes.filter { part[$0.result] == k && $0.result != anchor.result }
            if pointers[anchor.result] == nil {
                pointers[anchor.result] = epilogueOutput(like: anchor.result, epilogue: epilogue[...]) ?? scratch(type(anchor.result))
            }
            for v in anchor.operands where constants[v] != nil { _ = p(v) }
            if !epilogue.isEmpty { channelEpilogues[anchor.result] = try elementwiseBody(epilogue, over: type(anchor.result)) }
        }
        guard nodes.allSatisfy({ part[$0.result] != nil }) else { throw BackendError(message: "internal: a member of a kernel of batch statistics belongs to none of them") }
        try lowerChannelOps(statistics)
    }

    // MARK: - Elementwise loops (fused epilogues and pure elementwise kernels)

    /// Computes the fused elementwise ops for one element: its flat index,
    /// the channel of axis 1 for per-channel operands (nil without them),
    /// and values already in registers (an anchor's just-stored result).
    typealias ElementwiseBody = (_ index: String, _ channel: String?, _ known: [String: String]) throws -> Void

    /// The body computing `members` over `shape`; it reads scalar operands
    /// and constants from registers that are loaded here, once, so the
    /// caller emits it before its loops.
    func elementwiseBody(_ members: [Node], over shape: TensorType) throws -> ElementwiseBody {
        var hoisted: [String: String] = [:]
        for n in members {
            for v in n.operands where hoisted[v] == nil {
                if let c = constants[v] { hoisted[v] = IRWriter.literal(c) }
                else if type(v).isScalar && !shape.isScalar, let p = pointers[v] { hoisted[v] = w.loadF(p, "0") }
            }
        }
        return { [unowned self] index, channel, known in
            var regs = hoisted.merging(known) { a, _ in a }
            for n in members {
                func operand(_ k: Int) -> String {
                    let v = n.operands[k]
                    if let r = regs[v] { return r }
                    return w.loadF(pointers[v]!, index)
                }
                func perChannel(_ k: Int) -> String { w.loadF(pointers[n.operands[k]]!, channel!) }
                let r = try elementwise(n, operand, perChannel)
                regs[n.result] = r
            }
            // Stores come last: a result may be planned over an operand's
            // buffer, which a later op of this iteration still reads.
            for n in members { if let p = pointers[n.result] { w.storeF(regs[n.result]!, p, index) } }
        }
    }

    /// One loop over the shared shape computing every node; per-channel
    /// operands (bias_add, inference batch norm) index by the channel of
    /// axis 1, so those kernels loop over rows of (N, C) and an inner range.
    func lowerElementwise(_ members: [Node]) throws {
        let shape = type(members[0].result)
        let perChannel = members.contains { $0.op == .biasAdd || $0.op == .batchNorm }
        let inner = shape.rank >= 2 ? shape.dims.dropFirst(2).reduce(1) { $0 * ($1.staticValue ?? 1) } : 1
        let channels = shape.rank >= 2 ? (shape.dims[1].staticValue ?? 1) : 1
        let body = try elementwiseBody(members, over: shape)
        if perChannel {
            let rows = shape.hasBatch ? w.mul("%n", i64(channels)) : i64(channels * (shape.dims[0].staticValue ?? 1))
            try w.loop(to: rows, "row") { row in
                let c = w.srem(row, i64(channels))
                let base = w.mul(row, "\(inner)")
                try w.loop(to: "\(inner)", "j") { j in try body(w.add(base, j), c, [:]) }
            }
        } else {
            try w.loop(to: count(shape), "e") { i in try body(i, nil, [:]) }
        }
    }

    /// An op's scalar formula (ElementwiseOps.swift) as instructions on
    /// registers, operands first (left to right), as the formula reads.
    func formula(_ f: ScalarFormula, _ x: [String], _ attrs: Attributes) -> String {
        func emit(_ f: ScalarFormula) -> String { formula(f, x, attrs) }
        switch f {
        case .operand(let k): return x[k]
        case .constant(let c): return ScalarFormula.smallInteger(c).map { "\($0).0" } ?? IRWriter.literal(c)
        case .attribute(let name): return IRWriter.literal(attrs.float(name))
        case .negate(let a): return w.value("fneg float \(emit(a))", "f")
        case .binary(let op, let a, let b):
            let (u, v) = (emit(a), emit(b))
            switch op {
            case .add: return w.f("fadd", u, v)
            case .sub: return w.f("fsub", u, v)
            case .mul: return w.f("fmul", u, v)
            case .div: return w.f("fdiv", u, v)
            }
        case .call(let function, let a):
            let u = emit(a)
            switch function {
            case .exp: return w.value("call float @nasc_expf(float \(u))", "f")
            case .tanh: return w.value("call float @nasc_tanhf(float \(u))", "f")
            case .sqrt: return w.value("call float @llvm.sqrt.f32(float \(u))", "f")
            }
        case .ifPositive(let c, let a, let b):
            let positive = w.value("fcmp ogt float \(emit(c)), 0.0", "c")
            let (u, v) = (emit(a), emit(b))
            return w.value("select i1 \(positive), float \(u), float \(v)", "f")
        }
    }

    /// One elementwise or broadcast op on scalar registers.
    func elementwise(_ n: Node, _ x: (Int) -> String, _ channel: (Int) -> String) throws -> String {
        switch n.op.kind {
        case .elementwise(let e):
            // Each operand is loaded once, in order, then the formula is printed.
            let operands = n.operands.indices.map(x)
            return formula(e.formula, operands, n.attrs)
        case .anchor(let op):
            switch op {
            case .biasAdd: return w.f("fadd", x(0), channel(1))
            case .batchNorm:  // inference mode: gamma * (x - mean) / sqrt(var + eps) + beta
                let eps = IRWriter.literal(n.attrs.float("eps"))
                let sd = w.value("call float @llvm.sqrt.f32(float \(w.f("fadd", channel(4), eps)))", "f")
                let centered = w.f("fsub", x(0), channel(3))
                return w.f("fadd", w.f("fdiv", w.f("fmul", channel(1), centered), sd), channel(2))
            // Anchors whose pattern is not elementwise or broadcast never
            // join an epilogue (PatternKind.isEpilogue).
            case .param, .state, .const, .conv2d, .conv2dGradInput, .conv2dGradFilter, .matmul,
                 .batchNormGrad, .batchNormGradGamma, .batchMean, .batchVar,
                 .maxPool, .avgPool, .globalAvgPool, .maxPoolGrad, .avgPoolGrad, .globalAvgPoolGrad, .dropout, .dropPath,
                 .concat, .zeroPad, .flatten, .reshape, .slice, .crop, .reduceSum, .channelSum, .embedding, .embeddingGrad,
                 .softmax, .softmaxGrad, .softmaxCrossEntropy, .softmaxCrossEntropyGrad, .weightedSoftmaxCrossEntropy, .weightedSoftmaxCrossEntropyGrad:
                throw BackendError(message: "internal: '\(n.op.name)' is not elementwise")
            }
        }
    }
}
