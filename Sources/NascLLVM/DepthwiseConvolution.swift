import NascIR

/// Depthwise convolutions (one input channel per group: output channel o
/// reads input channel o / m, m = filters per channel) and their two
/// gradients, computed directly. Through im2col each group would be a
/// product of one row of K taps, and the filter gradient a product per
/// channel per image: OpenBLAS's call and packing overheads for a few
/// hundred multiply-adds. Here each filter tap is one pass over the
/// plane: for tap (kh, kw), the output positions whose input is inside
/// the image form a rectangle (`validRange`), so the inner loop runs over
/// a contiguous row of positions with no test per element, which LLVM
/// vectorizes for stride 1. A plane of 28x28 floats stays in the
/// first-level cache across its taps. The taps are loops, not unrolled:
/// 25 unrolled copies of a 5x5 filter's loop nest took seconds to compile.
///
/// The filter gradient sums dy x over every image and position: summed
/// into one register per tap, a row of 28 positions ended in a horizontal
/// sum (1.8 GFLOP/s on a 5x5 filter). It adds products position by
/// position into a row of sums per tap instead (elementwise, vectorized),
/// summed once at the end.
extension Lowering {
    func lowerDepthwise(_ n: Node, _ pass: ConvolutionPass, channels C: Int, filters O: Int, _ ah: Axis, _ aw: Axis) {
        let x = n.operands, out = p(n.result)
        let m = O / C
        let (KH, KW) = (ah.kernel, aw.kernel)
        let (inPlane, outPlane) = (ah.size * aw.size, ah.outputs * aw.outputs)
        let (OW, W) = (aw.outputs, aw.size)

        /// For every tap (an i64 value, kh * KW + kw): the rectangle of
        /// output positions reading inside the image, and for each of its
        /// positions the body with (output index, input index, position in its row).
        func eachTap(_ body: (_ tap: String, _ rows: (_ each: (_ outAt: String, _ inAt: String, _ ow: String) -> Void) -> Void) -> Void) {
            w.loop(to: "\(KH)", "kh") { kh in
                let dh = dilated(kh, ah)
                let (ohLo, ohHi) = validRange(dh, ah)
                let rowShift = w.sub(dh, "\(ah.padBefore)")
                w.loop(to: "\(KW)", "kw") { kw in
                    let dw = dilated(kw, aw)
                    let (owLo, owHi) = validRange(dw, aw)
                    let shift = w.sub(dw, "\(aw.padBefore)")
                    body(w.add(w.mul(kh, "\(KW)"), kw)) { each in
                        w.loop(from: ohLo, to: ohHi, "oh") { oh in
                            let ih = w.add(w.mul(oh, "\(ah.stride)"), rowShift)
                            let outRow = w.mul(oh, "\(OW)"), inRow = w.mul(ih, "\(W)")
                            w.loop(from: owLo, to: owHi, "ow") { ow in
                                let iw = aw.stride == 1 ? w.add(ow, shift) : w.add(w.mul(ow, "\(aw.stride)"), shift)
                                each(w.add(outRow, ow), w.add(inRow, iw), ow)
                            }
                        }
                    }
                }
            }
        }
        /// Plane of channel c (an i64 value) of image img in a tensor of `channels` planes of `plane` floats.
        func plane(_ base: String, _ img: String, _ channels: Int, _ c: String, _ plane: Int) -> String {
            offset(base, w.add(w.mul(img, i64(channels * plane)), w.mul(c, "\(plane)")))
        }
        func source(_ o: String) -> String { m == 1 ? o : w.sdiv(o, "\(m)") }
        if FlatPlane.applies(ah, aw) {
            lowerFlatDepthwise(n, pass, channels: C, filters: O, ah, aw, plane: plane, source: source)
            return
        }

        switch pass {
        case .forward:  // y[o] = sum over taps of w[o, tap] * x[o / m] shifted
            w.loop(to: lead(x[0]), "img") { img in
                w.loop(to: i64(O), "o") { o in
                    let (src, dst) = (plane(p(x[0]), img, C, source(o), inPlane), plane(out, img, O, o, outPlane))
                    zero(dst, "\(outPlane)")
                    let filter = offset(p(x[1]), w.mul(o, "\(KH * KW)"))
                    eachTap { tap, rows in
                        let weight = w.loadF(filter, tap)
                        rows { at, from, _ in w.storeF(w.f("fadd", w.loadF(dst, at), w.f("fmul", w.loadF(src, from), weight)), dst, at) }
                    }
                }
            }

        case .inputGradient:  // dx[o / m] += w[o, tap] * dy[o] shifted back
            zero(out, w.mul(lead(n.result), i64(C * inPlane)))
            w.loop(to: lead(n.result), "img") { img in
                w.loop(to: i64(O), "o") { o in
                    let (dy, dx) = (plane(p(x[0]), img, O, o, outPlane), plane(out, img, C, source(o), inPlane))
                    let filter = offset(p(x[1]), w.mul(o, "\(KH * KW)"))
                    eachTap { tap, rows in
                        let weight = w.loadF(filter, tap)
                        rows { at, to, _ in w.storeF(w.f("fadd", w.loadF(dx, to), w.f("fmul", w.loadF(dy, at), weight)), dx, to) }
                    }
                }
            }

        case .filterGradient:  // dw[o, tap] = sum over images and positions of dy[o] * x[o / m] shifted
            let sums = scratch(floats: (0, O * KH * KW * OW))
            zero(sums, i64(O * KH * KW * OW))
            w.loop(to: lead(x[0]), "img") { img in
                w.loop(to: i64(O), "o") { o in
                    let (src, dy) = (plane(p(x[0]), img, C, source(o), inPlane), plane(p(x[1]), img, O, o, outPlane))
                    eachTap { tap, rows in
                        let row = offset(sums, w.mul(w.add(w.mul(o, "\(KH * KW)"), tap), "\(OW)"))
                        rows { at, from, ow in w.storeF(w.f("fadd", w.loadF(row, ow), w.f("fmul", w.loadF(dy, at), w.loadF(src, from))), row, ow) }
                    }
                }
            }
            w.loop(to: i64(O * KH * KW), "t") { t in
                let acc = slot()
                write("0.0", acc)
                let row = offset(sums, w.mul(t, "\(OW)"))
                w.loop(to: "\(OW)", "ow") { ow in accumulate(acc, w.loadF(row, ow)) }
                w.storeF(read(acc), out, t)
            }
        }
    }
}

