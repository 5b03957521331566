import Foundation
import NascIR
import NascPasses
import NascRuntime

/// NASWOT (Mellor et al. 2021, "Neural architecture search without
/// training"): every ReLU unit is on or off for an image, so each image has
/// a binary code over all the network's units. Networks whose untrained
/// codes tell the images of a batch apart train better; the score is
/// log |det K|, K[i, j] the number of units on which images i and j agree
/// (K = C C^T + (1 - C)(1 - C)^T, positive semidefinite).
public struct NASWOT: ZeroCostProxy {
    public var kind: ProxyKind { .naswot }
    public init() {}

    public func score(_ child: Graph, on batch: ProxyBatch, seed: UInt64, threads: Int) throws -> Double {
        try checkInputs(child)
        // Every ReLU's result becomes an output, so the forward pass keeps it.
        var b = GraphBuilder(child)
        let relus = child.nodes.filter { $0.op == .relu }.map(\.result)
        guard !relus.isEmpty else { throw ProxyError("@\(child.name) has no relu: NASWOT scores the on/off codes of ReLUs") }
        b.removeOutputs { $0.label != "loss" }
        for (k, value) in relus.enumerated() { b.addOutput("naswot.relu\(k)", value) }
        let graph = try b.finish(pass: "naswot")
        let n = batch.count
        let compiled = try compiled(graph, initialOf: child, seed: seed, batch: n, threads: threads)
        let labels = Set(relus.indices.map { "naswot.relu\($0)" })
        let outputs = try compiled.run(floats: ["x": batch.images], ints: ["y": batch.labels], batch: n, reading: labels)
        // Codes packed 64 units a word, image by image.
        var codes = [[UInt64]](repeating: [], count: n)
        var units = 0
        for label in labels.sorted() {
            let values = outputs[label]!.values
            let perImage = values.count / n
            units += perImage
            for i in 0..<n {
                var word: UInt64 = 0, bits = 0
                for v in values[(i * perImage)..<((i + 1) * perImage)] {
                    if v > 0 { word |= 1 << UInt64(bits) }
                    bits += 1
                    if bits == 64 { codes[i].append(word); word = 0; bits = 0 }
                }
                if bits > 0 { codes[i].append(word) }
            }
        }
        var k = [[Double]](repeating: [Double](repeating: 0, count: n), count: n)
        for i in 0..<n {
            k[i][i] = Double(units)
            for j in 0..<i {
                let differ = zip(codes[i], codes[j]).reduce(0) { $0 + ($1.0 ^ $1.1).nonzeroBitCount }
                k[i][j] = Double(units - differ)
                k[j][i] = k[i][j]
            }
        }
        return Self.logAbsDeterminant(k)
    }

    /// log |det m| by Gaussian elimination with partial pivoting; -infinity
    /// for a singular matrix (two images with the same code).
    public static func logAbsDeterminant(_ matrix: [[Double]]) -> Double {
        var m = matrix
        let n = m.count
        var sum = 0.0
        for c in 0..<n {
            let pivot = (c..<n).max { abs(m[$0][c]) < abs(m[$1][c]) }!
            guard m[pivot][c] != 0 else { return -.infinity }
            m.swapAt(c, pivot)
            sum += log(abs(m[c][c]))
            for r in (c + 1)..<n where m[r][c] != 0 {
                let f = m[r][c] / m[c][c]
                for j in c..<n { m[r][j] -= f * m[c][j] }
            }
        }
        return sum
    }
}
