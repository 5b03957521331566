import NascIR

/// Operator fusion: groups the graph's ops into kernels (`kernel @kN { ... }`),
/// each run as one loop nest over one iteration space, so the values inside a
/// kernel never reach memory.
///
/// The rule, after TVM's FuseOps: an elementwise or broadcast op joins the
/// kernel of an operand's producer when it iterates over the same shape and
/// the join keeps every kernel convex (no path leaves the kernel and comes
/// back). Any kernel except one anchored by an opaque op or by a sum over
/// the batch (a weight gradient, which runs as batch chunks on several
/// threads: see PatternKind.sumsOverBatch) takes such an epilogue, so bias,
/// batch norm in inference mode and activations follow a conv or matmul.
/// Then kernels of elementwise ops merge into the kernel they feed when the
/// shapes match: chains and diamonds become one loop, and an elementwise op
/// on parameters alone (weight decay) becomes the prologue of the update it
/// feeds. Last, kernels of batch statistics that sum the same values merge
/// side by side (sharesStatistics). Sources (`param`, `state`, `const`)
/// stay outside kernels.
public enum Fusion {
    final class Group {
        var members: [Int]
        let anchorKind: PatternKind
        let shape: TensorType
        /// Anchored by an opaque op or a sum over the batch: takes no epilogue.
        let closed: Bool
        var alive = true
        init(anchor: Int, kind: PatternKind, shape: TensorType, closed: Bool) {
            members = [anchor]
            anchorKind = kind
            self.shape = shape
            self.closed = closed
        }
        /// Every member is elementwise or broadcast: the group is one plain loop.
        var isPureElementwise: Bool { anchorKind.isEpilogue }
    }