extension Lowering {
    /// The three passes of a stride-1 depthwise convolution as FlatPlane loops.
    func lowerFlatDepthwise(_ n: Node, _ pass: ConvolutionPass, channels C: Int, filters O: Int, _ ah: Axis, _ aw: Axis,
                            plane: (String, String, Int, String, Int) -> String, source: (String) -> String) {
        let x = n.operands, out = p(n.result)
        let m = O / C, (KH, KW) = (ah.kernel, aw.kernel), taps = KH * KW
        let (inPlane, outPlane) = (ah.size * aw.size, ah.outputs * aw.outputs)
        switch pass {
        case .forward:
            let flat = FlatPlane(rows: ah, columns: aw)
            let padded = scratch(floats: (0, flat.floats)), sums = scratch(floats: (0, flat.length))
            w.loop(to: lead(x[0]), "img") { img in
                w.loop(to: i64(O), "o") { o in
                    fillPadded(flat, from: plane(p(x[0]), img, C, source(o), inPlane), into: padded)
                    let filter = offset(p(x[1]), w.mul(o, "\(taps)"))
                    flatCorrelate(flat, padded: padded, weight: { kh, kw in w.loadF(filter, w.add(w.mul(kh, "\(KW)"), kw)) },
                                  into: plane(out, img, O, o, outPlane), adding: false, sums: sums)
                }
            }

        case .inputGradient:  // the output gradient through the reversed taps; m filters of a channel add up
            let flat = FlatPlane(rows: ah.reversed, columns: aw.reversed)
            let padded = scratch(floats: (0, flat.floats)), sums = scratch(floats: (0, flat.length))
            if m > 1 { zero(out, w.mul(lead(n.result), i64(C * inPlane))) }
            w.loop(to: lead(n.result), "img") { img in
                w.loop(to: i64(O), "o") { o in
                    fillPadded(flat, from: plane(p(x[0]), img, O, o, outPlane), into: padded)
                    let filter = offset(p(x[1]), w.mul(o, "\(taps)"))
                    func reversedTap(_ kh: String, _ kw: String) -> String {
                        w.loadF(filter, w.add(w.mul(w.sub("\(KH - 1)", kh), "\(KW)"), w.sub("\(KW - 1)", kw)))
                    }
                    flatCorrelate(flat, padded: padded, weight: reversedTap, into: plane(out, img, C, source(o), inPlane), adding: m > 1, sums: sums)
                }
            }

        case .filterGradient:
            let flat = FlatPlane(rows: ah, columns: aw), lanes = DirectConvolution.lanes
            let padded = scratch(floats: (0, flat.floats)), spread = scratch(floats: (0, flat.length))
            let sums = scratch(floats: (0, O * taps * lanes))
            zero(sums, i64(O * taps * lanes))
            w.loop(to: lead(x[0]), "img") { img in
                w.loop(to: i64(O), "o") { o in
                    fillPadded(flat, from: plane(p(x[0]), img, C, source(o), inPlane), into: padded)
                    spreadRows(flat, from: plane(p(x[1]), img, O, o, outPlane), into: spread)
                    flatFilterGradient(flat, padded: padded, spread: spread, sums: offset(sums, w.mul(o, "\(taps * lanes)")))
                }
            }
            w.loop(to: i64(O * taps), "t") { t in w.storeF(laneSum(vectorLoad(sums, w.mul(t, "\(lanes)"))), out, t) }
        }
    }
}
