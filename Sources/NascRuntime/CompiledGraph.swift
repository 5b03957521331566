import Foundation
import NascIR
import NascLLVM
import NascPasses

/// A fused graph compiled to native kernels, with its memory: parameter and
/// state storage, one arena laid out by the memory plan, and the kernels'
/// workspace. `run` executes one step: every kernel in order, then each
/// `next.<name>` output written back into `<name>` (unless the plan already
/// wrote it in place).
public final class CompiledGraph: @unchecked Sendable {
    typealias KernelFunction = @convention(c) (UnsafeMutablePointer<UnsafeMutableRawPointer?>?, Int64, UnsafeMutableRawPointer?, UnsafePointer<Int64>?) -> Void

    /// Where a value's elements are during a run.
    enum Slot {
        case input(String)
        case source(String)
        case arena(Int)
        case constant(Double)
    }

    public typealias Timings = CompileTimings

    public let graph: Graph
    public let plan: MemoryPlan
    public let maxBatch: Int
    /// Threads for batch chunks and OpenBLAS (ExecutionSettings); may be
    /// changed between runs, within the workspace room allocated so far.
    public var threads: Int
    public private(set) var timings: Timings
    public let workspaceBytes: Int
    /// The LLVM IR text of the kernels (what the JIT compiled, before
    /// optimization), built when asked for: only `--emit llvm` reads it.
    public var llvmText: String {
        MachineCode.declarations + lowered.map { $0.text(named: $0.kernel) }.joined(separator: "\n") + functionAttributes + "\n"
    }
    private let lowered: [LoweredKernel]
    private let functionAttributes: String
    /// What each kernel reads from its `%dims` argument, as comment lines
    /// (`; @k3 %dims = [16, 784, ...]`): the shape figures its text leaves out.
    public var dimsListing: String {
        lowered.map { "; @\($0.kernel) %dims = [\($0.dims.map(String.init).joined(separator: ", "))]\n" }.joined()
    }

    /// Each kernel call: its function, its buffers, its shape figures, and
    /// how it may run as batch chunks (nil: whole batch only).
    /// `rows`: a row-split kernel's static count of rows, passed as its n.
    /// `channels`: how a kernel of batch statistics may run as ranges of channels.
    private let calls: [(slots: [Slot], dims: [Int64], split: BatchSplit?, rows: Int?, channels: ChannelSplit?, product: BLASThreads.Product?)]
    /// Each call's machine code, and the modules holding it.
    private let functions: [KernelFunction]
    private let modules: [CompiledModule]
    /// Seconds spent in each kernel (in `kernels` order) since profiling was
    /// switched on; nil when off, so a normal run reads no clock.
    public private(set) var kernelSeconds: [Double]? = nil
    /// The kernels in execution order, with the ops each one fuses and the
    /// type of the value it ends with (its last op's).
    public let kernels: [(name: String, ops: [String], result: String)]
    private var storage: [String: UnsafeMutablePointer<Float>] = [:]
    private let arena: UnsafeMutableRawPointer
    /// One workspace per thread: batch chunks run at once.
    private var workspaces: [UnsafeMutableRawPointer] = []
    /// Per thread after the first, room for a partial sum over its chunk.
    private var partials: [UnsafeMutablePointer<Float>] = []
    private let partialFloats: Int
    /// The most rows any row-split kernel has (0: none), for the threads a step may use.
    private let largestRows: Int
    /// `next.<name>` outputs the plan did not write into `<name>`'s storage:
    /// label -> name. Each run copies them there.
    private let copiedUpdates: [String: String]
    private let slots: [String: Slot]
    private let limits: [String: Int]
    private let types: [String: TensorType]

