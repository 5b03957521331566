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
/// feeds. Sources (`param`, `state`, `const`) stay outside kernels.
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

        // Groups each group depends on, directly or not.
        func ancestors() -> [Set<Int>] {
            var direct = [Set<Int>](repeating: [], count: groups.count)
            for (i, n) in g.nodes.enumerated() {
                guard let gi = groupOf[i] else { continue }
                for v in n.operands { if let p = producerGroup(v), p != gi { direct[gi].insert(p) } }
            }
            var memo = [Set<Int>?](repeating: nil, count: groups.count)
            func closure(_ x: Int) -> Set<Int> {
                if let m = memo[x] { return m }
                memo[x] = []  // the graph is acyclic; this only guards the recursion
                var s = direct[x]
                for d in direct[x] { s.formUnion(closure(d)) }
                memo[x] = s
                return s
            }
            return (0..<groups.count).map(closure)
        }

        // Joining `from` into `into` is convex unless some third group lies on
        // a path between them.
        func convex(_ from: Int, _ into: Int, _ anc: [Set<Int>]) -> Bool {
            for x in 0..<groups.count where x != from && x != into && groups[x].alive {
                if anc[x].contains(from) && anc[into].contains(x) { return false }
                if anc[x].contains(into) && anc[from].contains(x) { return false }
            }
            return true
        }

        // Phase 1: in dependency order, each epilogue op joins a producer's kernel.
        for (i, node) in g.nodes.enumerated() {
            let kind = PatternKind.of(node)
            guard kind != .source else { continue }
            let shape = node.type!
            var joined = false
            if kind.isEpilogue {
                let anc = ancestors()
                // Prefer the kernel of a heavy anchor (a gradient, a conv) over a
                // chain of elementwise ops, which can still merge into it later.
                let candidates = node.operands.filter { producerGroup($0) != nil }
                    .sorted { a, b in !groups[producerGroup(a)!].isPureElementwise && groups[producerGroup(b)!].isPureElementwise }
                for v in candidates {
                    guard let p = producerGroup(v), !groups[p].closed, groups[p].shape == shape else { continue }
                    // Another operand's kernel must not depend on this one.
                    let others = node.operands.compactMap(producerGroup).filter { $0 != p }
                    guard !others.contains(where: { anc[$0].contains(p) }) else { continue }
                    groups[p].members.append(i)
                    groupOf[i] = p
                    joined = true
                    break
                }
            }
            if !joined {
                groupOf[i] = groups.count
                groups.append(Group(anchor: i, kind: kind, shape: shape,
                                    closed: kind == .opaque || PatternKind.sumsOverBatch(node, types)))
            }
        }

        // Phase 2: merge elementwise kernels into the kernels they feed.
        var merged = true
        while merged {
            merged = false
            let anc = ancestors()
            search: for h in groups.indices where groups[h].alive && groups[h].isPureElementwise {
                let consumers = Set(groups[h].members.flatMap { m in users(of: g.nodes[m].result, g) }.compactMap { groupOf[$0] })
                    .subtracting([h])
                for c in consumers.sorted() where groups[c].alive && groups[c].shape == groups[h].shape {
                    // A kernel of elementwise ops merges into any kernel it feeds
                    // if it reads no other kernel (a prologue), or into another
                    // elementwise kernel.
                    // A prologue feeds the epilogue, never the anchor, which needs
                    // its operands whole in memory.
                    let anchor = g.nodes[groups[c].members[0]]
                    let feedsAnchor = groups[h].members.contains { anchor.operands.contains(g.nodes[$0].result) }
                    guard groups[c].isPureElementwise || (anc[h].isEmpty && !feedsAnchor), !groups[c].closed,
                          convex(h, c, anc) else { continue }
                    for m in groups[h].members { groupOf[m] = c }
                    groups[c].members += groups[h].members
                    groups[h].alive = false
                    merged = true
                    break search
                }
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

    static func users(of value: String, _ g: Graph) -> [Int] {
        g.nodes.indices.filter { g.nodes[$0].operands.contains(value) }
    }
}
