import NascIR

/// The first op of a kernel that is not elementwise (a conv, a reduction, a
/// gather...), as its own loop nest writing its whole result; the fused
/// elementwise ops then run over that result (KernelLowering.swift). Every
/// index stays inside its buffer: windows check their bounds, ids and
/// labels outside their range are skipped (the executor rejects them first).
extension Lowering {
    /// The base pointer of a buffer; a constant operand gets a scratch copy
    /// filled with its value (anchors read operands from memory).
    func p(_ v: String) -> String {
        if let r = pointers[v] { return r }
        let value = constants[v] ?? 0
        let t = type(v)
        let buffer = scratch(t)
        w.loop(to: count(t), "fill") { i in w.storeF(IRWriter.literal(value), buffer, i) }
        pointers[v] = buffer
        return buffer
    }
    func s(_ v: String, _ axis: Int) -> Int { type(v).dims[axis].staticValue ?? 1 }

    /// Zeroes `floats` floats (an i64 operand) at `base`.
    func zero(_ base: String, _ floats: String) {
        let bytes = w.mul(floats, "4")
        let raw = w.value("bitcast float* \(base) to i8*", "p")
        w.emit("call void @llvm.memset.p0i8.i64(i8* align 4 \(raw), i8 0, i64 \(bytes), i1 false)")
    }

    func offset(_ base: String, _ index: String, _ type: String = "float") -> String { w.gep(type, base, index) }

    /// C = op(A) op(B) through OpenBLAS, row-major; dims are i64 operands.
    /// A product of one row goes to sgemv: OpenBLAS's sgemm packs all of B
    /// even for one row ([1,200]x[200,800]: 0.062 ms here, sgemv 0.013 ms),
    /// and a language model evaluated one row at a time, as its test
    /// perplexity is measured, is made of such products.
    func sgemm(transA: Bool, transB: Bool, m: String, n: String, k: String, a: String, lda: String,
               b: String, ldb: String, beta: String, c: String, ldc: String) {
        func i32(_ v: String) -> String { w.value("trunc i64 \(v) to i32", "t") }
        w.when(w.value("icmp eq i64 \(m), 1", "c")) {
            // C's row is x op(B): B^T x for B stored [k, n], B x for B stored
            // [n, k]. x, A's one row (or, transposed, its one column), is contiguous.
            let args = ["i32 101", "i32 \(transB ? 111 : 112)", "i32 \(i32(transB ? n : k))", "i32 \(i32(transB ? k : n))",
                        "float 1.0", "float* \(b)", "i32 \(i32(ldb))", "float* \(a)", "i32 1",
                        "float \(beta)", "float* \(c)", "i32 1"]
            w.emit("call void @cblas_sgemv(\(args.joined(separator: ", ")))")
        } otherwise: {
            let args = ["i32 101", "i32 \(transA ? 112 : 111)", "i32 \(transB ? 112 : 111)", "i32 \(i32(m))", "i32 \(i32(n))", "i32 \(i32(k))",
                        "float 1.0", "float* \(a)", "i32 \(i32(lda))", "float* \(b)", "i32 \(i32(ldb))", "float \(beta)", "float* \(c)", "i32 \(i32(ldc))"]
            w.emit("call void @cblas_sgemm(\(args.joined(separator: ", ")))")
        }
    }

    /// A window along one axis. Its stride and the plane's size stay
    /// literals in the text: they shape the code (with stride 1, im2col's
    /// inner loop is a contiguous copy LLVM vectorizes; read from %dims,
    /// convolutions ran 8% slower) and take few values (a search space has
    /// a handful of plane sizes); channels, filters, kernel sizes and
    /// padding come from %dims.
    typealias Axis = WindowGeometry

    func axes(_ attrs: Attributes, h: Int, w wd: Int, kernel: [Int]) -> (Axis, Axis) {
        let st = attrs.ints("stride"), pad = attrs.symbol("pad"), d = attrs.dilation
        return (Axis(size: h, kernel: kernel[0], stride: st[0], pad: pad, dilation: d[0]),
                Axis(size: wd, kernel: kernel[1], stride: st[1], pad: pad, dilation: d[1]))
    }

