import NascIR

/// Per-channel ops over [N, C, ...]: batch norm forward and backward and the
/// statistics, as loops over channels, then examples, then the plane.
extension Lowering {
    /// Calls body(flat index) for every element of channel `c` (an i64
    /// register). The plane's size is a literal, the channel count read from
    /// %dims: inner loops over small planes (7x7 after pooling) ran slower
    /// with a trip count LLVM could not see.
    func forEachInChannel(_ v: String, _ c: String, _ body: (String) throws -> Void) rethrows {
        let t = type(v)
        let channels = s(v, 1), inner = t.dims.dropFirst(2).reduce(1) { $0 * ($1.staticValue ?? 1) }
        try w.loop(to: lead(v), "img") { img in
            let base = w.mul(w.add(w.mul(img, i64(channels)), c), "\(inner)")
            try w.loop(to: "\(inner)", "j") { j in try body(w.add(base, j)) }
        }
    }

    /// Elements per channel (M) as a float register.
    func perChannelCount(_ v: String) -> String {
        let inner = type(v).dims.dropFirst(2).reduce(1) { $0 * ($1.staticValue ?? 1) }
        let m = w.mul(lead(v), "\(inner)")
        return w.value("sitofp i64 \(m) to float", "f")
    }

    /// Mean and biased variance of channel c of v (two passes, as the interpreter).
    func channelStatistics(_ v: String, _ c: String) -> (mean: String, variance: String) {
        let m = perChannelCount(v)
        let sum = slot()
        write("0.0", sum)
        forEachInChannel(v, c) { i in accumulate(sum, w.loadF(p(v), i)) }
        let mean = w.f("fdiv", read(sum), m)
        let sq = slot()
        write("0.0", sq)
        forEachInChannel(v, c) { i in
            let d = w.f("fsub", w.loadF(p(v), i), mean)
            accumulate(sq, w.f("fmul", d, d))
        }
        return (mean, w.f("fdiv", read(sq), m))
    }

    /// The statistics a batch-norm op normalizes with: batch or running ones.
    func normalizer(_ n: Node, x: String, mean: String, variance: String, _ c: String) -> (mean: String, istd: String) {
        let (mu, v) = n.attrs.symbol("mode") == "train" ? channelStatistics(x, c) : (w.loadF(p(mean), c), w.loadF(p(variance), c))
        let sd = w.value("call float @llvm.sqrt.f32(float \(w.f("fadd", v, IRWriter.literal(n.attrs.float("eps")))))", "f")
        return (mu, w.f("fdiv", "1.0", sd))
    }

    func lowerChannelOp(_ n: Node) throws {
        let x = n.operands, out = p(n.result)
        if n.op == .channelSum && type(x[0]).rank == 2 {
            // Rows [R, C] are contiguous: add them one after another (a loop
            // over channels LLVM vectorizes). Channel by channel would stride
            // through memory: the 10,000-word softmax's bias gradient took
            // 5% of a language model's step that way.
            let channels = i64(s(x[0], 1))
            w.loop(to: channels, "ch") { c in w.storeF("0.0", out, c) }
            w.loop(to: lead(x[0]), "row") { row in
                let base = w.mul(row, channels)
                w.loop(to: channels, "ch") { c in w.storeF(w.f("fadd", w.loadF(out, c), w.loadF(p(x[0]), w.add(base, c))), out, c) }
            }
            return
        }
        let channels = n.op == .batchNorm || n.op == .batchNormGrad ? s(n.result, 1) : s(x[n.op == .batchNormGradGamma ? 1 : 0], 1)
        /// Stores the anchor's value at `i` (channel c's element, or c
        /// itself), then runs the fused epilogue on it.
        func store(_ v: String, _ i: String, _ c: String) throws {
            w.storeF(v, out, i)
            try channelEpilogue?(i, c, [n.result: v])
        }
        try w.loop(to: n.op == .channelSum ? i64(channels) : channelBound(channels), "ch") { c in
            switch n.op {
            case .batchNorm:
                let (mu, istd) = normalizer(n, x: x[0], mean: x[3], variance: x[4], c)
                let (gamma, beta) = (w.loadF(p(x[1]), c), w.loadF(p(x[2]), c))
                try forEachInChannel(x[0], c) { i in
                    let xhat = w.f("fmul", w.f("fsub", w.loadF(p(x[0]), i), mu), istd)
                    try store(w.f("fadd", w.f("fmul", gamma, xhat), beta), i, c)
                }
            case .batchNormGrad:
                let (mu, istd) = normalizer(n, x: x[1], mean: x[3], variance: x[4], c)
                let gamma = w.loadF(p(x[2]), c)
                if n.attrs.symbol("mode") == "infer" {
                    let scale = w.f("fmul", gamma, istd)
                    try forEachInChannel(x[1], c) { i in try store(w.f("fmul", w.loadF(p(x[0]), i), scale), i, c) }
                    break
                }
                // dx = istd/M * (M*g - sum(g) - xhat*sum(g*xhat)), g = dy*gamma.
                let sumG = slot(), sumGX = slot()
                write("0.0", sumG); write("0.0", sumGX)
                forEachInChannel(x[1], c) { i in
                    let g = w.f("fmul", w.loadF(p(x[0]), i), gamma)
                    let xhat = w.f("fmul", w.f("fsub", w.loadF(p(x[1]), i), mu), istd)
                    accumulate(sumG, g)
                    accumulate(sumGX, w.f("fmul", g, xhat))
                }
                let m = perChannelCount(x[1])
                let (sg, sgx) = (read(sumG), read(sumGX))
                let factor = w.f("fdiv", istd, m)
                try forEachInChannel(x[1], c) { i in
                    let g = w.f("fmul", w.loadF(p(x[0]), i), gamma)
                    let xhat = w.f("fmul", w.f("fsub", w.loadF(p(x[1]), i), mu), istd)
                    let inner = w.f("fsub", w.f("fsub", w.f("fmul", m, g), sg), w.f("fmul", xhat, sgx))
                    try store(w.f("fmul", factor, inner), i, c)
                }
            case .batchNormGradGamma:
                let (mu, istd) = normalizer(n, x: x[1], mean: x[2], variance: x[3], c)
                let acc = slot()
                write("0.0", acc)
                forEachInChannel(x[1], c) { i in
                    let xhat = w.f("fmul", w.f("fsub", w.loadF(p(x[1]), i), mu), istd)
                    accumulate(acc, w.f("fmul", w.loadF(p(x[0]), i), xhat))
                }
                try store(read(acc), c, c)
            case .batchMean:
                try store(channelStatistics(x[0], c).mean, c, c)
            case .batchVar:
                var v = channelStatistics(x[0], c).variance
                if n.attrs.bool("unbiased") {
                    // biased * M / max(M - 1, 1)
                    let m = perChannelCount(x[0])
                    let m1 = w.f("fsub", m, "1.0")
                    let big = w.value("fcmp ogt float \(m1), 1.0", "c")
                    let denom = w.value("select i1 \(big), float \(m1), float 1.0", "f")
                    v = w.f("fdiv", w.f("fmul", v, m), denom)
                }
                try store(v, c, c)
            default:  // channel_sum
                let acc = slot()
                write("0.0", acc)
                forEachInChannel(x[0], c) { i in accumulate(acc, w.loadF(p(x[0]), i)) }
                w.storeF(read(acc), out, c)
            }
        }
    }

