import Foundation
import NascIR

/// Lookups, softmax and the classification loss.
extension Interpreter {
    static func checkIndex(_ v: Double, _ limit: Int, _ what: String, at i: Int) throws(InterpreterError) -> Int {
        let k = Int(v)
        guard k >= 0, k < limit else { throw InterpreterError("\(what) \(k) at position \(i) is out of range 0..<\(limit)") }
        return k
    }

    static func embedding(_ table: Tensor, _ ids: Tensor) throws(InterpreterError) -> Tensor {
        let (v, d) = (table.shape[0], table.shape[1])
        var out = Tensor(shape: ids.shape + [d])
        for (i, id) in ids.data.enumerated() {
            let row = try checkIndex(id, v, "id", at: i)
            for j in 0..<d { out.data[i * d + j] = table.data[row * d + j] }
        }
        return out
    }

    static func embeddingGrad(_ dy: Tensor, _ ids: Tensor, shape: [Int]) throws(InterpreterError) -> Tensor {
        var out = Tensor(shape: shape)
        let d = shape[1]
        for (i, id) in ids.data.enumerated() {
            let row = try checkIndex(id, shape[0], "id", at: i)
            for j in 0..<d { out.data[row * d + j] += dy.data[i * d + j] }
        }
        return out
    }

    /// Row-wise softmax, shifted by the row maximum so exp never overflows.
    static func softmax(_ x: Tensor) -> Tensor {
        let (rows, k) = (x.shape[0], x.shape[1])
        var y = x
        for r in 0..<rows {
            let row = x.data[r * k..<(r + 1) * k]
            let top = row.max() ?? 0
            let e = row.map { exp($0 - top) }
            let total = e.reduce(0, +)
            for j in 0..<k { y.data[r * k + j] = e[j] / total }
        }
        return y
    }

    static func softmaxGrad(_ dy: Tensor, _ y: Tensor) -> Tensor {
        let (rows, k) = (y.shape[0], y.shape[1])
        var dx = y
        for r in 0..<rows {
            var dot = 0.0
            for j in 0..<k { dot += dy.data[r * k + j] * y.data[r * k + j] }
            for j in 0..<k { dx.data[r * k + j] = y.data[r * k + j] * (dy.data[r * k + j] - dot) }
        }
        return dx
    }

    /// Mean over the batch of -log softmax(logits)[label]; with smoothing
    /// ε, of -sum_k q_k log softmax(logits)[k] with q = (1 - ε) onehot + ε / K.
    /// With `weights`, row r's term is multiplied by weights[r].
    static func softmaxCrossEntropy(_ logits: Tensor, _ labels: Tensor, weights: Tensor? = nil, smoothing e: Double = 0) throws(InterpreterError) -> Tensor {
        let (rows, k) = (logits.shape[0], logits.shape[1])
        var total = 0.0
        for r in 0..<rows {
            let label = try checkIndex(labels.data[r], k, "label", at: r)
            let row = logits.data[r * k..<(r + 1) * k]
            let top = row.max() ?? 0
            let logSum = log(row.reduce(0) { $0 + exp($1 - top) }) + top
            let target = (1 - e) * logits.data[r * k + label] + e * row.reduce(0, +) / Double(k)
            total += (logSum - target) * (weights?.data[r] ?? 1)
        }
        return .scalar(total / Double(max(rows, 1)))
    }

    /// d loss / d logits = (softmax - q) / rows, times the incoming dloss,
    /// with q the (smoothed) target.
    static func softmaxCrossEntropyGrad(_ logits: Tensor, _ labels: Tensor, _ dloss: Tensor, weights: Tensor? = nil, smoothing e: Double = 0) throws(InterpreterError) -> Tensor {
        let (rows, k) = (logits.shape[0], logits.shape[1])
        var dx = softmax(logits)
        let scale = dloss.data[0] / Double(max(rows, 1))
        for r in 0..<rows {
            let label = try checkIndex(labels.data[r], k, "label", at: r)
            dx.data[r * k + label] -= 1 - e
            for j in 0..<k { dx.data[r * k + j] = (dx.data[r * k + j] - e / Double(k)) * scale * (weights?.data[r] ?? 1) }
        }
        return dx
    }
}
