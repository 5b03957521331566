import NascIR

/// Where every tensor of a fused graph lives during one run, for a given
/// batch size: graph inputs, parameters and states in their own storage;
/// constants nowhere (kernels use their value); values that stay inside a
/// kernel nowhere (they never reach memory); everything else in one arena,
/// where buffers whose lifetimes do not overlap share bytes.
///
/// Lifetimes are kernel positions in execution order: a buffer is live from
/// the kernel that writes it to the last kernel that reads it (graph
/// outputs: to the end). An elementwise kernel may write its result over an
/// operand buffer of the same size that dies in it (each element is read
/// before it is written), and a `next.<p>` output may be written straight
/// into the storage of `<p>` when no later kernel reads `<p>` and the kernel
/// reads `<p>` only elementwise: that is how an optimizer update runs in place.
public struct MemoryPlan: Sendable {
    public enum Placement: Sendable, Equatable {
        case arena(offset: Int)
        /// Written over the storage of this value (an operand that dies, or the parameter it updates).
        case inPlace(of: String)
    }

    public struct Buffer: Sendable {
        public var value: String
        public var bytes: Int
        public var placement: Placement
        /// Kernel positions: written in `first`, last read in `last`.
        public var first: Int
        public var last: Int
    }

    public var batch: Int
    public var kernels: [String]
    public var buffers: [Buffer]
    /// Bytes the arena needs.
    public var peakBytes: Int
    /// The most bytes live at once: no arena can be smaller.
    public var liveBytes: Int
    /// Bytes if every value of the graph had its own buffer (no fusion, no reuse).
    public var naiveBytes: Int

    public static func bytes(_ t: TensorType, batch: Int) -> Int {
        t.bound(batch: batch).reduce(t.dtype.byteSize, *)
    }

