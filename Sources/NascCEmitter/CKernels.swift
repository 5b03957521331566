import Foundation
import NascIR
import NascPasses

/// Loop nests for each op at batch 1, the same semantics as the interpreter
/// (TensorFlow's `same` padding, pools that ignore padding).
extension CWriter {
    typealias Axis = WindowGeometry

    mutating func anchorCode(_ n: Node, _ out: String) throws -> [String] {
        let x = try n.operands.map { v -> String in
            if let d = defining[v], graph.nodes[d].op == .const { throw CEmitterError("constant operand of '\(n.op.name)' is not supported in emitted C") }
            return try pointer(v)
        }
        let s = shape(n.result)
        guard let op = n.op.anchor else { throw CEmitterError("internal: '\(n.op.name)' is elementwise, not an anchor") }
        switch op {
        case .conv2d:
            // im2col, then one matrix product: the columns (one row per tap
            // c, kh, kw; one column per output pixel; zeros where the window
            // leaves the image) go to a static buffer, and `gemm` multiplies
            // the filters by them. Each output still sums its taps in the
            // order c, kh, kw, as a direct convolution would. A grouped
            // convolution does this per group, on its channels and filters.
            let (xs, ws) = (shape(n.operands[0]), shape(n.operands[1]))
            let st = n.attrs.ints("stride"), pad = n.attrs.symbol("pad"), d = n.attrs.dilation, groups = n.attrs.groups
            let ah = Axis(size: xs[2], kernel: ws[2], stride: st[0], pad: pad, dilation: d[0])
            let aw = Axis(size: xs[3], kernel: ws[3], stride: st[1], pad: pad, dilation: d[1])
            let taps = ws[1] * ws[2] * ws[3], pixels = ah.outputs * aw.outputs
            columnFloats = max(columnFloats, taps * pixels)
            let (kh, kw) = (d[0] == 1 ? "kh" : "kh * \(d[0])", d[1] == 1 ? "kw" : "kw * \(d[1])")
            let image = groups == 1 ? x[0] : "(\(x[0]) + g * \(ws[1] * xs[2] * xs[3]))"
            let product = groups == 1 ? "\(name)_gemm(\(x[1]), \(name)_col, \(out), \(ws[0]), \(taps), \(pixels));"
                : "\(name)_gemm(\(x[1]) + g * \(ws[0] / groups * taps), \(name)_col, \(out) + g * \(ws[0] / groups * pixels), \(ws[0] / groups), \(taps), \(pixels));"
            let body = [
                "for (long c = 0; c < \(ws[1]); c++)",
                "  for (long kh = 0; kh < \(ws[2]); kh++)",
                "    for (long kw = 0; kw < \(ws[3]); kw++) {",
                "      float *col = \(name)_col + ((c * \(ws[2]) + kh) * \(ws[3]) + kw) * \(pixels);",
                "      for (long oh = 0; oh < \(ah.outputs); oh++) {",
                "        const long ih = oh * \(ah.stride) - \(ah.padBefore) + \(kh);",
                "        for (long ow = 0; ow < \(aw.outputs); ow++) {",
                "          const long iw = ow * \(aw.stride) - \(aw.padBefore) + \(kw);",
                "          col[oh * \(aw.outputs) + ow] = ih >= 0 && ih < \(ah.size) && iw >= 0 && iw < \(aw.size) ? \(image)[(c * \(ah.size) + ih) * \(aw.size) + iw] : 0.0f;",
                "        }",
                "      }",
                "    }",
                product,
            ]
            return groups == 1 ? body : ["for (long g = 0; g < \(groups); g++) {"] + body.map { "  " + $0 } + ["}"]
        case .matmul:
            let (ta, tb) = (n.attrs.bool("transpose_a"), n.attrs.bool("transpose_b"))
            let (a, b) = (shape(n.operands[0]), shape(n.operands[1]))
            let (m, k, p) = (s[0], ta ? a[0] : a[1], s[1])
            let ai = ta ? "t * \(a[1]) + i" : "i * \(a[1]) + t"
            if tb {
                // Rows of b are columns of the product: a dot product of two contiguous rows.
                return [
                    "for (long i = 0; i < \(m); i++)",
                    "  for (long j = 0; j < \(p); j++) {",
                    "    float acc = 0.0f;",
                    "    for (long t = 0; t < \(k); t++) acc += \(x[0])[\(ai)] * \(x[1])[j * \(b[1]) + t];",
                    "    \(out)[i * \(p) + j] = acc;",
                    "  }",
                ]
            }
            if !ta { return ["\(name)_gemm(\(x[0]), \(x[1]), \(out), \(m), \(k), \(p));"] }
            return [
                "for (long i = 0; i < \(m); i++) {",
                "  float *row = \(out) + i * \(p);",
                "  for (long j = 0; j < \(p); j++) row[j] = 0.0f;",
                "  for (long t = 0; t < \(k); t++) {",
                "    const float av = \(x[0])[\(ai)];",
                "    const float *brow = \(x[1]) + t * \(p);",
                "    for (long j = 0; j < \(p); j++) row[j] += av * brow[j];",
                "  }",
                "}",
            ]
        case .embedding:
            // The ids were checked against the table by the entry function.
            let width = shape(n.operands[0])[1]
            return ["for (long i = 0; i < \(count(n.operands[1])); i++) memcpy(\(out) + i * \(width), \(x[0]) + (long)\(x[1])[i] * \(width), \(width) * sizeof(float));"]
        case .maxPool, .avgPool:
            let xs = shape(n.operands[0]), k = n.attrs.ints("window"), st = n.attrs.ints("stride"), pad = n.attrs.symbol("pad")
            let ah = Axis(size: xs[2], kernel: k[0], stride: st[0], pad: pad), aw = Axis(size: xs[3], kernel: k[1], stride: st[1], pad: pad)
            let max = n.op == .maxPool
            return [
                "for (long c = 0; c < \(xs[1]); c++)",
                "  for (long oh = 0; oh < \(ah.outputs); oh++)",
                "    for (long ow = 0; ow < \(aw.outputs); ow++) {",
                max ? "      float best = -INFINITY;" : "      float sum = 0.0f; float taps = 0.0f;",
                "      for (long kh = 0; kh < \(k[0]); kh++) {",
                "        long ih = oh * \(ah.stride) - \(ah.padBefore) + kh;",
                "        if (ih < 0 || ih >= \(ah.size)) continue;",
                "        for (long kw = 0; kw < \(k[1]); kw++) {",
                "          long iw = ow * \(aw.stride) - \(aw.padBefore) + kw;",
                "          if (iw < 0 || iw >= \(aw.size)) continue;",
                "          float v = \(x[0])[(c * \(ah.size) + ih) * \(aw.size) + iw];",
                max ? "          if (v > best) best = v;" : "          sum += v; taps += 1.0f;",
                "        }",
                "      }",
                "      \(out)[(c * \(ah.outputs) + oh) * \(aw.outputs) + ow] = \(max ? "best" : "sum / taps");",
                "    }",
            ]
        case .globalAvgPool:
            let xs = shape(n.operands[0]), inner = xs[2] * xs[3]
            return [
                "for (long c = 0; c < \(xs[1]); c++) {",
                "  float sum = 0.0f;",
                "  for (long j = 0; j < \(inner); j++) sum += \(x[0])[c * \(inner) + j];",
                "  \(out)[c] = sum / \(CWriter.literal(Double(inner)));",
                "}",
            ]
        case .concat:
            let axis = n.attrs.int("axis")
            let outer = s[..<axis].reduce(1, *), inner = s[(axis + 1)...].reduce(1, *)
            var lines: [String] = []
            var start = 0
            for (v, p) in zip(n.operands, x) {
                let size = shape(v)[axis]
                lines.append("for (long o = 0; o < \(outer); o++) memcpy(\(out) + o * \(s[axis] * inner) + \(start * inner), \(p) + o * \(size * inner), \(size * inner) * sizeof(float));")
                start += size
            }
            return lines
        case .slice:
            let axis = n.attrs.int("axis"), xs = shape(n.operands[0])
            let outer = s[..<axis].reduce(1, *), inner = s[(axis + 1)...].reduce(1, *)
            return ["for (long o = 0; o < \(outer); o++) memcpy(\(out) + o * \(s[axis] * inner), \(x[0]) + o * \(xs[axis] * inner) + \(n.attrs.int("start") * inner), \(s[axis] * inner) * sizeof(float));"]
        case .zeroPad, .crop:
            let p = n.attrs.ints("pads")
            let (small, big) = n.op == .zeroPad ? (shape(n.operands[0]), s) : (s, shape(n.operands[0]))
            let copy = n.op == .zeroPad
                ? "memcpy(\(out) + (c * \(big[2]) + r + \(p[0])) * \(big[3]) + \(p[2]), \(x[0]) + (c * \(small[2]) + r) * \(small[3]), \(small[3]) * sizeof(float));"
                : "memcpy(\(out) + (c * \(small[2]) + r) * \(small[3]), \(x[0]) + (c * \(big[2]) + r + \(p[0])) * \(big[3]) + \(p[2]), \(small[3]) * sizeof(float));"
            return (n.op == .zeroPad ? ["memset(\(out), 0, \(s.reduce(1, *)) * sizeof(float));"] : [])
                + ["for (long c = 0; c < \(small[1]); c++)", "  for (long r = 0; r < \(small[2]); r++) \(copy)"]
        case .flatten, .reshape:
            return ["memcpy(\(out), \(x[0]), \(s.reduce(1, *)) * sizeof(float));"]
        case .softmax:
            let k = s[1]
            return [
                "for (long r = 0; r < \(s[0]); r++) {",
                "  float top = -INFINITY, z = 0.0f;",
                "  for (long j = 0; j < \(k); j++) if (\(x[0])[r * \(k) + j] > top) top = \(x[0])[r * \(k) + j];",
                "  for (long j = 0; j < \(k); j++) z += expf(\(x[0])[r * \(k) + j] - top);",
                "  for (long j = 0; j < \(k); j++) \(out)[r * \(k) + j] = expf(\(x[0])[r * \(k) + j] - top) / z;",
                "}",
            ]
        // Sources are buffers; broadcasts run in epilogues.
        case .param, .state, .const, .biasAdd, .batchNorm:
            throw CEmitterError("internal: '\(n.op.name)' anchors no kernel in emitted C")
        // What an inference graph never holds (CEmitter.withoutC).
        case .conv2dGradInput, .conv2dGradFilter, .batchNormGrad, .batchNormGradGamma, .batchMean, .batchVar,
             .maxPoolGrad, .avgPoolGrad, .globalAvgPoolGrad, .dropout, .dropPath, .reduceSum, .channelSum, .embeddingGrad, .softmaxGrad,
             .softmaxCrossEntropy, .softmaxCrossEntropyGrad, .weightedSoftmaxCrossEntropy, .weightedSoftmaxCrossEntropyGrad:
            throw CEmitterError("'\(n.op.name)' is not supported in emitted C (an inference graph has no need of it)")
        }
    }

