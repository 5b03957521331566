import NascIR

/// Ops that move elements (concat, slice, pad, crop, reshape) and ops that
/// work row by row (embedding, softmax, the classification loss).
extension Lowering {
    /// Elements from axis `axis` on (static), and the rows before it (may involve N).
    func split(_ v: String, axis: Int) -> (outer: String, size: Int, inner: Int) {
        let d = type(v).dims
        let inner = d[(axis + 1)...].reduce(1) { $0 * ($1.staticValue ?? 1) }
        var outer = "1"
        for x in d[..<axis] { outer = w.mul(outer, dim(x)) }
        return (outer, d[axis].staticValue ?? 1, inner)
    }

    func copy(from src: String, _ srcIndex: String, to dst: String, _ dstIndex: String, floats: Int) {
        w.loop(to: i64(floats), "k") { k in w.storeF(w.loadF(src, w.add(srcIndex, k)), dst, w.add(dstIndex, k)) }
    }

    enum LayoutKind { case concat, slice, zeroPad, crop, sameElements }

    func lowerLayout(_ n: Node, _ kind: LayoutKind) {
        let x = n.operands, out = p(n.result)
        switch kind {
        case .concat:
            let axis = n.attrs.int("axis")
            let (outer, total, inner) = split(n.result, axis: axis)
            var start = 0
            for v in x {
                let size = s(v, axis)
                let at = start
                w.loop(to: outer, "o") { o in
                    copy(from: p(v), w.mul(o, i64(size * inner)), to: out, w.add(w.mul(o, i64(total * inner)), i64(at * inner)), floats: size * inner)
                }
                start += size
            }
        case .slice:
            let axis = n.attrs.int("axis"), start = n.attrs.int("start")
            let (outer, total, inner) = split(x[0], axis: axis)
            let size = s(n.result, axis)
            w.loop(to: outer, "o") { o in
                copy(from: p(x[0]), w.add(w.mul(o, i64(total * inner)), i64(start * inner)), to: out, w.mul(o, i64(size * inner)), floats: size * inner)
            }
        case .zeroPad, .crop:
            let pads = n.attrs.ints("pads")
            let (small, big) = n.op == .zeroPad ? (x[0], n.result) : (n.result, x[0])
            let (h, wd, bh, bw) = (s(small, 2), s(small, 3), s(big, 2), s(big, 3))
            if n.op == .zeroPad { zero(out, count(type(n.result))) }
            w.loop(to: w.mul(lead(small), i64(s(small, 1))), "plane") { plane in
                w.loop(to: i64(h), "row") { r in
                    let smallAt = w.mul(w.add(w.mul(plane, i64(h)), r), i64(wd))
                    let bigAt = w.add(w.mul(w.add(w.mul(plane, i64(bh)), w.add(r, i64(pads[0]))), i64(bw)), i64(pads[2]))
                    if n.op == .zeroPad { copy(from: p(x[0]), smallAt, to: out, bigAt, floats: wd) }
                    else { copy(from: p(x[0]), bigAt, to: out, smallAt, floats: wd) }
                }
            }
        case .sameElements:  // flatten, reshape: the same elements in the same order
            w.loop(to: count(type(n.result)), "e") { i in w.storeF(w.loadF(p(x[0]), i), out, i) }
        }
    }

    enum RowKind {
        case embedding, embeddingGradient, softmaxGradient
        /// The ops that take a softmax of each row first.
        case softmax(SoftmaxRows)
    }
    enum SoftmaxRows: Equatable {
        case probabilities, loss(weighted: Bool), lossGradient(weighted: Bool)
    }

