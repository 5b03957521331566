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
            switch node.op {
            case .softmaxCrossEntropy, .softmaxCrossEntropyGrad, .weightedSoftmaxCrossEntropy, .weightedSoftmaxCrossEntropyGrad:
                limit(node.operands[1], types[node.operands[0]]?.dims[1].staticValue)
            case .embedding:
                limit(node.operands[1], types[node.operands[0]]?.dims[0].staticValue)
            case .embeddingGrad:
                limit(node.operands[1], node.attrs.int("vocab"))
            default:
                break
            }
        }
        return limits
    }
}
