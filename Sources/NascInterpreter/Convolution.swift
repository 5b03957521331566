import NascIR

typealias WindowAxis = WindowGeometry

extension Interpreter {
    /// The two window axes of a conv or pool over a [.., .., H, W] input.
    static func windows(height: Int, width: Int, kernel: [Int], _ a: Attributes) -> (WindowAxis, WindowAxis) {
        let s = a.ints("stride"), pad = a.symbol("pad"), d = a.dilation
        return (WindowAxis(size: height, kernel: kernel[0], stride: s[0], pad: pad, dilation: d[0]),
                WindowAxis(size: width, kernel: kernel[1], stride: s[1], pad: pad, dilation: d[1]))
    }

    /// Visits every (output position, filter tap, input position) of a conv
    /// whose input position is inside the image; forward and both gradients
    /// are this loop with a different body, so they cannot disagree on indexing.
    /// `c` is the filter's channel (one of the C/groups of output channel
    /// `o`'s group) and `ci` the input channel it reads.
    @inline(__always)
    static func forEachTap(batch: Int, outChannels: Int, inChannels: Int, inH: Int, inW: Int, kernel: [Int],
                           _ a: Attributes,
                           _ body: (_ n: Int, _ o: Int, _ c: Int, _ ci: Int, _ oh: Int, _ ow: Int, _ kh: Int, _ kw: Int, _ ih: Int, _ iw: Int) -> Void) {
        let (wh, ww) = windows(height: inH, width: inW, kernel: kernel, a)
        let perGroup = inChannels / a.groups, outPerGroup = outChannels / a.groups
        // Output position innermost: consecutive taps touch consecutive memory.
        for n in 0..<batch { for o in 0..<outChannels { for c in 0..<perGroup {
            let ci = (o / outPerGroup) * perGroup + c
            for kh in 0..<kernel[0] { for oh in 0..<wh.outputs {
                let ih = wh.input(oh, kh)
                guard ih >= 0, ih < inH else { continue }
                for kw in 0..<kernel[1] { for ow in 0..<ww.outputs {
                    let iw = ww.input(ow, kw)
                    if iw >= 0, iw < inW { body(n, o, c, ci, oh, ow, kh, kw, ih, iw) }
                } }
            } }
        } } }
    }

    // The bodies index raw buffers: the loops are the same plain loops, but
    // without a bounds and exclusivity check per tap the interpreter runs a
    // NAS child's training step in seconds rather than minutes.

    static func conv2d(_ x: Tensor, _ w: Tensor, _ a: Attributes, shape: [Int]) -> Tensor {
        var y = Tensor(shape: shape)
        let (xs, ws, ys) = (Strides4(x.shape), Strides4(w.shape), Strides4(shape))
        x.data.withUnsafeBufferPointer { xp in w.data.withUnsafeBufferPointer { wp in y.data.withUnsafeMutableBufferPointer { yp in
            forEachTap(batch: x.shape[0], outChannels: w.shape[0], inChannels: x.shape[1], inH: x.shape[2], inW: x.shape[3],
                       kernel: [w.shape[2], w.shape[3]], a) { n, o, c, ci, oh, ow, kh, kw, ih, iw in
                yp[n * ys.n + o * ys.c + oh * ys.h + ow] += xp[n * xs.n + ci * xs.c + ih * xs.h + iw] * wp[o * ws.n + c * ws.c + kh * ws.h + kw]
            }
        } } }
        return y
    }

    static func conv2dGradInput(_ dy: Tensor, _ w: Tensor, _ a: Attributes, shape: [Int]) -> Tensor {
        var dx = Tensor(shape: shape)
        let (xs, ws, ys) = (Strides4(shape), Strides4(w.shape), Strides4(dy.shape))
        dy.data.withUnsafeBufferPointer { yp in w.data.withUnsafeBufferPointer { wp in dx.data.withUnsafeMutableBufferPointer { xp in
            forEachTap(batch: shape[0], outChannels: w.shape[0], inChannels: shape[1], inH: shape[2], inW: shape[3],
                       kernel: [w.shape[2], w.shape[3]], a) { n, o, c, ci, oh, ow, kh, kw, ih, iw in
                xp[n * xs.n + ci * xs.c + ih * xs.h + iw] += yp[n * ys.n + o * ys.c + oh * ys.h + ow] * wp[o * ws.n + c * ws.c + kh * ws.h + kw]
            }
        } } }
        return dx
    }

    static func conv2dGradFilter(_ x: Tensor, _ dy: Tensor, _ a: Attributes, shape: [Int]) -> Tensor {
        var dw = Tensor(shape: shape)
        let (xs, ws, ys) = (Strides4(x.shape), Strides4(shape), Strides4(dy.shape))
        x.data.withUnsafeBufferPointer { xp in dy.data.withUnsafeBufferPointer { yp in dw.data.withUnsafeMutableBufferPointer { wp in
            forEachTap(batch: x.shape[0], outChannels: shape[0], inChannels: x.shape[1], inH: x.shape[2], inW: x.shape[3],
                       kernel: [shape[2], shape[3]], a) { n, o, c, ci, oh, ow, kh, kw, ih, iw in
                wp[o * ws.n + c * ws.c + kh * ws.h + kw] += xp[n * xs.n + ci * xs.c + ih * xs.h + iw] * yp[n * ys.n + o * ys.c + oh * ys.h + ow]
            }
        } } }
        return dw
    }
}

/// Row-major strides of a 4-D shape, as plain integers for the inner loops.
struct Strides4 {
    let n, c, h: Int
    init(_ shape: [Int]) {
        h = shape[3]
        c = shape[2] * shape[3]
        n = shape[1] * shape[2] * shape[3]
    }
}
