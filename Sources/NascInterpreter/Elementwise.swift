import NascIR

extension Interpreter {
    static func map(_ x: Tensor, _ f: (Double) -> Double) -> Tensor {
        Tensor(x.dtype, shape: x.shape, data: x.data.map(f))
    }

    /// Elementwise on equal shapes, or with one side a scalar broadcast to the other.
    static func zip(_ a: Tensor, _ b: Tensor, _ f: (Double, Double) -> Double) -> Tensor {
        if a.shape == b.shape {
            return Tensor(a.dtype, shape: a.shape, data: (0..<a.count).map { f(a.data[$0], b.data[$0]) })
        }
        if b.rank == 0 {
            let s = b.data[0]
            return Tensor(a.dtype, shape: a.shape, data: a.data.map { f($0, s) })
        }
        let s = a.data[0]
        return Tensor(b.dtype, shape: b.shape, data: b.data.map { f(s, $0) })
    }

    static func biasAdd(_ x: Tensor, _ bias: Tensor) -> Tensor {
        var y = x
        let (n, c, inner) = (x.shape[0], x.shape[1], x.inner)
        for i in 0..<n { for k in 0..<c { for j in 0..<inner { y.data[(i * c + k) * inner + j] += bias.data[k] } } }
        return y
    }

    /// Sum over every axis but 1: the gradient of a per-channel bias.
    static func channelSum(_ x: Tensor) -> Tensor {
        let (n, c, inner) = (x.shape[0], x.shape[1], x.inner)
        var out = Tensor(shape: [c])
        for i in 0..<n { for k in 0..<c { for j in 0..<inner { out.data[k] += x.data[(i * c + k) * inner + j] } } }
        return out
    }

    static func matmul(_ a: Tensor, _ b: Tensor, transposeA: Bool, transposeB: Bool) -> Tensor {
        let (m, k) = transposeA ? (a.shape[1], a.shape[0]) : (a.shape[0], a.shape[1])
        let p = transposeB ? b.shape[0] : b.shape[1]
        func av(_ i: Int, _ j: Int) -> Double { transposeA ? a.data[j * a.shape[1] + i] : a.data[i * a.shape[1] + j] }
        func bv(_ i: Int, _ j: Int) -> Double { transposeB ? b.data[j * b.shape[1] + i] : b.data[i * b.shape[1] + j] }
        var out = Tensor(shape: [m, p])
        for i in 0..<m {
            for j in 0..<p {
                var s = 0.0
                for t in 0..<k { s += av(i, t) * bv(t, j) }
                out.data[i * p + j] = s
            }
        }
        return out
    }
}