    /// Optimizes, fuses, plans, lowers and JIT-compiles `graph` (any verified
    /// graph: a forward graph or a training step) for batches up to
    /// `maxBatch`.
    public static func compile(_ graph: Graph, maxBatch: Int, settings: ExecutionSettings = ExecutionSettings(),
                               cache: KernelCache = .shared) throws -> CompiledGraph {
        var timings = Timings()
        var clock = Date()
        func lap() -> Double { let now = Date(); defer { clock = now }; return now.timeIntervalSince(clock) }
        let fused = try Pipeline.forCompiling(graph)
        let plan = try MemoryPlan.plan(fused, batch: maxBatch)
        timings.passes = lap()
        let lowered = try lower(fused, plan, threads: settings.threads)
        timings.lowering = lap()
        try checkMemory(fused, plan: plan, lowered: lowered, maxBatch: maxBatch, threads: settings.threads)

        let code = try MachineCode.build(lowered, cache: cache, threads: settings.threads, timings: &timings)
        let compiled = try CompiledGraph(fused, plan: plan, maxBatch: maxBatch, threads: settings.threads, lowered: lowered, code: code,
                                     timings: timings, functionAttributes: try JIT.get().functionAttributes)
        if ProcessInfo.processInfo.environment["NASC_PERF_MAP"] == "1" { compiled.writePerfMap(code.addresses) }
        return compiled
    }

    /// Whether `graph` fits the memory limit at `maxBatch`, without
    /// generating machine code: the passes, plan and lowering only. Throws
    /// the limit's message when it does not.
    public static func checkFits(_ graph: Graph, maxBatch: Int, settings: ExecutionSettings = ExecutionSettings()) throws {
        let fused = try Pipeline.forCompiling(graph)
        let plan = try MemoryPlan.plan(fused, batch: maxBatch)
        try checkMemory(fused, plan: plan, lowered: try lower(fused, plan, threads: settings.threads), maxBatch: maxBatch, threads: settings.threads)
    }

    /// The kernels of a fused graph, results the plan puts over an operand
    /// written through that operand's pointer.
    static func lower(_ fused: Graph, _ plan: MemoryPlan, threads: Int) throws -> [LoweredKernel] {
        var inPlace: [String: String] = [:]
        for b in plan.buffers { if case .inPlace(let operand) = b.placement { inPlace[b.value] = operand } }
        return try KernelLowering.lower(fused, inPlace: inPlace, threads: threads)
    }

    /// Refuses, before anything is allocated, a graph whose parameters,
    /// arena, per-thread workspaces and input copies exceed the memory limit.
    static func checkMemory(_ graph: Graph, plan: MemoryPlan, lowered: [LoweredKernel], maxBatch: Int, threads: Int) throws {
        let storage = MemoryLimit.sum(graph.nodes.filter { $0.op == .param || $0.op == .state }.map { $0.type?.bytes(batch: 1) })
        let workspace = lowered.map { $0.workspaceBytes(batch: maxBatch) }.max() ?? 0
        let (workspaces, overflow) = workspace.multipliedReportingOverflow(by: max(threads, 1))
        // Each run holds its inputs as given (8-byte doubles) and as the
        // kernels read them (4-byte floats, copied once more to align them).
        let inputs = MemoryLimit.sum(graph.inputs.map { $0.type.bytes(batch: maxBatch, bytesPerElement: 16) })
        let needed = overflow ? nil : MemoryLimit.sum([storage, plan.peakBytes, workspaces, inputs])
        do {
            try MemoryLimit.check(needed, for: "@\(graph.name) at batch \(maxBatch) (arena \(MemoryPlan.human(plan.peakBytes)), "
                                  + "workspace \(MemoryPlan.human(workspace)) per thread, parameters \(storage.map(MemoryPlan.human) ?? "?"))",
                                  advice: "use a smaller --batch or smaller shapes, or raise the memory limit (`nasc version` shows it and where it comes from)")
        } catch { throw RuntimeError(message: error.message, exceedsMemoryLimit: true) }
    }


