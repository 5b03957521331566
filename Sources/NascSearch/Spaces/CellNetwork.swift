/// A network of CellSpace cells as IR: stem (3x3 convolution to 3C
/// channels, strided by the space's stem stride, batch norm), then three stages of N normal cells with a
/// reduction cell between stages (channels doubling at each), then global
/// average pool, dense layer, softmax cross-entropy.
///
/// Inside a cell, as in NASNet: each of the two inputs first goes through
/// ReLU, a 1x1 convolution to the cell's C channels and batch norm (an
/// input at twice the resolution, the cell before a reduction, through a
/// strided one); each block applies its two operations (stride 2 on a cell
/// input in a reduction cell) and adds them; the cell's output concatenates
/// its loose ends (so C times their number channels).
struct CellNetwork {
    let space: CellSpace
    let normal: [CellSpace.Block]
    let reduction: [CellSpace.Block]
    let image: ImageShape

    /// A value of the graph: its name, channels and (square) size.
    struct Value { var name: String, channels: Int, size: Int }

    final class Writer {
        var lines: [String] = []
        func emit(_ s: String) { lines.append("  " + s) }

        /// A convolution `k` x `k` to `out` channels; `groups` = channels is depthwise.
        func conv(_ x: Value, _ name: String, out: Int, k: Int, stride: Int = 1, dilation: Int = 1, depthwise: Bool = false) -> Value {
            let perGroup = depthwise ? 1 : x.channels
            emit("%\(name).w = param {init = he_normal} : f32[\(out),\(perGroup),\(k),\(k)]")
            var attrs = k == 1 && stride == 1 ? "" : "stride = [\(stride), \(stride)], pad = same"
            if depthwise && x.channels > 1 { attrs += ", groups = \(x.channels)" }
            if dilation > 1 { attrs += ", dilation = [\(dilation), \(dilation)]" }
            emit("%\(name) = conv2d %\(x.name), %\(name).w" + (attrs.isEmpty ? "" : " {\(attrs)}"))
            return Value(name: name, channels: out, size: (x.size - 1) / stride + 1)
        }

        func batchNorm(_ x: Value, _ name: String) -> Value {
            let c = x.channels
            emit("%\(name).g = param {init = ones} : f32[\(c)]")
            emit("%\(name).b = param {init = zeros} : f32[\(c)]")
            emit("%\(name).m = state {init = zeros} : f32[\(c)]")
            emit("%\(name).v = state {init = ones} : f32[\(c)]")
            emit("%\(name) = batch_norm %\(x.name), %\(name).g, %\(name).b, %\(name).m, %\(name).v")
            return Value(name: name, channels: c, size: x.size)
        }

        func relu(_ x: Value, _ name: String) -> Value {
            emit("%\(name) = relu %\(x.name)")
            return Value(name: name, channels: x.channels, size: x.size)
        }

        /// ReLU, a 1x1 convolution (strided or not) to `out`, batch norm.
        func reluConvBN(_ x: Value, _ name: String, out: Int, stride: Int = 1) -> Value {
            batchNorm(conv(relu(x, "\(name).r"), "\(name).c", out: out, k: 1, stride: stride), name)
        }

        /// ReLU, depthwise k x k, pointwise 1x1, batch norm.
        func separable(_ x: Value, _ name: String, k: Int, stride: Int, dilation: Int = 1) -> Value {
            let d = conv(relu(x, "\(name).r"), "\(name).dw", out: x.channels, k: k, stride: stride, dilation: dilation, depthwise: true)
            return batchNorm(conv(d, "\(name).pw", out: x.channels, k: 1), name)
        }

        func op(_ op: CellOp, _ x: Value, _ name: String, stride: Int) -> Value {
            switch op {
            case .sep3, .sep5:
                let k = op == .sep3 ? 3 : 5
                return separable(separable(x, "\(name).1", k: k, stride: stride), name, k: k, stride: 1)
            case .dil3, .dil5:
                return separable(x, name, k: op == .dil3 ? 3 : 5, stride: stride, dilation: 2)
            case .avg3, .max3:
                emit("%\(name) = \(op == .avg3 ? "avg_pool" : "max_pool") %\(x.name) {window = [3, 3], stride = [\(stride), \(stride)], pad = same}")
                return Value(name: name, channels: x.channels, size: (x.size - 1) / stride + 1)
            case .identity:
                return stride == 1 ? x : reluConvBN(x, name, out: x.channels, stride: 2)
            }
        }
    }

    /// One cell reading `s0` (two cells back) and `s1` (the previous cell).
    func cell(_ w: Writer, _ blocks: [CellSpace.Block], _ tag: String, s0: Value, s1: Value, channels c: Int, reduces: Bool) -> Value {
        // s0 is at twice s1's resolution right after a reduction.
        let p0 = w.reluConvBN(s0, "\(tag).in0", out: c, stride: s0.size > s1.size ? 2 : 1)
        let p1 = w.reluConvBN(s1, "\(tag).in1", out: c)
        var states = [p0, p1]
        for (b, block) in blocks.enumerated() {
            let inputs = [block.inputs.0, block.inputs.1], ops = [block.ops.0, block.ops.1]
            let branches = (0..<2).map { k in
                w.op(ops[k], states[inputs[k]], "\(tag).b\(b).\(k)", stride: reduces && inputs[k] < 2 ? 2 : 1)
            }
            w.emit("%\(tag).b\(b) = add %\(branches[0].name), %\(branches[1].name)")
            states.append(Value(name: "\(tag).b\(b)", channels: c, size: branches[0].size))
        }
        let ends = CellSpace.looseEnds(blocks).map { states[$0] }
        if ends.count == 1 { return ends[0] }
        w.emit("%\(tag) = concat " + ends.map { "%" + $0.name }.joined(separator: ", "))
        return Value(name: tag, channels: c * ends.count, size: ends[0].size)
    }

    func ir(name: String) -> String {
        let w = Writer()
        var c = space.channels
        let stem = w.batchNorm(w.conv(Value(name: "x", channels: image.channels, size: image.size), "stem.c", out: 3 * c, k: 3, stride: space.stemStride), "stem")
        var (s0, s1) = (stem, stem)
        var index = 0
        for stage in 0..<3 {
            if stage > 0 {
                c *= 2
                index += 1
                (s0, s1) = (s1, cell(w, reduction, "cell\(index)", s0: s0, s1: s1, channels: c, reduces: true))
            }
            for _ in 0..<space.cellsPerStage {
                index += 1
                (s0, s1) = (s1, cell(w, normal, "cell\(index)", s0: s0, s1: s1, channels: c, reduces: false))
            }
        }
        w.lines += CNNSpace.classifier(s1.name, channels: s1.channels, classes: image.classes)
        return "graph @\(name)(%x: f32[N,\(image.channels),\(image.size),\(image.size)], %y: i32[N]) -> (loss: f32[], logits: f32[N,\(image.classes)]) {\n"
            + w.lines.joined(separator: "\n") + "\n  return %loss, %logits\n}\n"
    }
}