    public static func run(_ graph: Graph) throws(PassError) -> Graph {
        var g = graph.sorted()
        for i in g.nodes.indices { g.nodes[i].kernel = nil }
        let defining = g.definingNode
        let types = g.valueTypes
        var groupOf = [Int?](repeating: nil, count: g.nodes.count)
        var groups: [Group] = []

        func producerGroup(_ v: String) -> Int? { defining[v].flatMap { groupOf[$0] } }

        // The groups each group reads from directly, kept up to date as groups
        // grow and merge; "depends on" questions walk these edges. (Closures
        // of every group, recomputed per decision, were cubic: most of a
        // 12-layer child's compile time.)
        var direct: [Set<Int>] = []
        var mark: [Int] = [], stamp = 0
        // Whether `target` is reachable from any of `starts` along `direct`.
        func reaches(_ starts: Set<Int>, _ target: Int) -> Bool {
            stamp += 1
            while mark.count < groups.count { mark.append(0) }
            var stack = Array(starts)
            while let x = stack.popLast() {
                if x == target { return true }
                if mark[x] == stamp { continue }
                mark[x] = stamp
                stack.append(contentsOf: direct[x])
            }
            return false
        }
        func dependsOn(_ a: Int, _ b: Int) -> Bool { reaches(direct[a], b) }

        func merge(_ h: Int, into c: Int) {
            for m in groups[h].members { groupOf[m] = c }
            groups[c].members += groups[h].members
            groups[h].alive = false
            direct[c] = direct[c].union(direct[h]).subtracting([c, h])
            for x in direct.indices where direct[x].contains(h) {
                direct[x].remove(h)
                if x != c { direct[x].insert(c) }
            }
            direct[h] = []
        }

        // Joining `from` into `into` is convex unless some third group lies on
        // a path between them: `into` reads a group other than `from` that
        // depends on `from`, or the other way round.
        func convex(_ from: Int, _ into: Int) -> Bool {
            !reaches(direct[into].subtracting([from]), from) && !reaches(direct[from].subtracting([into]), into)
        }

        // Phase 1: in dependency order, each epilogue op joins a producer's kernel.
        for (i, node) in g.nodes.enumerated() {
            let kind = PatternKind.of(node)
            guard kind != .source else { continue }
            let shape = node.type!
            var joined = false
            if kind.isEpilogue {
                // Prefer the kernel of a heavy anchor (a gradient, a conv) over a
                // chain of elementwise ops, which can still merge into it later.
                let candidates = node.operands.filter { producerGroup($0) != nil }
                    .sorted { a, b in !groups[producerGroup(a)!].isPureElementwise && groups[producerGroup(b)!].isPureElementwise }
                for v in candidates {
                    guard let p = producerGroup(v), !groups[p].closed, groups[p].shape == shape else { continue }
                    // Another operand's kernel must not depend on this one.
                    let others = node.operands.compactMap(producerGroup).filter { $0 != p }
                    guard !others.contains(where: { dependsOn($0, p) }) else { continue }
                    groups[p].members.append(i)
                    groupOf[i] = p
                    direct[p].formUnion(others)
                    joined = true
                    break
                }
            }
            if !joined {
                groupOf[i] = groups.count
                groups.append(Group(anchor: i, kind: kind, shape: shape,
                                    closed: kind == .opaque || PatternKind.sumsOverBatch(node, types)))
                direct.append(Set(node.operands.compactMap(producerGroup).filter { $0 != groupOf[i] }))
            }
        }

        // Phase 2: merge elementwise kernels into the kernels they feed.
        var users: [String: [Int]] = [:]
        for (i, n) in g.nodes.enumerated() { for v in Set(n.operands) { users[v, default: []].append(i) } }
        var merged = true
        while merged {
            merged = false
            search: for h in groups.indices where groups[h].alive && groups[h].isPureElementwise {
                let consumers = Set(groups[h].members.flatMap { m in users[g.nodes[m].result] ?? [] }.compactMap { groupOf[$0] })
                    .subtracting([h])
                for c in consumers.sorted() where groups[c].alive && groups[c].shape == groups[h].shape {
                    // A kernel of elementwise ops merges into any kernel it feeds
                    // if it reads no other kernel (a prologue), or into another
                    // elementwise kernel.
                    // A prologue feeds the epilogue, never the anchor, which needs
                    // its operands whole in memory.
                    let anchor = g.nodes[groups[c].members[0]]
                    let feedsAnchor = groups[h].members.contains { anchor.operands.contains(g.nodes[$0].result) }
                    guard groups[c].isPureElementwise || (direct[h].isEmpty && !feedsAnchor), !groups[c].closed,
                          convex(h, c) else { continue }
                    merge(h, into: c)
                    merged = true
                    break search
                }
            }
        }

        // Phase 3: kernels of batch statistics over the same values merge
        // side by side: batch mean and variance (the running statistics'
        // updates) into the training batch norm of the same input, gamma's
        // gradient into the batch-norm gradient of the same dy and input.
        // Each of them read the whole activation from memory for the same
        // per-channel sums; one kernel computes them once (ChannelLowering).
        for h in groups.indices where groups[h].alive {
            let a = g.nodes[groups[h].members[0]]
            for c in groups.indices where c != h && groups[c].alive {
                guard sharesStatistics(a, with: g.nodes[groups[c].members[0]]), !dependsOn(h, c), !dependsOn(c, h), convex(h, c) else { continue }
                merge(h, into: c)
                break
            }
        }

        // Name kernels in execution order.
        for i in g.nodes.indices { g.nodes[i].kernel = groupOf[i].map { "g\($0)" } }
        g = g.sorted()
        var names: [String: String] = [:]
        for i in g.nodes.indices {
            guard let k = g.nodes[i].kernel else { continue }
            if names[k] == nil { names[k] = "k\(names.count)" }
            g.nodes[i].kernel = names[k]
        }
        return try GraphBuilder(g).finish(pass: "fusion")
    }

    /// Whether `sibling`, an op of batch statistics, sums what `anchor`
    /// sums: the same input (and output gradient), in training mode.
    public static func sharesStatistics(_ sibling: Node, with anchor: Node) -> Bool {
        guard anchor.attrs["mode"] == .symbol("train") else { return false }
        if anchor.op == .batchNorm && (sibling.op == .batchMean || sibling.op == .batchVar) {
            return sibling.operands[0] == anchor.operands[0]
        }
        if anchor.op == .batchNormGrad && sibling.op == .batchNormGradGamma {
            return sibling.attrs.symbol("mode") == "train" && sibling.operands.prefix(2) == anchor.operands.prefix(2)
        }
        return false
    }
}