    private init(_ graph: Graph, plan: MemoryPlan, maxBatch: Int, threads: Int, lowered: [LoweredKernel], code: KernelCode,
                 timings: Timings, functionAttributes: String) throws {
        self.graph = graph
        self.plan = plan
        self.maxBatch = maxBatch
        self.threads = threads
        modules = code.modules
        functions = code.addresses.map { unsafeBitCast($0, to: KernelFunction.self) }
        self.timings = timings
        self.lowered = lowered
        self.functionAttributes = functionAttributes
        let types = graph.valueTypes
        self.types = types
        let members = Dictionary(grouping: graph.nodes.filter { $0.kernel != nil }, by: { $0.kernel! })
        kernels = lowered.map { k in
            let fused = members[k.kernel] ?? []
            return (k.kernel, fused.map(\.op.name), fused.last?.type.map { "\($0)" } ?? "")
        }
        limits = graph.indexLimits()

        var slots: [String: Slot] = [:]
        for input in graph.inputs { slots[input.name] = .input(input.name) }
        for n in graph.nodes where PatternKind.of(n) == .source {
            slots[n.result] = n.op == .const ? .constant(n.attrs.float("value")) : .source(n.result)
        }
        var placements: [String: MemoryPlan.Placement] = [:]
        for b in plan.buffers { placements[b.value] = b.placement }
        func resolve(_ v: String) -> Slot? {
            if let s = slots[v] { return s }
            switch placements[v] {
            case .arena(let offset): return .arena(offset)
            case .inPlace(let other): return resolve(other)
            case nil: return nil
            }
        }
        for b in plan.buffers { slots[b.value] = resolve(b.value) }
        self.slots = slots

        arena = try Allocation.bytes(plan.peakBytes, for: "@\(graph.name)'s arena")
        workspaceBytes = lowered.map { $0.workspaceBytes(batch: maxBatch) }.max() ?? 0
        calls = lowered.map { k in
            (k.arguments.map { slots[$0]! }, k.dims,
             k.rowSplit.map(BatchSplit.of(rows:)) ?? BatchSplit.of(nodes: members[k.kernel] ?? [], arguments: k.arguments, types: types),
             k.rowSplit?.rows, k.channelSplit,
             BLASThreads.Product(members[k.kernel] ?? [], types: types))
        }
        partialFloats = calls.map { call in if case .sum(_, _, let floats) = call.split { return floats } else { return 0 } }.max() ?? 0
        largestRows = calls.compactMap(\.rows).max() ?? 0
        for n in graph.nodes where n.op == .param || n.op == .state {
            let count = n.type!.bound(batch: 1).reduce(1, *)
            let p = try Allocation.floats(count, for: "%\(n.result)")
            p.initialize(repeating: 0, count: max(count, 1))
            storage[n.result] = p
        }
        var copied: [String: String] = [:]
        for o in graph.outputs where o.label.hasPrefix("next.") {
            let target = String(o.label.dropFirst(5))
            guard storage[target] != nil else { continue }
            if case .source(let s) = slots[o.value]!, s == target { continue }
            copied[o.label] = target
        }
        copiedUpdates = copied
    }

    deinit {
        free(arena)
        workspaces.forEach { free($0) }
        partials.forEach { free($0) }
        for p in storage.values { free(p) }
    }

    // MARK: - Parameters and states

    /// Sets parameters and states (values as the interpreter holds them).
    public func setSources(_ values: [String: Tensor]) throws {
        for (name, t) in values {
            guard let p = storage[name] else { throw RuntimeError(message: "@\(graph.name) has no param or state '%\(name)'") }
            let count = types[name]!.bound(batch: 1).reduce(1, *)
            guard t.count == count else { throw RuntimeError(message: "'%\(name)' holds \(count) elements, got \(t.count)") }
            for i in 0..<count { p[i] = Float(t.data[i]) }
        }
    }

    /// Sets the parameters and states this graph has, ignoring other names:
    /// an inference graph takes its weights from a training step's sources,
    /// which also hold optimizer buffers.
    public func setSources(matching values: [String: Tensor]) throws {
        try setSources(values.filter { storage[$0.key] != nil })
    }

    /// Current parameters and states.
    public func sources() -> [String: Tensor] {
        var out: [String: Tensor] = [:]
        for (name, p) in storage {
            let shape = types[name]!.bound(batch: 1)
            out[name] = Tensor(shape: shape, data: (0..<shape.reduce(1, *)).map { Double(p[$0]) })
        }
        return out
    }

    // MARK: - Running

