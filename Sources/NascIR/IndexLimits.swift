extension Graph {
    /// The exclusive upper bound each i32 graph input must respect, from its
    /// uses: class labels below the number of logits, ids below the vocabulary.
    public func indexLimits() -> [String: Int] {
        let types = valueTypes
        var limits: [String: Int] = [:]
        func limit(_ v: String, _ n: Int?) {
            guard let n else { return }
            limits[v] = min(limits[v] ?? n, n)
        }
        for node in nodes {
            if let index = node.op.definition.index?(node, types) { limit(node.operands[index.operand], index.limit) }
        }
        return limits
    }
}
