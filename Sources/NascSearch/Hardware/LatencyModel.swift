import Foundation
import NascIR
import NascPasses

/// Predicts a child's batch-1 latency (ChildLatency's measurement) from its
/// graph alone, before it is trained or compiled: a per-operator table, as
/// FBNet's, but fitted to whole-network measurements instead of timing each
/// operator alone. Every op of the inference graph falls in a class (its
/// op, and for convolutions: depthwise, 1x1 or dense); each class has a
/// cost per call, per MFLOP and per million output elements, and a child's
/// latency is their sum over its ops plus a constant (the executor's own
/// cost per run). The costs are a non-negative ridge least-squares fit of
/// relative errors to children measured on the machine that will run them.
public struct LatencyModel: Codable, Equatable, Sendable {
    /// Class -> [ms per call, ms per MFLOP, ms per million output elements].
    public var table: [String: [Double]]
    /// Milliseconds per run outside any op.
    public var constant: Double
    /// Children it was fitted to.
    public var samples: Int
    /// The ridge it was fitted with.
    public var ridge: Double? = nil

    public init(table: [String: [Double]], constant: Double, samples: Int, ridge: Double? = nil) {
        (self.table, self.constant, self.samples, self.ridge) = (table, constant, samples, ridge)
    }

    /// The op class of a node (what the table is keyed by).
    static func opClass(_ node: Node, _ types: [String: TensorType]) -> String {
        guard node.op == .conv2d, let w = types[node.operands[1]]?.dims.compactMap(\.staticValue), w.count == 4 else { return node.op.name }
        if node.attrs.groups > 1 && w[1] == 1 { return "conv2d.depthwise" }
        return w[2] == 1 && w[3] == 1 ? "conv2d.1x1" : "conv2d"
    }

    /// Per class: calls, MFLOP and million output elements of the inference graph at batch 1.
    public static func features(_ graph: Graph) throws -> [String: [Double]] {
        let inference = try InferenceGraph.run(graph)
        let types = inference.valueTypes
        var out: [String: [Double]] = [:]
        for node in inference.nodes where PatternKind.of(node) != .source {
            let flops = Double(node.op.definition.flops(of: node, types, batch: 1)) / 1e6
            let elements = Double(node.type?.bound(batch: 1).reduce(1, *) ?? 0) / 1e6
            let f = out[opClass(node, types), default: [0, 0, 0]]
            out[opClass(node, types)] = [f[0] + 1, f[1] + flops, f[2] + elements]
        }
        return out
    }

    /// Predicted milliseconds, and each class's share.
    public func predict(_ features: [String: [Double]]) -> (total: Double, byClass: [String: Double]) {
        var byClass: [String: Double] = [:]
        for (c, f) in features {
            let cost = table[c] ?? [0, 0, 0]  // a class no fitted child had: unknown, counted as free
            byClass[c] = zip(cost, f).reduce(0) { $0 + $1.0 * $1.1 }
        }
        return (max(0, constant + byClass.values.reduce(0, +)), byClass)
    }

    /// Ridge least squares over every class the samples hold.
    public static func fit(_ samples: [(features: [String: [Double]], milliseconds: Double)], ridge: Double = 1e-3) -> LatencyModel {
        let classes = Array(Set(samples.flatMap(\.features.keys))).sorted()
        let width = 1 + 3 * classes.count
        func row(_ f: [String: [Double]]) -> [Double] { [1] + classes.flatMap { f[$0] ?? [0, 0, 0] } }
        let rows = samples.map { row($0.features) }
        // Columns scaled to unit root mean square, so one ridge suits every unit.
        var scale = [Double](repeating: 0, count: width)
        for r in rows { for j in 0..<width { scale[j] += r[j] * r[j] } }
        scale = scale.map { $0 > 0 ? ($0 / Double(max(rows.count, 1))).squareRoot() : 1 }
        var a = [[Double]](repeating: [Double](repeating: 0, count: width), count: width), b = [Double](repeating: 0, count: width)
        // Each child weighed by 1 / its latency squared: the fit minimizes
        // relative errors, so fast children count as much as slow ones.
        for (r, s) in zip(rows, samples) {
            let x = zip(r, scale).map { $0 / $1 }, weight = 1 / max(s.milliseconds * s.milliseconds, 1e-12)
            for i in 0..<width {
                b[i] += weight * x[i] * s.milliseconds
                for j in 0..<width { a[i][j] += weight * x[i] * x[j] }
            }
        }
        let meanWeight = samples.reduce(0) { $0 + 1 / max($1.milliseconds * $1.milliseconds, 1e-12) } / Double(max(samples.count, 1))
        for i in 1..<width { a[i][i] += ridge * meanWeight * Double(rows.count) }  // not on the constant
        // No cost is negative (a negative one fits noise and predicts
        // nonsense out of sample): the most negative is fixed at 0 and the
        // rest fitted again, until none is.
        var free = Array(0..<width), w = [Double](repeating: 0, count: width)
        while true {
            let solved = solve(free.map { i in free.map { a[i][$0] } }, free.map { b[$0] })
            w = [Double](repeating: 0, count: width)
            for (k, i) in free.enumerated() { w[i] = solved[k] }
            guard let worst = free.filter({ $0 > 0 && w[$0] < 0 }).min(by: { w[$0] < w[$1] }) else { break }
            free.removeAll { $0 == worst }
        }
        w = zip(w, scale).map { $0 / $1 }
        var table: [String: [Double]] = [:]
        for (k, c) in classes.enumerated() { table[c] = Array(w[(1 + 3 * k)..<(4 + 3 * k)]) }
        return LatencyModel(table: table, constant: w[0], samples: samples.count, ridge: ridge)
    }