    /// NASC_PERF_MAP=1: appends the kernels to /tmp/perf-PID.map, so `perf
    /// report` names JIT code by kernel and ops (Debian's LLVM 14 lacks its
    /// perf listener). A function's size is taken as the gap to the next one.
    func writePerfMap(_ addresses: [UnsafeRawPointer]) {
        let starts = Set(addresses.map { UInt(bitPattern: $0) }).sorted()
        var lines = ""
        for ((name, ops, _), address) in zip(kernels, addresses) {
            let start = UInt(bitPattern: address)
            let next = starts.first { $0 > start } ?? start + 65536
            lines += String(start, radix: 16) + " " + String(min(next - start, 65536), radix: 16) + " \(graph.name).\(name).\(ops.joined(separator: "+"))\n"
        }
        let path = "/tmp/perf-\(getpid()).map"
        if !FileManager.default.fileExists(atPath: path) { _ = FileManager.default.createFile(atPath: path, contents: nil) }
        if let file = FileHandle(forWritingAtPath: path) {
            file.seekToEndOfFile()
            try? file.write(contentsOf: Data(lines.utf8))
            file.closeFile()
        }
    }

    /// How many kernels run as batch chunks when there are several threads.
    public var chunkedKernels: Int { calls.filter { $0.split != nil }.count }
    /// How many of those add up partial sums (weight gradients).
    public var summedKernels: Int { calls.filter { if case .sum = $0.split { return true } else { return false } }.count }
    /// How many kernels split a static count of rows instead (RowSplit).
    public var rowSplitKernels: Int { calls.filter { $0.rows != nil }.count }
    /// How many kernels of batch statistics run as ranges of channels (ChannelSplit).
    public var channelSplitKernels: Int { calls.filter { $0.channels != nil }.count }

    /// Starts (or restarts) timing every kernel call.
    public func startProfiling() { kernelSeconds = Array(repeating: 0, count: calls.count) }

    /// One step on a batch of values as the interpreter holds them (f64);
    /// returns every output by label. A wrapper of the f32 `run` below.
    public func run(_ inputs: [String: Tensor]) throws -> [String: Tensor] {
        let (floats, ints, batch) = try kernelInputs(inputs)
        let outputs = try run(floats: floats, ints: ints, batch: batch)
        return outputs.mapValues { Tensor($0.dtype, shape: $0.shape, data: $0.values.map(Double.init)) }
    }

    /// Values as the interpreter holds them, checked against the graph's
    /// inputs and converted to what the f32 `run` takes.
    public func kernelInputs(_ inputs: [String: Tensor]) throws -> (floats: [String: [Float]], ints: [String: [Int32]], batch: Int) {
        var batch: Int? = nil
        var floatInputs: [String: [Float]] = [:], intInputs: [String: [Int32]] = [:]
        for input in graph.inputs {
            guard let t = inputs[input.name] else { throw RuntimeError(message: "missing input '%\(input.name)' (\(input.type))") }
            if input.type.hasBatch {
                guard t.rank == input.type.rank else { throw RuntimeError(message: "input '%\(input.name)' is \(input.type) but the value has shape \(t.shape)") }
                if let b = batch, b != t.shape[0] { throw RuntimeError(message: "input '%\(input.name)' has batch size \(t.shape[0]) but an earlier input has \(b)") }
                batch = t.shape[0]
            }
            guard t.shape == input.type.bound(batch: batch ?? 1) else {
                throw RuntimeError(message: "input '%\(input.name)' is \(input.type) but the value has shape \(t.shape)")
            }
            if input.type.dtype == .i32 {
                // Only what Int32 can hold converts; the f32 run checks the range its uses accept.
                let limit = limits[input.name] ?? Int(Int32.max)
                if let i = t.data.firstIndex(where: { $0 != $0.rounded() || $0 < 0 || $0 > Double(Int32.max) }) {
                    throw RuntimeError(message: "input '%\(input.name)' holds \(t.data[i]) at position \(i); it must be an integer in 0..<\(limit)")
                }
                intInputs[input.name] = t.data.map { Int32($0) }
            } else {
                floatInputs[input.name] = t.data.map { Float($0) }
            }
        }
        return (floatInputs, intInputs, batch ?? 1)
    }