    /// An op's scalar formula (ElementwiseOps.swift) as a C expression.
    static func formula(_ f: ScalarFormula, _ x: [String], _ attrs: Attributes) -> String {
        func c(_ f: ScalarFormula) -> String { formula(f, x, attrs) }
        switch f {
        case .operand(let k): return x[k]
        case .constant(let v): return ScalarFormula.smallInteger(v).map { "\($0).0f" } ?? CWriter.literal(v)
        case .attribute(let name): return CWriter.literal(attrs.float(name))
        case .negate(let a): return "(-\(c(a)))"
        case .binary(let op, let a, let b):
            let symbol: String
            switch op {
            case .add: symbol = "+"
            case .sub: symbol = "-"
            case .mul: symbol = "*"
            case .div: symbol = "/"
            }
            return "(\(c(a)) \(symbol) \(c(b)))"
        case .call(let function, let a):
            switch function {
            case .exp: return "expf(\(c(a)))"
            case .tanh: return "tanhf(\(c(a)))"
            case .sqrt: return "sqrtf(\(c(a)))"
            }
        case .ifPositive(let cond, let a, let b): return "(\(c(cond)) > 0.0f ? \(c(a)) : \(c(b)))"
        }
    }

    /// One loop over the kernel's shape computing its elementwise ops.
    mutating func epilogueCode(_ members: [Node], anchorPointers: [String: String], outside: Set<String>) throws -> [String] {
        let s = members[0].type!.bound(batch: 1)
        let total = s.reduce(1, *)
        let channels = s.count >= 2 ? s[1] : 1, inner = s.count >= 2 ? s[2...].reduce(1, *) : 1
        var lines = ["for (long i = 0; i < \(total); i++) {"]
        if members.contains(where: { $0.op == .biasAdd || $0.op == .batchNorm }) {
            lines.append("  long ch = (i / \(inner)) % \(channels);")
        }
        var regs: [String: String] = [:]
        var counter = 0
        for n in members {
            var args: [String] = []
            for (k, v) in n.operands.enumerated() {
                if let r = regs[v] { args.append(r); continue }
                if let d = defining[v], graph.nodes[d].op == .const { args.append(CWriter.literal(graph.nodes[d].attrs.float("value"))); continue }
                let p = try anchorPointers[v] ?? pointer(v)
                let perChannel = (n.op == .biasAdd && k == 1) || (n.op == .batchNorm && k >= 1)
                args.append(perChannel ? "\(p)[ch]" : count(v) == 1 && total > 1 ? "\(p)[0]" : "\(p)[i]")
            }
            let e: String
            switch n.op.kind {
            case .elementwise(let definition): e = Self.formula(definition.formula, args, n.attrs)
            case .anchor(.biasAdd): e = "(\(args[0]) + \(args[1]))"
            case .anchor(.batchNorm):
                e = "(\(args[1]) * (\(args[0]) - \(args[3])) / sqrtf(\(args[4]) + \(CWriter.literal(n.attrs.float("eps")))) + \(args[2]))"
            // Fusion puts only elementwise and broadcast ops in epilogues.
            case .anchor(.param), .anchor(.state), .anchor(.const), .anchor(.conv2d), .anchor(.conv2dGradInput), .anchor(.conv2dGradFilter),
                 .anchor(.matmul), .anchor(.batchNormGrad), .anchor(.batchNormGradGamma), .anchor(.batchMean), .anchor(.batchVar),
                 .anchor(.maxPool), .anchor(.avgPool), .anchor(.globalAvgPool), .anchor(.maxPoolGrad), .anchor(.avgPoolGrad),
                 .anchor(.globalAvgPoolGrad), .anchor(.dropout), .anchor(.dropPath), .anchor(.concat), .anchor(.zeroPad), .anchor(.flatten), .anchor(.reshape),
                 .anchor(.slice), .anchor(.crop), .anchor(.reduceSum), .anchor(.channelSum), .anchor(.embedding), .anchor(.embeddingGrad),
                 .anchor(.softmax), .anchor(.softmaxGrad), .anchor(.softmaxCrossEntropy), .anchor(.softmaxCrossEntropyGrad),
                 .anchor(.weightedSoftmaxCrossEntropy), .anchor(.weightedSoftmaxCrossEntropyGrad):
                throw CEmitterError("internal: '\(n.op.name)' in an epilogue of emitted C")
            }
            counter += 1
            let r = "t\(counter)"
            lines.append("  float \(r) = \(e);")
            regs[n.result] = r
        }
        for n in members where outside.contains(n.result) {
            lines.append("  \(try pointer(n.result))[i] = \(regs[n.result]!);")
        }
        return lines + ["}"]
    }
}