    /// Gaussian elimination with partial pivoting (a ridge system is never singular).
    static func solve(_ matrix: [[Double]], _ rhs: [Double]) -> [Double] {
        var (m, v) = (matrix, rhs)
        let n = v.count
        for c in 0..<n {
            let p = (c..<n).max { abs(m[$0][c]) < abs(m[$1][c]) }!
            m.swapAt(c, p)
            v.swapAt(c, p)
            guard m[c][c] != 0 else { continue }
            for r in (c + 1)..<n where m[r][c] != 0 {
                let f = m[r][c] / m[c][c]
                for j in c..<n { m[r][j] -= f * m[c][j] }
                v[r] -= f * v[c]
            }
        }
        var x = [Double](repeating: 0, count: n)
        for r in stride(from: n - 1, through: 0, by: -1) {
            let s = ((r + 1)..<n).reduce(v[r]) { $0 - m[r][$1] * x[$1] }
            x[r] = m[r][r] == 0 ? 0 : s / m[r][r]
        }
        return x
    }

    /// Ridges tried by `fitSelectingRidge`.
    public static let ridges = [1e-4, 1e-3, 1e-2, 1e-1, 1]

    /// The fit whose ridge predicts best in a 5-fold cross-validation on
    /// `samples` themselves (few children and many classes overfit a weak
    /// ridge; many children afford a weak one).
    public static func fitSelectingRidge(_ samples: [(features: [String: [Double]], milliseconds: Double)]) -> LatencyModel {
        guard samples.count >= 10 else { return fit(samples, ridge: ridges.last!) }
        let best = ridges.min { a, b in
            crossValidate(samples, fit: { fit($0, ridge: a) }).mape < crossValidate(samples, fit: { fit($0, ridge: b) }).mape
        }!
        var model = fit(samples, ridge: best)
        model.ridge = best
        return model
    }

    /// How well a model fitted on the rest predicts each of `folds` parts:
    /// the mean absolute percentage error and Kendall's tau-b of predicted
    /// against measured, over every sample as predicted by the fit without it.
    public static func crossValidate(_ samples: [(features: [String: [Double]], milliseconds: Double)], folds: Int = 5,
                                     fit: ([(features: [String: [Double]], milliseconds: Double)]) -> LatencyModel = { LatencyModel.fit($0) })
        -> (mape: Double, tau: Double?, predicted: [Double]) {
        var predicted = [Double](repeating: 0, count: samples.count)
        for k in 0..<folds {
            let held = samples.indices.filter { $0 % folds == k }
            let model = fit(samples.indices.filter { $0 % folds != k }.map { samples[$0] })
            for i in held { predicted[i] = model.predict(samples[i].features).total }
        }
        let measured = samples.map(\.milliseconds)
        let mape = zip(predicted, measured).reduce(0) { $0 + abs($1.0 - $1.1) / $1.1 } / Double(max(samples.count, 1))
        return (mape, RankCorrelation.kendall(predicted, measured), predicted)
    }

    /// The features of the simplest model, for comparison: latency
    /// proportional to MFLOP, plus a constant.
    public static func flopsOnly(_ features: [String: [Double]]) -> [String: [Double]] {
        ["all": [0, features.values.reduce(0) { $0 + $1[1] }, 0]]
    }
}