    /// Input position o*stride - pad + k along an axis, and whether it is
    /// inside (for pools: the geometry is literal, see lowerPool).
    func tap(_ o: String, _ k: String, _ a: Axis) -> (String, String) {
        let pos = w.add(w.sub(w.mul(o, "\(a.stride)"), "\(a.padBefore)"), k)
        let low = w.value("icmp sge i64 \(pos), 0", "c")
        let high = w.value("icmp slt i64 \(pos), \(a.size)", "c")
        return (pos, w.value("and i1 \(low), \(high)", "c"))
    }

    func lowerAnchor(_ n: Node, _ op: AnchorOp) throws {
        let x = n.operands
        let out = p(n.result)
        switch op {
        case .param, .state, .const:
            throw BackendError(message: "internal: '\(n.op.name)' is a source, not a kernel")
        case .biasAdd:  // a broadcast: fused as an epilogue (KernelLowering.elementwise)
            throw BackendError(message: "internal: bias_add anchors no kernel")

        case .conv2d: lowerConvolution(n, .forward)
        case .conv2dGradInput: lowerConvolution(n, .inputGradient)
        case .conv2dGradFilter: lowerConvolution(n, .filterGradient)

        case .matmul:
            let (ta, tb) = (n.attrs.bool("transpose_a"), n.attrs.bool("transpose_b"))
            let (a, b) = (type(x[0]).dims, type(x[1]).dims)
            let m = dim(ta ? a[1] : a[0]), k = dim(ta ? a[0] : a[1]), cols = dim(tb ? b[0] : b[1])
            // Rows are as long as in the whole product, also when a range of
            // its columns is computed (RowSplit.columns).
            let (ldb, ldc) = (dim(types[x[1]]!.dims[1]), dim(types[n.result]!.dims[1]))
            if let bias = foldedBias {
                w.loop(to: m, "row") { r in
                    let base = w.mul(r, ldc)
                    w.loop(to: cols, "col") { j in w.storeF(w.loadF(bias, j), out, w.add(base, j)) }
                }
            }
            sgemm(transA: ta, transB: tb, m: m, n: cols, k: k, a: p(x[0]), lda: dim(a[1]), b: p(x[1]), ldb: ldb,
                  beta: foldedBias == nil ? "0.0" : "1.0", c: out, ldc: ldc)

        case .batchNorm, .batchNormGrad, .batchNormGradGamma, .batchMean, .batchVar:
            try lowerChannelOps([n])  // see ChannelKind

        case .channelSum:
            lowerChannelSum(n)

        case .reduceSum:
            let acc = slot()
            write("0.0", acc)
            w.loop(to: count(type(x[0])), "e") { i in accumulate(acc, w.loadF(p(x[0]), i)) }
            w.storeF(read(acc), out, "0")

        case .globalAvgPool:
            let inner = s(x[0], 2) * s(x[0], 3)
            w.loop(to: w.mul(lead(x[0]), i64(s(x[0], 1))), "row") { row in
                let acc = slot()
                write("0.0", acc)
                let base = w.mul(row, "\(inner)")
                w.loop(to: "\(inner)", "j") { j in accumulate(acc, w.loadF(p(x[0]), w.add(base, j))) }
                w.storeF(w.f("fdiv", read(acc), IRWriter.literal(Double(inner))), out, row)
            }

        case .globalAvgPoolGrad:
            let size = n.attrs.ints("input_size"), inner = size[0] * size[1]
            w.loop(to: w.mul(lead(x[0]), i64(s(x[0], 1))), "row") { row in
                let v = w.f("fdiv", w.loadF(p(x[0]), row), IRWriter.literal(Double(inner)))
                let base = w.mul(row, "\(inner)")
                w.loop(to: "\(inner)", "j") { j in w.storeF(v, out, w.add(base, j)) }
            }

        case .maxPool: lowerPool(n, .max)
        case .avgPool: lowerPool(n, .average)
        case .maxPoolGrad: lowerPool(n, .maxGradient)
        case .avgPoolGrad: lowerPool(n, .averageGradient)

        case .dropout:
            let rate = n.attrs.float("rate")
            let base = maskBase(seed: p(x[1]), stream: n.attrs.int("stream"))
            let scale = IRWriter.literal(DropoutMask.scale(rate: rate))
            w.loop(to: count(type(x[0])), "e") { i in
                let kept = w.value("icmp uge i32 \(maskBits(i, base: base)), \(DropoutMask.threshold(rate: rate))", "c")
                let scaled = w.f("fmul", w.loadF(p(x[0]), i), scale)
                w.storeF(w.value("select i1 \(kept), float \(scaled), float 0.0", "f"), out, i)
            }

        case .dropPath:
            // The mask per example; its threshold and scale come from the runtime rate.
            let t = type(x[0])
            let perExample = t.hasBatch ? (t.elementsPerExample ?? 1) : t.dims.dropFirst().reduce(1) { $0 * ($1.staticValue ?? 1) }
            let base = maskBase(seed: p(x[1]), stream: n.attrs.int("stream"))
            // Clamped as DropoutMask.clamped (an ordered compare is false for NaN: 0).
            let given = w.loadF(p(x[2]), "0"), largest = IRWriter.literal(DropoutMask.largestRate)
            let low = w.value("select i1 \(w.value("fcmp ogt float \(given), 0.0", "c")), float \(given), float 0.0", "f")
            let rate = w.value("select i1 \(w.value("fcmp olt float \(low), \(largest)", "c")), float \(low), float \(largest)", "f")
            let threshold = w.value("fptoui float \(w.f("fmul", rate, IRWriter.literal(16_777_216))) to i32", "h")
            let scale = w.f("fdiv", IRWriter.literal(1), w.f("fsub", IRWriter.literal(1), rate))
            w.loop(to: lead(x[0]), "r") { r in
                let kept = w.value("icmp uge i32 \(maskBits(r, base: base)), \(threshold)", "c")
                let factor = w.value("select i1 \(kept), float \(scale), float 0.0", "f")
                let row = w.mul(r, i64(perExample))
                w.loop(to: i64(perExample), "e") { e in
                    let i = w.add(row, e)
                    w.storeF(w.f("fmul", w.loadF(p(x[0]), i), factor), out, i)
                }
            }

        case .concat: lowerLayout(n, .concat)
        case .slice: lowerLayout(n, .slice)
        case .zeroPad: lowerLayout(n, .zeroPad)
        case .crop: lowerLayout(n, .crop)
        case .flatten, .reshape: lowerLayout(n, .sameElements)

        case .embedding: lowerRows(n, .embedding)
        case .embeddingGrad: lowerRows(n, .embeddingGradient)
        case .softmaxGrad: lowerRows(n, .softmaxGradient)
        case .softmax: lowerRows(n, .softmax(.probabilities))
        case .softmaxCrossEntropy: lowerRows(n, .softmax(.loss(weighted: false)))
        case .weightedSoftmaxCrossEntropy: lowerRows(n, .softmax(.loss(weighted: true)))
        case .softmaxCrossEntropyGrad: lowerRows(n, .softmax(.lossGradient(weighted: false)))
        case .weightedSoftmaxCrossEntropyGrad: lowerRows(n, .softmax(.lossGradient(weighted: true)))
        }
    }
}

