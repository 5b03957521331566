import NascIR

/// Stride-1 pools (a cell's 3x3 average and max pools, "same" padding) as
/// FlatPlane loops: one vector loop per window tap over a bordered plane
/// instead of a bounds test per tap per position (a 3x3 average pool's
/// gradient over 14x14 planes took 3.9 ms for 128 images of 24 channels).
///
/// Semantics are lowerPool's: an average divides by the window's taps
/// inside the image (their count, the same pool run over a plane of ones);
/// a maximum is the first strictly greatest tap in (kh, kw) order, with
/// the border at -infinity so it never wins, and its gradient goes to
/// that tap only.
extension Lowering {
    func lowerFlatPool(_ n: Node, _ kind: PoolKind, _ ah: Axis, _ aw: Axis, planes: String) {
        let x = n.operands, out = p(n.result), lanes = DirectConvolution.lanes
        let flat = FlatPlane(rows: ah, columns: aw)
        let (inPlane, outPlane) = (ah.size * aw.size, ah.outputs * aw.outputs)
        let padded = scratch(floats: (0, flat.floats)), sums = scratch(floats: (0, flat.length))
        let minusInfinity = "0xFFF0000000000000"
        func one(_ kh: String, _ kw: String) -> String { "1.0" }

        switch kind {
        case .average, .averageGradient:
            let counts = scratch(floats: (0, outPlane))
            fillPadded(flat, from: nil, into: padded)
            flatCorrelate(flat, padded: padded, weight: one, into: counts, adding: false, sums: sums)
            if kind == .average {
                w.loop(to: planes, "plane") { plane in
                    let dst = offset(out, w.mul(plane, "\(outPlane)"))
                    fillPadded(flat, from: offset(p(x[0]), w.mul(plane, "\(inPlane)")), into: padded)
                    flatCorrelate(flat, padded: padded, weight: one, into: dst, adding: false, sums: sums)
                    w.loop(to: "\(outPlane)", "o") { o in w.storeF(w.f("fdiv", w.loadF(dst, o), w.loadF(counts, o)), dst, o) }
                }
            } else {  // each output's gradient shared among its taps: the reversed window over dy / count
                let reversed = FlatPlane(rows: ah.reversed, columns: aw.reversed)
                let back = scratch(floats: (0, reversed.floats)), backSums = scratch(floats: (0, reversed.length))
                let shares = scratch(floats: (0, outPlane))
                w.loop(to: planes, "plane") { plane in
                    let dy = offset(p(x[0]), w.mul(plane, "\(outPlane)"))
                    w.loop(to: "\(outPlane)", "o") { o in w.storeF(w.f("fdiv", w.loadF(dy, o), w.loadF(counts, o)), shares, o) }
                    fillPadded(reversed, from: shares, into: back)
                    flatCorrelate(reversed, padded: back, weight: one, into: offset(out, w.mul(plane, "\(inPlane)")), adding: false, sums: backSums)
                }
            }

        case .max, .maxGradient:
            let gradient = kind == .maxGradient
            let input = gradient ? x[1] : x[0]
            // The winning tap of every position (as a float; -1: none), for the gradient.
            let winners = gradient ? scratch(floats: (0, flat.length)) : ""
            let spread = gradient ? scratch(floats: (0, flat.floats)) : ""
            w.loop(to: planes, "plane") { plane in
                fillPadded(flat, from: offset(p(input), w.mul(plane, "\(inPlane)")), into: padded, border: minusInfinity)
                w.loop(to: "\(flat.vectors)", "v") { v in
                    vectorStore(broadcast(minusInfinity), sums, w.mul(v, "\(lanes)"), mask: nil)
                    if gradient { vectorStore(broadcast("-1.0"), winners, w.mul(v, "\(lanes)"), mask: nil) }
                }
                w.loop(to: "\(ah.kernel)", "kh") { kh in
                    w.loop(to: "\(aw.kernel)", "kw") { kw in
                        let shift = flatShift(flat, kh, kw)
                        let tap = gradient ? broadcast(w.value("sitofp i64 \(w.add(w.mul(kh, "\(aw.kernel)"), kw)) to float", "f")) : ""
                        w.loop(to: "\(flat.vectors)", "v") { v in
                            let at = w.mul(v, "\(lanes)")
                            let value = vectorLoad(padded, w.add(shift, at)), best = vectorLoad(sums, at)
                            let better = w.value("fcmp ogt <16 x float> \(value), \(best)", "c")
                            vectorStore(w.value("select <16 x i1> \(better), <16 x float> \(value), <16 x float> \(best)", "v"), sums, at, mask: nil)
                            if gradient {
                                let winner = w.value("select <16 x i1> \(better), <16 x float> \(tap), <16 x float> \(vectorLoad(winners, at))", "v")
                                vectorStore(winner, winners, at, mask: nil)
                            }
                        }
                    }
                }
                if !gradient {
                    let dst = offset(out, w.mul(plane, "\(outPlane)"))
                    w.loop(to: "\(ah.outputs)", "oh") { oh in
                        let from = w.mul(oh, "\(flat.width)"), to = w.mul(oh, "\(aw.outputs)")
                        w.loop(to: "\(aw.outputs)", "ow") { ow in w.storeF(w.loadF(sums, w.add(from, ow)), dst, w.add(to, ow)) }
                    }
                    return
                }
                // dy goes to its winner, in the bordered layout; then the inside is the input's gradient.
                zero(spread, i64(flat.floats))
                let dy = offset(p(x[0]), w.mul(plane, "\(outPlane)"))
                w.loop(to: "\(ah.outputs)", "oh") { oh in
                    w.loop(to: "\(aw.outputs)", "ow") { ow in
                        let at = w.add(w.mul(oh, "\(flat.width)"), ow)
                        let tap = w.value("fptosi float \(w.loadF(winners, at)) to i64", "i")
                        w.when(w.value("icmp sge i64 \(tap), 0", "c")) {
                            let (kh, kw) = (w.sdiv(tap, "\(aw.kernel)"), w.srem(tap, "\(aw.kernel)"))
                            let to = w.add(at, flatShift(flat, kh, kw))
                            w.storeF(w.f("fadd", w.loadF(spread, to), w.loadF(dy, w.add(w.mul(oh, "\(aw.outputs)"), ow))), spread, to)
                        }
                    }
                }
                let dx = offset(out, w.mul(plane, "\(inPlane)"))
                if flat.copiedRows < ah.size || flat.copiedColumns < aw.size { zero(dx, i64(inPlane)) }
                w.loop(to: "\(flat.copiedRows)", "ih") { ih in
                    let from = w.add(w.mul(w.add(ih, "\(ah.padBefore)"), "\(flat.width)"), "\(aw.padBefore)"), to = w.mul(ih, "\(aw.size)")
                    w.loop(to: "\(flat.copiedColumns)", "iw") { iw in w.storeF(w.loadF(spread, w.add(from, iw)), dx, w.add(to, iw)) }
                }
            }
        }
    }
}