    func lowerRows(_ n: Node, _ kind: RowKind) {
        let x = n.operands, out = p(n.result)
        switch kind {
        case .embedding:
            let (vocab, width) = (s(x[0], 0), s(x[0], 1))
            zero(out, count(type(n.result)))
            w.loop(to: count(type(x[1])), "id") { i in
                let id = w.loadI(p(x[1]), i)
                let ok = w.value("and i1 \(w.value("icmp sge i64 \(id), 0", "c")), \(w.value("icmp slt i64 \(id), \(i64(vocab))", "c"))", "c")
                w.when(ok) { copy(from: p(x[0]), w.mul(id, i64(width)), to: out, w.mul(i, i64(width)), floats: width) }
            }
        case .embeddingGradient:
            let (vocab, width) = (n.attrs.int("vocab"), s(n.result, 1))
            zero(out, i64(vocab * width))
            w.loop(to: count(type(x[1])), "id") { i in
                let id = w.loadI(p(x[1]), i)
                let ok = w.value("and i1 \(w.value("icmp sge i64 \(id), 0", "c")), \(w.value("icmp slt i64 \(id), \(i64(vocab))", "c"))", "c")
                w.when(ok) {
                    w.loop(to: i64(width), "k") { k in
                        let at = w.add(w.mul(id, i64(width)), k)
                        w.storeF(w.f("fadd", w.loadF(out, at), w.loadF(p(x[0]), w.add(w.mul(i, i64(width)), k))), out, at)
                    }
                }
            }
        case .softmax(let rowsOp):
            let weighted = rowsOp == .loss(weighted: true) || rowsOp == .lossGradient(weighted: true)
            let classes = s(x[0], 1)
            // Label smoothing ε (absent: the one-hot target, and the same code as before it existed).
            let smoothing = n.attrs["smoothing"]?.floatValue ?? 0
            let total = slot()
            write("0.0", total)
            // Split rows run to %n; a mean still divides by all of them.
            let rows = lead(x[0])
            let rowsF = w.value("sitofp i64 \(rowSplit.map { i64($0.rows) } ?? rows) to float", "f")
            w.loop(to: rows, "row") { r in
                let base = w.mul(r, i64(classes))
                let top = slot(), sum = slot()
                write("0xFFF0000000000000", top)
                // `nnan nsz` let the loop vectorizer keep a maximum per lane
                // (without them the row's max ran one element at a time, half
                // of a 10,000-word softmax's time). Neither changes a result:
                // a NaN logit makes every exp below NaN whatever the maximum,
                // and subtracting -0 or +0 is the same.
                w.loop(to: i64(classes), "k") { k in
                    let v = w.loadF(p(x[0]), w.add(base, k))
                    let bigger = w.value("fcmp nnan nsz ogt float \(v), \(read(top))", "c")
                    write(w.value("select nnan nsz i1 \(bigger), float \(v), float \(read(top))", "f"), top)
                }
                let m = read(top)
                // Ops with a row of output keep each exp there for the last
                // pass instead of computing it again: the exps are most of
                // the cost (a 10,000-word softmax's gradient took half as
                // long). Each element is read before it is written, so an
                // output in the logits' buffer is safe.
                let keepsExps = n.op != .softmaxCrossEntropy && n.op != .weightedSoftmaxCrossEntropy
                write("0.0", sum)
                w.loop(to: i64(classes), "k") { k in
                    let e = w.value("call float @nasc_expf(float \(w.f("fsub", w.loadF(p(x[0]), w.add(base, k)), m)))", "f")
                    if keepsExps { w.storeF(e, out, w.add(base, k)) }
                    accumulate(sum, e)
                }
                let z = read(sum)
                switch rowsOp {
                case .probabilities:
                    w.loop(to: i64(classes), "k") { k in
                        w.storeF(w.f("fdiv", w.loadF(out, w.add(base, k)), z), out, w.add(base, k))
                    }
                case .loss:
                    let label = w.loadI(p(x[1]), r)
                    let ok = w.value("and i1 \(w.value("icmp sge i64 \(label), 0", "c")), \(w.value("icmp slt i64 \(label), \(i64(classes))", "c"))", "c")
                    w.when(ok) {
                        let logZ = w.f("fadd", w.value("call float @logf(float \(z))", "f"), m)
                        var term = w.f("fsub", logZ, w.loadF(p(x[0]), w.add(base, label)))
                        if smoothing > 0 {
                            // logZ - (1 - ε) x[label] - ε mean(x) = term + ε (x[label] - mean(x))
                            let rowSum = slot()
                            write("0.0", rowSum)
                            w.loop(to: i64(classes), "k") { k in accumulate(rowSum, w.loadF(p(x[0]), w.add(base, k))) }
                            let mean = w.f("fdiv", read(rowSum), IRWriter.literal(Double(classes)))
                            term = w.f("fadd", term, w.f("fmul", IRWriter.literal(smoothing), w.f("fsub", w.loadF(p(x[0]), w.add(base, label)), mean)))
                        }
                        if weighted { term = w.f("fmul", term, w.loadF(p(x[2]), r)) }
                        accumulate(total, term)
                    }
                case .lossGradient:  // (softmax - onehot) * dloss / rows (times the row's weight)
                    var scale = w.f("fdiv", w.loadF(p(x[weighted ? 3 : 2]), "0"), rowsF)
                    if weighted { scale = w.f("fmul", scale, w.loadF(p(x[2]), r)) }
                    let label = w.loadI(p(x[1]), r)
                    w.loop(to: i64(classes), "k") { k in
                        let prob = w.f("fdiv", w.loadF(out, w.add(base, k)), z)
                        let hit = w.value("icmp eq i64 \(k), \(label)", "c")
                        let (off, on) = (smoothing / Double(classes), 1 - smoothing + smoothing / Double(classes))
                        let target = smoothing > 0 ? w.value("select i1 \(hit), float \(IRWriter.literal(on)), float \(IRWriter.literal(off))", "f")
                                                   : w.value("select i1 \(hit), float 1.0, float 0.0", "f")
                        w.storeF(w.f("fmul", w.f("fsub", prob, target), scale), out, w.add(base, k))
                    }
                }
            }
            if n.op == .softmaxCrossEntropy || n.op == .weightedSoftmaxCrossEntropy { w.storeF(w.f("fdiv", read(total), rowsF), out, "0") }
        case .softmaxGradient:  // dx = y * (dy - sum(dy * y))
            let classes = s(x[1], 1)
            w.loop(to: lead(x[1]), "row") { r in
                let base = w.mul(r, i64(classes))
                let dot = slot()
                write("0.0", dot)
                w.loop(to: i64(classes), "k") { k in
                    let i = w.add(base, k)
                    accumulate(dot, w.f("fmul", w.loadF(p(x[0]), i), w.loadF(p(x[1]), i)))
                }
                let d = read(dot)
                w.loop(to: i64(classes), "k") { k in
                    let i = w.add(base, k)
                    w.storeF(w.f("fmul", w.loadF(p(x[1]), i), w.f("fsub", w.loadF(p(x[0]), i), d)), out, i)
                }
            }
        }
    }
}
