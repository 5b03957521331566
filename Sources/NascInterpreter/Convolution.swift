import NascIR

/// Where a sliding window starts along one axis. `same` pads so the output
/// has ceil(size / stride) positions, splitting the padding as TensorFlow
/// does (the extra row or column at the end); `valid` does not pad.
struct WindowAxis {
    let outputs: Int
    let padBefore: Int
    let stride: Int

    init(size: Int, kernel: Int, stride: Int, pad: String) {
        self.stride = stride
        if pad == "same" {
            outputs = (size - 1) / stride + 1
            padBefore = max((outputs - 1) * stride + kernel - size, 0) / 2
        } else {
            outputs = (size - kernel) / stride + 1
            padBefore = 0
        }
    }

    /// Input position of window tap `k` at output position `o` (may be out of range: padding).
    @inline(__always) func input(_ o: Int, _ k: Int) -> Int { o * stride - padBefore + k }
}

extension Interpreter {
    /// The two window axes of a conv or pool over a [.., .., H, W] input.
    static func windows(height: Int, width: Int, kernel: [Int], _ a: Attributes) -> (WindowAxis, WindowAxis) {
        let s = a.ints("stride"), pad = a.symbol("pad")
        return (WindowAxis(size: height, kernel: kernel[0], stride: s[0], pad: pad),
                WindowAxis(size: width, kernel: kernel[1], stride: s[1], pad: pad))
    }

    /// Visits every (output position, filter tap, input position) of a conv
    /// whose input position is inside the image; forward and both gradients
    /// are this loop with a different body, so they cannot disagree on indexing.
    static func forEachTap(batch: Int, outChannels: Int, inChannels: Int, inH: Int, inW: Int, kernel: [Int],
                           _ a: Attributes,
                           _ body: (_ n: Int, _ o: Int, _ c: Int, _ oh: Int, _ ow: Int, _ kh: Int, _ kw: Int, _ ih: Int, _ iw: Int) -> Void) {
        let (wh, ww) = windows(height: inH, width: inW, kernel: kernel, a)
        for n in 0..<batch { for o in 0..<outChannels { for oh in 0..<wh.outputs { for ow in 0..<ww.outputs {
            for c in 0..<inChannels { for kh in 0..<kernel[0] { for kw in 0..<kernel[1] {
                let ih = wh.input(oh, kh), iw = ww.input(ow, kw)
                if ih >= 0, ih < inH, iw >= 0, iw < inW { body(n, o, c, oh, ow, kh, kw, ih, iw) }
            } } }
        } } } }
    }

    static func conv2d(_ x: Tensor, _ w: Tensor, _ a: Attributes, shape: [Int]) -> Tensor {
        var y = Tensor(shape: shape)
        forEachTap(batch: x.shape[0], outChannels: w.shape[0], inChannels: x.shape[1], inH: x.shape[2], inW: x.shape[3],
                   kernel: [w.shape[2], w.shape[3]], a) { n, o, c, oh, ow, kh, kw, ih, iw in
            y.data[y.at4(n, o, oh, ow)] += x.data[x.at4(n, c, ih, iw)] * w.data[w.at4(o, c, kh, kw)]
        }
        return y
    }

    static func conv2dGradInput(_ dy: Tensor, _ w: Tensor, _ a: Attributes, shape: [Int]) -> Tensor {
        var dx = Tensor(shape: shape)
        forEachTap(batch: shape[0], outChannels: w.shape[0], inChannels: shape[1], inH: shape[2], inW: shape[3],
                   kernel: [w.shape[2], w.shape[3]], a) { n, o, c, oh, ow, kh, kw, ih, iw in
            dx.data[dx.at4(n, c, ih, iw)] += dy.data[dy.at4(n, o, oh, ow)] * w.data[w.at4(o, c, kh, kw)]
        }
        return dx
    }

    static func conv2dGradFilter(_ x: Tensor, _ dy: Tensor, _ a: Attributes, shape: [Int]) -> Tensor {
        var dw = Tensor(shape: shape)
        forEachTap(batch: x.shape[0], outChannels: shape[0], inChannels: shape[1], inH: x.shape[2], inW: x.shape[3],
                   kernel: [shape[2], shape[3]], a) { n, o, c, oh, ow, kh, kw, ih, iw in
            dw.data[dw.at4(o, c, kh, kw)] += x.data[x.at4(n, c, ih, iw)] * dy.data[dy.at4(n, o, oh, ow)]
        }
        return dw
    }
}
