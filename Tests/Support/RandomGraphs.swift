import NascIR
import NascInterpreter

/// Seeded random graphs in the shape of NAS children: an image input, a few
/// layers picked at random (convolutions of any kernel shape, stride and
/// padding, batch norm, activations, pools, zero-padding, skip connections by
/// concat, add and mul of equal shapes, scalar scaling), and a classifier head
/// with a loss; sometimes an embedding branch as in a recurrent cell. Small
/// sizes keep the interpreter fast. Used by property tests of autodiff (and,
/// later, of the passes and backends).
public struct RandomGraphs {
    var rng: SeededGenerator
    private var lines: [String] = []
    private var counter = 0
    /// Image-shaped values so far: name, channels, height, width.
    private var images: [(name: String, c: Int, h: Int, w: Int)] = []

    public init(seed: UInt64) { rng = SeededGenerator(seed: seed) }

    private mutating func pick(_ n: Int) -> Int { rng.index(n) }
    private mutating func chance(_ p: Double) -> Bool { rng.unit() < p }
    private mutating func fresh(_ base: String) -> String {
        counter += 1
        return "\(base)\(counter)"
    }
    private mutating func emit(_ line: String) { lines.append("  " + line) }

    /// IR text of one random graph.
    public mutating func make() -> String {
        lines = []
        counter = 0
        let (c0, h0, w0) = (1 + pick(3), 3 + pick(5), 3 + pick(5))
        images = [("x", c0, h0, w0)]
        for _ in 0..<(2 + pick(5)) { layer() }

        // Head: pool or flatten the last value, dense layer, loss.
        let last = images.last!
        let features: String, width: Int
        if chance(0.5) {
            features = fresh("gap")
            emit("%\(features) = global_avg_pool %\(last.name)")
            width = last.c
        } else {
            features = fresh("flat")
            emit("%\(features) = flatten %\(last.name)")
            width = last.c * last.h * last.w
        }
        let classes = 2 + pick(4)
        let wd = fresh("wd"), bd = fresh("bd"), z = fresh("z")
        emit("%\(wd) = param {init = glorot_uniform} : f32[\(width),\(classes)]")
        emit("%\(bd) = param {init = uniform, scale = 0.5} : f32[\(classes)]")
        emit("%\(z) = matmul %\(features), %\(wd)")
        var logits = fresh("logits")
        emit("%\(logits) = bias_add %\(z), %\(bd)")
        var inputs = "%x: f32[N,\(c0),\(h0),\(w0)], %y: i32[N]"
        if chance(0.3) {
            // An embedding branch joined to the logits, as in a recurrent cell.
            let vocab = 2 + pick(5), table = fresh("table"), e = fresh("emb"), g = fresh("gate"), joined = fresh("joined")
            inputs += ", %ids: i32[N]"
            emit("%\(table) = param {init = uniform, scale = 0.5} : f32[\(vocab),\(classes)]")
            emit("%\(e) = embedding %\(table), %ids")
            emit("%\(g) = sigmoid %\(e)")
            emit("%\(joined) = mul %\(logits), %\(g)")
            logits = joined
        }
        if chance(0.7) {
            emit("%loss = softmax_cross_entropy %\(logits), %y")
        } else {
            let t = fresh("t")
            emit("%\(t) = tanh %\(logits)")
            emit("%loss = reduce_sum %\(t)")
        }
        return "graph @random(\(inputs)) -> (loss: f32[]) {\n" + lines.joined(separator: "\n") + "\n  return %loss\n}\n"
    }