    // MARK: - Pools

    /// Only the channel count is read from %dims: the plane's geometry
    /// stays literal, so LLVM folds the window's bounds checks and unrolls
    /// a 2x2 window into straight-line code (read from %dims, max pooling
    /// ran more than twice as slow). Pools are one or two kernels a child.
    func lowerPool(_ n: Node) {
        let x = n.operands, out = p(n.result)
        let input = n.op == .avgPoolGrad ? n.result : (n.op == .maxPoolGrad ? x[1] : x[0])
        let (C, H, W) = (s(input, 1), s(input, 2), s(input, 3))
        let k = n.attrs.ints("window")
        let (ah, aw) = axes(n.attrs, h: H, w: W, kernel: k)
        let grad = n.op == .maxPoolGrad || n.op == .avgPoolGrad
        if grad { zero(out, w.mul(lead(input), i64(C * H * W))) }
        let src = n.op == .maxPoolGrad ? p(x[1]) : (n.op == .avgPoolGrad ? "" : p(x[0]))
        w.loop(to: w.mul(lead(input), i64(C)), "plane") { plane in
            let inBase = w.mul(plane, "\(H * W)")
            /// Calls `body` with the input offset of every in-image tap of
            /// output (oh, ow)'s window; padding taps are skipped.
            func eachTap(_ oh: String, _ ow: String, _ body: (String) -> Void) {
                w.loop(to: "\(k[0])", "kh") { kh in
                    let (ih, okH) = tap(oh, kh, ah)
                    w.when(okH) {
                        w.loop(to: "\(k[1])", "kw") { kw in
                            let (iw, okW) = tap(ow, kw, aw)
                            w.when(okW) { body(w.add(inBase, w.add(w.mul(ih, "\(W)"), iw))) }
                        }
                    }
                }
            }
            let outBase = w.mul(plane, "\(ah.outputs * aw.outputs)")
            w.loop(to: "\(ah.outputs)", "oh") { oh in
                w.loop(to: "\(aw.outputs)", "ow") { ow in
                    let o = w.add(outBase, w.add(w.mul(oh, "\(aw.outputs)"), ow))
                    let best = slot(), bestAt = w.fresh("at"), sum = slot(), count = slot()
                    allocas.append("  \(bestAt) = alloca i64, align 8")
                    write("0xFFF0000000000000", best)  // -infinity
                    w.emit("store i64 -1, i64* \(bestAt), align 8")
                    write("0.0", sum); write("0.0", count)
                    eachTap(oh, ow) { at in
                        accumulate(count, "1.0")
                        if n.op == .avgPool { accumulate(sum, w.loadF(src, at)) }
                        if n.op == .maxPool || n.op == .maxPoolGrad {
                            let v = w.loadF(src, at)
                            let better = w.value("fcmp ogt float \(v), \(read(best))", "c")
                            w.when(better) {
                                write(v, best)
                                w.emit("store i64 \(at), i64* \(bestAt), align 8")
                            }
                        }
                    }
                    switch n.op {
                    case .maxPool: w.storeF(read(best), out, o)
                    case .avgPool: w.storeF(w.f("fdiv", read(sum), read(count)), out, o)
                    case .maxPoolGrad:
                        let at = w.value("load i64, i64* \(bestAt), align 8", "i")
                        let found = w.value("icmp sge i64 \(at), 0", "c")
                        w.when(found) { w.storeF(w.f("fadd", w.loadF(out, at), w.loadF(p(x[0]), o)), out, at) }
                    default:  // avg_pool_grad: share dy among the in-image taps
                        let share = w.f("fdiv", w.loadF(p(x[0]), o), read(count))
                        eachTap(oh, ow) { at in w.storeF(w.f("fadd", w.loadF(out, at), share), out, at) }
                    }
                }
            }
        }
    }
}
