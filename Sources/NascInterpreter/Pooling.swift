import NascIR

/// Pools see only the image: with `pad = same`, max pooling ignores the
/// padding (as if it were -infinity) and average pooling divides by the
/// number of taps inside the image, as TensorFlow does.
extension Interpreter {
    /// Visits every output position with the in-image taps of its window.
    static func forEachWindow(_ inShape: [Int], _ a: Attributes,
                              _ body: (_ n: Int, _ c: Int, _ oh: Int, _ ow: Int, _ taps: [(Int, Int)]) -> Void) {
        let k = a.ints("window")
        let (wh, ww) = windows(height: inShape[2], width: inShape[3], kernel: k, a)
        for n in 0..<inShape[0] { for c in 0..<inShape[1] { for oh in 0..<wh.outputs { for ow in 0..<ww.outputs {
            var taps: [(Int, Int)] = []
            for kh in 0..<k[0] { for kw in 0..<k[1] {
                let ih = wh.input(oh, kh), iw = ww.input(ow, kw)
                if ih >= 0, ih < inShape[2], iw >= 0, iw < inShape[3] { taps.append((ih, iw)) }
            } }
            body(n, c, oh, ow, taps)
        } } } }
    }

    static func maxPool(_ x: Tensor, _ a: Attributes, shape: [Int]) -> Tensor {
        var y = Tensor(shape: shape)
        forEachWindow(x.shape, a) { n, c, oh, ow, taps in
            y.data[y.at4(n, c, oh, ow)] = taps.map { x.data[x.at4(n, c, $0.0, $0.1)] }.max() ?? 0
        }
        return y
    }

    /// The gradient goes to the first maximal tap of each window (ties are
    /// measure-zero for real data; the first one keeps it deterministic).
    static func maxPoolGrad(_ dy: Tensor, _ x: Tensor, _ a: Attributes) -> Tensor {
        var dx = Tensor(shape: x.shape)
        forEachWindow(x.shape, a) { n, c, oh, ow, taps in
            guard var best = taps.first else { return }
            for t in taps where x.data[x.at4(n, c, t.0, t.1)] > x.data[x.at4(n, c, best.0, best.1)] { best = t }
            dx.data[dx.at4(n, c, best.0, best.1)] += dy.data[dy.at4(n, c, oh, ow)]
        }
        return dx
    }

    static func avgPool(_ x: Tensor, _ a: Attributes, shape: [Int]) -> Tensor {
        var y = Tensor(shape: shape)
        forEachWindow(x.shape, a) { n, c, oh, ow, taps in
            y.data[y.at4(n, c, oh, ow)] = taps.reduce(0) { $0 + x.data[x.at4(n, c, $1.0, $1.1)] } / Double(taps.count)
        }
        return y
    }

    static func avgPoolGrad(_ dy: Tensor, _ a: Attributes, shape: [Int]) -> Tensor {
        var dx = Tensor(shape: shape)
        forEachWindow(shape, a) { n, c, oh, ow, taps in
            let share = dy.data[dy.at4(n, c, oh, ow)] / Double(taps.count)
            for t in taps { dx.data[dx.at4(n, c, t.0, t.1)] += share }
        }
        return dx
    }

    static func globalAvgPool(_ x: Tensor) -> Tensor {
        let (n, c, inner) = (x.shape[0], x.shape[1], x.inner)
        var y = Tensor(shape: [n, c])
        for i in 0..<n * c { y.data[i] = x.data[i * inner..<(i + 1) * inner].reduce(0, +) / Double(inner) }
        return y
    }

    static func globalAvgPoolGrad(_ dy: Tensor, shape: [Int]) -> Tensor {
        var dx = Tensor(shape: shape)
        let inner = dx.inner
        for i in 0..<dy.count { for j in 0..<inner { dx.data[i * inner + j] = dy.data[i] / Double(inner) } }
        return dx
    }
}