/// DropoutMask in i32 arithmetic (wrapping multiplies, logical shifts), for
/// dropout (an element's index) and drop_path (an example's).
extension Lowering {
    /// The part of the hash shared by every index: seed and stream.
    func maskBase(seed: String, stream: Int) -> String {
        let seedWord = w.value("load i32, i32* \(w.gep("i32", seed, "0")), align 4", "v")
        let seedPart = w.value("mul i32 \(seedWord), \(Int32(bitPattern: DropoutMask.seedFactor))", "h")
        return w.value("add i32 \(seedPart), \(Int32(bitPattern: UInt32(truncatingIfNeeded: stream) &* DropoutMask.streamFactor))", "h")
    }

    /// The top 24 bits of the hash of `index` (an i64), which DropoutMask.keep compares with the threshold.
    func maskBits(_ index: String, base: String) -> String {
        let narrow = w.value("trunc i64 \(index) to i32", "h")
        var h = w.value("add i32 \(w.value("mul i32 \(narrow), \(Int32(bitPattern: DropoutMask.indexFactor))", "h")), \(base)", "h")
        for (shift, factor) in [(16, DropoutMask.mix1), (15, DropoutMask.mix2)] {
            h = w.value("xor i32 \(h), \(w.value("lshr i32 \(h), \(shift)", "h"))", "h")
            h = w.value("mul i32 \(h), \(Int32(bitPattern: factor))", "h")
        }
        h = w.value("xor i32 \(h), \(w.value("lshr i32 \(h), 16", "h"))", "h")
        return w.value("lshr i32 \(h), 8", "h")
    }
}
