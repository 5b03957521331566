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

    /// What one pass over channel c gives: its mean and biased variance,
    /// and the sums a gradient needs (of dy, and of dy times x's distance
    /// from the shift).
    struct ChannelSums {
        var mean: String, variance: String
        /// The channel's first element, and the mean's distance from it.
        var shift: String, shiftedMean: String
        var dy: String? = nil, dyShifted: String? = nil
    }

    /// One pass over channel c of v (and of dy, when given) for its
    /// statistics: sums of d = x - K and d * d, where K is the channel's
    /// first element. The interpreter's two passes (the mean, then squares
    /// of distances from it) read the channel twice, and each batch-norm
    /// kernel of a training step computes the statistics again: a third of
    /// their passes over memory. Without the shift, E[x^2] - E[x]^2 loses
    /// every digit when the mean is large against the spread; K is one of
    /// the channel's own values, a few standard deviations from the mean at
    /// most, so the difference stays of the variance's own size.
    func channelSums(_ v: String, _ c: String, dy: String? = nil) -> ChannelSums {
        if let kept = channelSumsKept.first(where: { $0.x == v && (dy == nil || $0.dy == dy) }) { return kept.sums }
        let m = perChannelCount(v)
        let inner = type(v).dims.dropFirst(2).reduce(1) { $0 * ($1.staticValue ?? 1) }
        let shift = w.loadF(p(v), w.mul(c, "\(inner)"))  // example 0's first element of channel c
        let sums = (0..<(dy == nil ? 2 : 4)).map { _ in slot() }
        for sum in sums { write("0.0", sum) }
        forEachInChannel(v, c) { i in
            let d = w.f("fsub", w.loadF(p(v), i), shift)
            accumulate(sums[0], d)
            accumulate(sums[1], w.f("fmul", d, d))
            if let dy {
                let g = w.loadF(p(dy), i)
                accumulate(sums[2], g)
                accumulate(sums[3], w.f("fmul", g, d))
            }
        }
        let shiftedMean = w.f("fdiv", read(sums[0]), m)
        let raw = w.f("fsub", w.f("fdiv", read(sums[1]), m), w.f("fmul", shiftedMean, shiftedMean))
        let positive = w.value("fcmp ogt float \(raw), 0.0", "c")  // rounding may take it below zero
        var result = ChannelSums(mean: w.f("fadd", shift, shiftedMean), variance: w.value("select i1 \(positive), float \(raw), float 0.0", "f"),
                                 shift: shift, shiftedMean: shiftedMean)
        if dy != nil { (result.dy, result.dyShifted) = (read(sums[2]), read(sums[3])) }
        channelSumsKept.append((v, dy, result))
        return result
    }

    /// 1 / sqrt(variance + eps).
    func inverseDeviation(_ variance: String, _ n: Node) -> String {
        let sd = w.value("call float @llvm.sqrt.f32(float \(w.f("fadd", variance, IRWriter.literal(n.attrs.float("eps")))))", "f")
        return w.f("fdiv", "1.0", sd)
    }

    /// The statistics a batch-norm op normalizes with: batch or running ones.
    func normalizer(_ n: Node, x: String, mean: String, variance: String, _ c: String) -> Normalizer {
        guard n.attrs.symbol("mode") == "train" else {
            return Normalizer(shift: "0.0", mean: w.loadF(p(mean), c), istd: inverseDeviation(w.loadF(p(variance), c), n))
        }
        return normalizer(channelSums(x, c), n)
    }

    func normalizer(_ sums: ChannelSums, _ n: Node) -> Normalizer {
        Normalizer(shift: sums.shift, mean: sums.shiftedMean, istd: inverseDeviation(sums.variance, n))
    }

    /// `scale` times sum(dy * x-hat), from the statistics' pass: sum(dy * x-hat)
    /// is istd * (sum(dy*d) - (mean-K) * sum(dy)), and `scale` holds istd.
    func scaledSumOfDyXhat(_ sums: ChannelSums, _ scale: String) -> String {
        w.f("fmul", scale, w.f("fsub", sums.dyShifted!, w.f("fmul", sums.shiftedMean, sums.dy!)))
    }

    /// Normalizes as ((x - shift) - mean) * istd: batch statistics keep the
    /// mean as its distance from the channel's first element, since around
    /// 1000 a float mean is only good to 6e-5, a 1e-4 error in x-hat
    /// where the spread is 0.3 (the subtraction x - shift is exact).
    struct Normalizer {
        var shift: String, mean: String, istd: String
    }

    func normalized(_ x: String, _ z: Normalizer) -> String { w.f("fmul", w.f("fsub", w.f("fsub", x, z.shift), z.mean), z.istd) }

    /// Channel sums (rows [R, C]: a bias's gradient) or planes of [N, C, ...].
    func lowerChannelSum(_ n: Node) {
        let x = n.operands, out = p(n.result)
        if type(x[0]).rank == 2 {
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
        w.loop(to: i64(s(x[0], 1)), "ch") { c in
            let acc = slot()
            write("0.0", acc)
            forEachInChannel(x[0], c) { i in accumulate(acc, w.loadF(p(x[0]), i)) }
            w.storeF(read(acc), out, c)
        }
    }

    /// Ops of batch statistics (ChannelSplit.ops) in one loop over channels:
    /// one op, or several that sum the same values (Fusion's siblings), each
    /// followed by its epilogue (channelEpilogues). Their sums are computed
    /// once per channel (channelSums keeps them for the channel).
    func lowerChannelOps(_ anchors: [Node]) throws {
        try w.loop(to: channelBound(s(ChannelSplit.summed(anchors[0]), 1)), "ch") { c in
            channelSumsKept = []
            for n in anchors { try lowerChannelOp(n, c) }
        }
    }

    /// The ops of batch statistics, by their AnchorOp names (ChannelSplit.ops is this list as ops).
    enum ChannelKind: CaseIterable { case batchNorm, batchNormGrad, batchNormGradGamma, batchMean, batchVar }

    /// One op of batch statistics for channel c.
    func lowerChannelOp(_ n: Node, _ c: String) throws {
        guard let kind = n.op.anchor?.member(of: ChannelKind.self) else {
            throw BackendError(message: "internal: '\(n.op.name)' is not an op of batch statistics")
        }
        let x = n.operands, out = p(n.result)
        /// Stores the op's value at `i` (channel c's element, or c itself),
        /// then runs its fused epilogue on it.
        func store(_ v: String, _ i: String, _ c: String) throws {
            w.storeF(v, out, i)
            try channelEpilogues[n.result]?(i, c, [n.result: v])
        }
        switch kind {
        case .batchNorm:
            let z = normalizer(n, x: x[0], mean: x[3], variance: x[4], c)
            let (gamma, beta) = (w.loadF(p(x[1]), c), w.loadF(p(x[2]), c))
            try forEachInChannel(x[0], c) { i in
                let xhat = normalized(w.loadF(p(x[0]), i), z)
                try store(w.f("fadd", w.f("fmul", gamma, xhat), beta), i, c)
            }
        case .batchNormGrad:
            let gamma = w.loadF(p(x[2]), c)
            if n.attrs.symbol("mode") == "infer" {
                let scale = w.f("fmul", gamma, inverseDeviation(w.loadF(p(x[4]), c), n))
                try forEachInChannel(x[1], c) { i in try store(w.f("fmul", w.loadF(p(x[0]), i), scale), i, c) }
                break
            }
            // dx = istd/M * (M*g - sum(g) - xhat*sum(g*xhat)), g = dy*gamma.
            let sums = channelSums(x[1], c, dy: x[0])
            let z = normalizer(sums, n)
            let m = perChannelCount(x[1])
            let sg = w.f("fmul", gamma, sums.dy!)
            let sgx = scaledSumOfDyXhat(sums, w.f("fmul", gamma, z.istd))  // sum(g * x-hat)
            let factor = w.f("fdiv", z.istd, m)
            try forEachInChannel(x[1], c) { i in
                let g = w.f("fmul", w.loadF(p(x[0]), i), gamma)
                let xhat = normalized(w.loadF(p(x[1]), i), z)
                let inner = w.f("fsub", w.f("fsub", w.f("fmul", m, g), sg), w.f("fmul", xhat, sgx))
                try store(w.f("fmul", factor, inner), i, c)
            }
        case .batchNormGradGamma:
            if n.attrs.symbol("mode") == "train" {
                let sums = channelSums(x[1], c, dy: x[0])
                try store(scaledSumOfDyXhat(sums, inverseDeviation(sums.variance, n)), c, c)
                break
            }
            let z = normalizer(n, x: x[1], mean: x[2], variance: x[3], c)
            let acc = slot()
            write("0.0", acc)
            forEachInChannel(x[1], c) { i in
                let xhat = normalized(w.loadF(p(x[1]), i), z)
                accumulate(acc, w.f("fmul", w.loadF(p(x[0]), i), xhat))
            }
            try store(read(acc), c, c)
        case .batchMean:
            try store(channelSums(x[0], c).mean, c, c)
        case .batchVar:
            var v = channelSums(x[0], c).variance
            if n.attrs.bool("unbiased") {
                // biased * M / max(M - 1, 1)
                let m = perChannelCount(x[0])
                let m1 = w.f("fsub", m, "1.0")
                let big = w.value("fcmp ogt float \(m1), 1.0", "c")
                let denom = w.value("select i1 \(big), float \(m1), float 1.0", "f")
                v = w.f("fdiv", w.f("fmul", v, m), denom)
            }
            try store(v, c, c)
        }
    }

    // MARK: - Pools

    /// Only the channel count is read from %dims: the plane's geometry
    /// stays literal, so LLVM folds the window's bounds checks and unrolls
    /// a 2x2 window into straight-line code (read from %dims, max pooling
    /// ran more than twice as slow). Pools are one or two kernels a child.
    enum PoolKind { case max, average, maxGradient, averageGradient }

    func lowerPool(_ n: Node, _ kind: PoolKind) {
        let x = n.operands, out = p(n.result)
        let input = n.op == .avgPoolGrad ? n.result : (n.op == .maxPoolGrad ? x[1] : x[0])
        let (C, H, W) = (s(input, 1), s(input, 2), s(input, 3))
        let k = n.attrs.ints("window")
        let (ah, aw) = axes(n.attrs, h: H, w: W, kernel: k)
        if ah.stride == 1 && aw.stride == 1 && FlatPlane.applies(ah, aw) {
            lowerFlatPool(n, kind, ah, aw, planes: w.mul(lead(input), i64(C)))
            return
        }
        let grad = n.op == .maxPoolGrad || n.op == .avgPoolGrad
        let src = n.op == .maxPoolGrad ? p(x[1]) : (n.op == .avgPoolGrad ? "" : p(x[0]))
        w.loop(to: w.mul(lead(input), i64(C)), "plane") { plane in
            let inBase = w.mul(plane, "\(H * W)")
            // A gradient adds into its plane zeroed just before, still in cache.
            if grad { zero(offset(out, inBase), i64(H * W)) }
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
                    switch kind {
                    case .max: w.storeF(read(best), out, o)
                    case .average: w.storeF(w.f("fdiv", read(sum), read(count)), out, o)
                    case .maxGradient:
                        let at = w.value("load i64, i64* \(bestAt), align 8", "i")
                        let found = w.value("icmp sge i64 \(at), 0", "c")
                        w.when(found) { w.storeF(w.f("fadd", w.loadF(out, at), w.loadF(p(x[0]), o)), out, at) }
                    case .averageGradient:  // share dy among the in-image taps
                        let share = w.f("fdiv", w.loadF(p(x[0]), o), read(count))
                        eachTap(oh, ow) { at in w.storeF(w.f("fadd", w.loadF(out, at), share), out, at) }
                    }
                }
            }
        }
    }
}