    /// An output of the f32 `run`: its values as the kernels left them
    /// (i32 outputs converted to Float).
    public struct Output: Sendable {
        public var dtype: DType
        public var shape: [Int]
        public var values: [Float]
    }

    /// One step on a batch of `batch` examples given as the kernels read
    /// them (f32 and i32 arrays of N times an example's elements): the
    /// trainer's path, with no conversion through f64.
    /// `reading`: the labels to return (nil: every output). A training
    /// step's `next.*` outputs are mostly its parameters, updated in place:
    /// copying them out every step costs a pass over the whole model.
    public func run(floats floatInputs: [String: [Float]], ints intInputs: [String: [Int32]], batch: Int,
                    reading: Set<String>? = nil) throws -> [String: Output] {
        let n = batch
        guard n >= 1, n <= maxBatch else { throw RuntimeError(message: "batch size \(n) is outside 1...\(maxBatch), the largest this graph was compiled for") }
        for input in graph.inputs {
            let count = input.type.bound(batch: n).reduce(1, *)
            let given = input.type.dtype == .i32 ? intInputs[input.name]?.count : floatInputs[input.name]?.count
            guard let given else { throw RuntimeError(message: "missing input '%\(input.name)' (\(input.type))") }
            guard given == count else { throw RuntimeError(message: "input '%\(input.name)' is \(input.type): \(count) values at batch \(n), got \(given)") }
            if input.type.dtype == .i32, let limit = limits[input.name],
               let bad = intInputs[input.name]!.firstIndex(where: { $0 < 0 || Int($0) >= limit }) {
                throw RuntimeError(message: "input '%\(input.name)' holds \(intInputs[input.name]![bad]) at position \(bad); it must be an integer in 0..<\(limit)")
            }
        }

        // Batch chunks run at once, at most one per example (or per row
        // of a row-split kernel); OpenBLAS gets every thread whatever the
        // batch (a static graph, such as an unrolled language model, runs
        // as one "example").
        let most = min(max(self.threads, 1), max(n, largestRows))
        while workspaces.count < most { workspaces.append(try Allocation.bytes(workspaceBytes, for: "a kernel workspace")) }
        while partials.count < most - 1 { partials.append(try Allocation.floats(partialFloats, for: "a thread's partial sums")) }

        func withInputPointers<R>(_ body: ([String: UnsafeMutableRawPointer]) throws -> R) throws -> R {
            var pointers: [String: UnsafeMutableRawPointer] = [:]
            var holders: [UnsafeMutableRawPointer] = []
            defer { holders.forEach { free($0) } }
            for (name, values) in floatInputs {
                let p = try Allocation.bytes(values.count * 4, for: "input '%\(name)'")
                values.withUnsafeBytes { p.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
                pointers[name] = p
                holders.append(p)
            }
            for (name, values) in intInputs {
                let p = try Allocation.bytes(values.count * 4, for: "input '%\(name)'")
                values.withUnsafeBytes { p.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
                pointers[name] = p
                holders.append(p)
            }
            return try body(pointers)
        }

        func callKernel(_ k: Int, _ args: inout [UnsafeMutableRawPointer?], _ n: Int64, _ workspace: UnsafeMutableRawPointer, _ dims: [Int64]) {
            args.withUnsafeMutableBufferPointer { a in dims.withUnsafeBufferPointer { functions[k](a.baseAddress, n, workspace, $0.baseAddress) } }
        }

        return try withInputPointers { pointers in
            func address(_ slot: Slot) -> UnsafeMutableRawPointer? {
                switch slot {
                case .input(let name): return pointers[name]
                case .source(let name): return UnsafeMutableRawPointer(storage[name]!)
                case .arena(let offset): return arena + offset
                case .constant: return nil
                }
            }
            let base = calls.map { $0.slots.map(address) }
            for (k, call) in calls.enumerated() {
                let start = kernelSeconds == nil ? 0 : DispatchTime.now().uptimeNanoseconds
                let n = call.rows ?? n, chunks = min(most, n)  // n: examples, or a row-split kernel's rows
                if chunks > 1, let split = call.split {
                    // Chunk t covers examples [t*n/chunks, (t+1)*n/chunks).
                    BLASThreads.setBLAS(1)
                    let (workspaces, partials) = (self.workspaces, self.partials)
                    DispatchQueue.concurrentPerform(iterations: chunks) { t in
                        let lo = t * n / chunks, hi = (t + 1) * n / chunks
                        var args = zip(base[k], split.bytesPerExample).map { p, bytes in p.map { $0 + lo * bytes } }
                        if case .sum(_, let result, _) = split, t > 0 { args[result] = UnsafeMutableRawPointer(partials[t - 1]) }
                        callKernel(k, &args, Int64(hi - lo), workspaces[t], call.dims)
                    }
                    if case .sum(_, let result, let floats) = split {
                        let out = base[k][result]!.assumingMemoryBound(to: Float.self)
                        for partial in partials.prefix(chunks - 1) { for i in 0..<floats { out[i] += partial[i] } }
                    }
                } else if let split = call.channels, min(most, split.channels) > 1 {
                    // Chunk t covers channels [t*C/chunks, (t+1)*C/chunks) of every example.
                    BLASThreads.setBLAS(1)
                    let chunks = min(most, split.channels), workspaces = self.workspaces
                    DispatchQueue.concurrentPerform(iterations: chunks) { t in
                        let lo = t * split.channels / chunks, hi = (t + 1) * split.channels / chunks
                        var args = zip(base[k], split.bytesPerChannel).map { p, bytes in p.map { $0 + lo * bytes } }
                        var dims = call.dims
                        dims[split.boundSlot] = Int64(hi - lo)
                        callKernel(k, &args, Int64(n), workspaces[t], dims)
                    }
                } else {
                    BLASThreads.setBLAS(call.product.map { $0.threads(batch: n, available: threads) } ?? threads)
                    var args = base[k]
                    callKernel(k, &args, Int64(n), workspaces[0], call.dims)
                }
                if kernelSeconds != nil { kernelSeconds![k] += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }
            }
            // Updates the plan did not write in place are copied out first,
            // then into their sources, so one cannot overwrite another's value.
            var outputs: [String: Output] = [:]
            for o in graph.outputs where reading?.contains(o.label) ?? true || copiedUpdates[o.label] != nil {
                let shape = o.type.bound(batch: n)
                let count = shape.reduce(1, *)
                var values = [Float](repeating: 0, count: count)
                switch slots[o.value]! {
                case .constant(let v):
                    values = [Float](repeating: Float(v), count: count)
                case let slot:
                    let p = address(slot)!
                    if o.type.dtype == .i32 {
                        let q = p.assumingMemoryBound(to: Int32.self)
                        for i in 0..<count { values[i] = Float(q[i]) }
                    } else {
                        values.withUnsafeMutableBufferPointer { $0.baseAddress!.update(from: p.assumingMemoryBound(to: Float.self), count: count) }
                    }
                }
                outputs[o.label] = Output(dtype: o.type.dtype, shape: shape, values: values)
            }
            for (label, target) in copiedUpdates {
                let (p, t) = (storage[target]!, outputs[label]!)
                for i in 0..<t.values.count { p[i] = t.values[i] }
            }
            return reading.map { wanted in outputs.filter { wanted.contains($0.key) } } ?? outputs
        }
    }
}

/// A run that cannot proceed: inputs that do not fit the compiled graph, a
/// graph that does not fit in memory. Worded for the user.
public struct RuntimeError: Error, CustomStringConvertible {
    public var message: String
    /// The graph does not fit the memory limit (found before allocating):
    /// a search records such a child as refused, not as failed.
    public var exceedsMemoryLimit = false
    public init(message: String, exceedsMemoryLimit: Bool = false) {
        self.message = message
        self.exceedsMemoryLimit = exceedsMemoryLimit
    }
    public var description: String { message }
}