    public static func plan(_ graph: Graph, batch: Int) throws(PassError) -> MemoryPlan {
        let g = graph.sorted()
        let defining = g.definingNode
        guard g.nodes.allSatisfy({ $0.kernel != nil || PatternKind.of($0) == .source }) else {
            throw PassError("memory planning needs a fused graph (run the fuse pass first)")
        }

        // Kernels in execution order, and where each value is written and read.
        var kernels: [String] = []
        var position: [String: Int] = [:]
        for n in g.nodes { if let k = n.kernel, position[k] == nil { position[k] = kernels.count; kernels.append(k) } }
        let end = kernels.count
        var lastRead: [String: Int] = [:]
        for n in g.nodes {
            guard let k = n.kernel.flatMap({ position[$0] }) else { continue }
            for v in n.operands where g.nodes[defining[v] ?? 0].kernel != n.kernel || defining[v] == nil {
                lastRead[v] = max(lastRead[v] ?? -1, k)
            }
        }
        let outputs = Set(g.outputs.map(\.value))
        for v in outputs { lastRead[v] = end }

        // Sizes come from the graph's types and the batch: make sure every sum
        // below fits an Int (arena offsets never exceed the naive total plus
        // alignment), so an absurd shape is an error, not a trap.
        let sizes = g.nodes.filter { $0.kernel != nil }.map { $0.type?.bytes(batch: batch) }
        guard let total = MemoryLimit.sum(sizes), total < Int.max / 4 else {
            throw PassError("@\(graph.name) at batch \(batch) needs more memory than can be counted (more than 2 EiB): use smaller shapes or a smaller batch")
        }
        var naive = 0
        var buffers: [Buffer] = []
        for n in g.nodes {
            guard let k = n.kernel, let t = n.type else { continue }
            naive += bytes(t, batch: batch)
            guard let last = lastRead[n.result] else { continue }  // never leaves its kernel
            buffers.append(Buffer(value: n.result, bytes: bytes(t, batch: batch), placement: .arena(offset: -1),
                                  first: position[k]!, last: last))
        }

        // Kernels that only do elementwise work may overwrite what they read.
        var elementwiseKernel = Set<String>(kernels)
        for n in g.nodes where n.kernel != nil && !PatternKind.of(n).isEpilogue { elementwiseKernel.remove(n.kernel!) }
        // Values each kernel reads only through elementwise ops.
        func readsOnlyElementwise(_ kernel: String, _ v: String) -> Bool {
            g.nodes.allSatisfy { n in n.kernel != kernel || !n.operands.contains(v) || PatternKind.of(n).isEpilogue }
        }

        // In place: parameter and state updates.
        let storageOf = Dictionary(g.outputs.filter { $0.label.hasPrefix("next.") }.map { ($0.value, String($0.label.dropFirst(5))) },
                                   uniquingKeysWith: { a, _ in a })
        for i in buffers.indices {
            guard let target = storageOf[buffers[i].value], let d = defining[target],
                  g.nodes[d].op == .param || g.nodes[d].op == .state,
                  let kernel = g.nodes[defining[buffers[i].value]!].kernel,
                  (lastRead[target] ?? -1) <= buffers[i].first,
                  readsOnlyElementwise(kernel, target) else { continue }
            buffers[i].placement = .inPlace(of: target)
        }

        // In place: in execution order, a buffer an elementwise kernel writes
        // takes over an operand of the same size that dies in that kernel.
        // A chain of such takeovers is one block of the arena, live from its
        // first writer to its last reader. Buffers come in order of `first`,
        // so `live` (the buffers not yet dead when the current one is
        // written) only ever drops from its front.
        var live: [Int] = []
        var taken = Set<Int>()
        var blockOf: [Int: Int] = [:]   // buffer -> its block's first buffer
        var blockLast: [Int: Int] = [:]  // block -> the last kernel reading any of it
        for i in buffers.indices where buffers[i].placement == .arena(offset: -1) {
            let b = buffers[i]
            live.removeAll { buffers[$0].last < b.first }
            let kernel = g.nodes[defining[b.value]!].kernel!
            if elementwiseKernel.contains(kernel),
               let donor = live.first(where: { d in
                   buffers[d].last == b.first && buffers[d].bytes == b.bytes && buffers[d].first < b.first && !taken.contains(d)
               }) {
                taken.insert(donor)
                buffers[i].placement = .inPlace(of: buffers[donor].value)
                blockOf[i] = blockOf[donor]!
            } else {
                blockOf[i] = i
            }
            blockLast[blockOf[i]!] = max(blockLast[blockOf[i]!] ?? -1, b.last)
            live.append(i)
        }

        // Offsets: the largest blocks first, each at the lowest cache-line-
        // aligned offset that clashes with no placed block live at the same
        // time. Placed in execution order instead, small buffers that
        // happened to come first split the arena into gaps too small for
        // the large ones later: 185 MiB for a child (s1_1 at batch 128)
        // whose blocks never add up to more than 155 MiB live at once.
        let blocks = blockLast.keys.sorted { a, b in
            buffers[a].bytes != buffers[b].bytes ? buffers[a].bytes > buffers[b].bytes : a < b
        }
        var placed: [(offset: Int, bytes: Int, first: Int, last: Int)] = []
        var peak = 0
        for i in blocks {
            let (bytes, first, last) = (buffers[i].bytes, buffers[i].first, blockLast[i]!)
            var offset = 0
            for other in placed.filter({ $0.first <= last && first <= $0.last }).sorted(by: { $0.offset < $1.offset })
            where other.offset < offset + bytes && offset < other.offset + other.bytes {
                offset = max(offset, (other.offset + other.bytes + 63) / 64 * 64)
            }
            buffers[i].placement = .arena(offset: offset)
            placed.append((offset, bytes, first, last))
            peak = max(peak, offset + bytes)
        }
        var change = [Int](repeating: 0, count: end + 2)
        for i in blocks {
            change[buffers[i].first] += buffers[i].bytes
            change[blockLast[i]! + 1] -= buffers[i].bytes
        }
        var running = 0, mostLive = 0
        for c in change { running += c; mostLive = max(mostLive, running) }
        return MemoryPlan(batch: batch, kernels: kernels, buffers: buffers, peakBytes: peak, liveBytes: mostLive, naiveBytes: naive)
    }

    /// The plan as `//` comment lines, to print after the graph it belongs to.
    public func describe() -> String {
        var out = "// memory plan for N = \(batch): arena \(peakBytes) bytes (\(MemoryPlan.human(peakBytes))); "
        out += "naive \(naiveBytes) bytes (\(MemoryPlan.human(naiveBytes))), \(MemoryPlan.percent(peakBytes, naiveBytes)) of it; "
        out += "at most \(liveBytes) bytes (\(MemoryPlan.human(liveBytes))) live at once\n"
        for b in buffers {
            let place: String
            switch b.placement {
            case .arena(let offset): place = "arena +\(offset)"
            case .inPlace(let v): place = "in place of %\(v)"
            }
            out += "//   %\(b.value): \(b.bytes) bytes, \(place), live in kernels \(kernels[b.first])..\(b.last < kernels.count ? kernels[b.last] : "end")\n"
        }
        return out
    }

    public static func human(_ bytes: Int) -> String { MemoryLimit.human(bytes) }

    static func percent(_ a: Int, _ b: Int) -> String {
        b == 0 ? "-" : String(format: "%.1f%%", 100 * Double(a) / Double(b))
    }
}

import Foundation
