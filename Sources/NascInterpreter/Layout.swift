import NascIR

/// Ops that move elements without arithmetic.
extension Interpreter {
    /// Views a tensor as outer x axis x inner around one axis.
    private static func split(_ shape: [Int], axis: Int) -> (outer: Int, size: Int, inner: Int) {
        (shape[..<axis].reduce(1, *), shape[axis], shape[(axis + 1)...].reduce(1, *))
    }

    static func concat(_ parts: [Tensor], axis: Int, shape: [Int]) -> Tensor {
        var out = Tensor(parts[0].dtype, shape: shape)
        let (outer, total, inner) = split(shape, axis: axis)
        var offset = 0
        for p in parts {
            let size = p.shape[axis]
            for o in 0..<outer { for s in 0..<size { for i in 0..<inner {
                out.data[(o * total + offset + s) * inner + i] = p.data[(o * size + s) * inner + i]
            } } }
            offset += size
        }
        return out
    }

    static func slice(_ x: Tensor, axis: Int, start: Int, shape: [Int]) -> Tensor {
        var out = Tensor(x.dtype, shape: shape)
        let (outer, total, inner) = split(x.shape, axis: axis)
        let size = shape[axis]
        for o in 0..<outer { for s in 0..<size { for i in 0..<inner {
            out.data[(o * size + s) * inner + i] = x.data[(o * total + start + s) * inner + i]
        } } }
        return out
    }

    /// pads = [top, bottom, left, right].
    static func pad(_ x: Tensor, _ pads: [Int], shape: [Int]) -> Tensor {
        var out = Tensor(shape: shape)
        for n in 0..<x.shape[0] { for c in 0..<x.shape[1] { for h in 0..<x.shape[2] { for w in 0..<x.shape[3] {
            out.data[out.at4(n, c, h + pads[0], w + pads[2])] = x.data[x.at4(n, c, h, w)]
        } } } }
        return out
    }

    static func crop(_ x: Tensor, _ pads: [Int], shape: [Int]) -> Tensor {
        var out = Tensor(shape: shape)
        for n in 0..<shape[0] { for c in 0..<shape[1] { for h in 0..<shape[2] { for w in 0..<shape[3] {
            out.data[out.at4(n, c, h, w)] = x.data[x.at4(n, c, h + pads[0], w + pads[2])]
        } } } }
        return out
    }
}