    private mutating func layer() {
        let src = images[images.count - 1 - pick(min(2, images.count))]
        switch pick(10) {
        case 0, 1, 2:  // conv2d, any kernel shape up to 7, stride 1-3, same or valid
            let o = 1 + pick(3), kh = 1 + pick(min(7, src.h)), kw = 1 + pick(min(7, src.w))
            let sh = 1 + pick(3), sw = 1 + pick(3)
            let same = chance(0.6)
            let (h, w) = same ? ((src.h - 1) / sh + 1, (src.w - 1) / sw + 1) : ((src.h - kh) / sh + 1, (src.w - kw) / sw + 1)
            let wname = fresh("w"), out = fresh("conv")
            emit("%\(wname) = param {init = he_normal} : f32[\(o),\(src.c),\(kh),\(kw)]")
            emit("%\(out) = conv2d %\(src.name), %\(wname) {stride = [\(sh), \(sw)], pad = \(same ? "same" : "valid")}")
            images.append((out, o, h, w))
        case 3:  // batch norm (train) with its states
            let g = fresh("g"), b = fresh("b"), m = fresh("m"), v = fresh("v"), out = fresh("bn")
            emit("%\(g) = param {init = uniform, scale = 2.0} : f32[\(src.c)]")
            emit("%\(b) = param {init = uniform, scale = 1.0} : f32[\(src.c)]")
            emit("%\(m) = state {init = zeros} : f32[\(src.c)]")
            emit("%\(v) = state {init = ones} : f32[\(src.c)]")
            emit("%\(out) = batch_norm %\(src.name), %\(g), %\(b), %\(m), %\(v)")
            images.append((out, src.c, src.h, src.w))
        case 4:  // activation
            let op = ["relu", "tanh", "sigmoid", "identity"][pick(4)], out = fresh(op)
            emit("%\(out) = \(op) %\(src.name)")
            images.append((out, src.c, src.h, src.w))
        case 5:  // pool
            let op = chance(0.5) ? "max_pool" : "avg_pool"
            let kh = 1 + pick(min(3, src.h)), kw = 1 + pick(min(3, src.w)), s = 1 + pick(2)
            let same = chance(0.5)
            let (h, w) = same ? ((src.h - 1) / s + 1, (src.w - 1) / s + 1) : ((src.h - kh) / s + 1, (src.w - kw) / s + 1)
            let out = fresh("pool")
            emit("%\(out) = \(op) %\(src.name) {window = [\(kh), \(kw)], stride = [\(s), \(s)], pad = \(same ? "same" : "valid")}")
            images.append((out, src.c, h, w))
        case 6:  // zero pad
            let p = (0..<4).map { _ in pick(3) }, out = fresh("pad")
            emit("%\(out) = zero_pad %\(src.name) {pads = [\(p[0]), \(p[1]), \(p[2]), \(p[3])]}")
            images.append((out, src.c, src.h + p[0] + p[1], src.w + p[2] + p[3]))
        case 7:  // skip connection: concat with an earlier value of the same size
            let partners = images.filter { $0.h == src.h && $0.w == src.w }
            let other = partners[pick(partners.count)]
            let out = fresh("cat")
            emit("%\(out) = concat %\(other.name), %\(src.name)")
            images.append((out, other.c + src.c, src.h, src.w))
        case 8:  // add or mul with an earlier value of the same shape, or a scalar parameter
            let partners = images.filter { $0.c == src.c && $0.h == src.h && $0.w == src.w && $0.name != src.name }
            let op = chance(0.5) ? "add" : "mul", out = fresh(op)
            if let other = partners.first, chance(0.7) {
                emit("%\(out) = \(op) %\(src.name), %\(other.name)")
            } else {
                let s = fresh("scale")
                emit("%\(s) = param {init = uniform, scale = 1.0} : f32[]")
                emit("%\(out) = \(op) %\(src.name), %\(s)")
            }
            images.append((out, src.c, src.h, src.w))
        default:  // bias
            let b = fresh("bias"), out = fresh("biased")
            emit("%\(b) = param {init = uniform, scale = 1.0} : f32[\(src.c)]")
            emit("%\(out) = bias_add %\(src.name), %\(b)")
            images.append((out, src.c, src.h, src.w))
        }
    }
}
