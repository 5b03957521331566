import NascIR

/// Stride-1 depthwise convolutions laid flat over zero-bordered planes.
///
/// A cell network's separable convolutions run at 14x14, 7x7 and 4x4 once
/// its stem or its reductions have shrunk the image; there the rectangle
/// of each filter tap (DepthwiseConvolution) is a few rows of 4 to 7
/// positions, and the loop overhead outweighs the multiply-adds (a 5x5
/// filter gradient over 4x4 planes ran at 4.7 GFLOP/s). Copied into a
/// plane with a zero border, `width` = outputs + extent - 1 floats a row,
/// every tap reads the same run of rows shifted by a constant: output
/// (oh, ow) of tap (kh, kw) reads padded[(oh + kh d) width + ow + kw d].
/// Computing the `width - outputs` positions past each row's end as well
/// (and dropping them), one tap is a single contiguous loop of 16-lane
/// vectors over oh * width + ow, with no test and no remainder.
///
/// The input gradient is the same loop over the output gradient with the
/// taps reversed (WindowGeometry.reversed); the filter gradient is, per
/// tap, one dot product of the output gradient (laid out `width` a row,
/// zero past each row) with the shifted padded input.
struct FlatPlane {
    let rows: Axis, columns: Axis
    typealias Axis = WindowGeometry

    /// Floats per row of the padded plane.
    var width: Int { columns.outputs + columns.extent - 1 }
    /// Output positions computed: every row `width` long, rounded up to whole vectors.
    var length: Int { (rows.outputs * width + DirectConvolution.lanes - 1) / DirectConvolution.lanes * DirectConvolution.lanes }
    var vectors: Int { length / DirectConvolution.lanes }
    /// Floats of the padded plane, the furthest tap's reads included.
    var floats: Int { length + (rows.extent - 1) * width + columns.extent - 1 }
    /// Source rows and columns that land inside the padded plane (the
    /// others no tap reads).
    var copiedRows: Int { min(rows.size, rows.outputs + rows.extent - 1 - rows.padBefore) }
    var copiedColumns: Int { min(columns.size, width - columns.padBefore) }

    /// Whether the flat loops compute this window: stride 1, padding within the window.
    static func applies(_ ah: Axis, _ aw: Axis) -> Bool {
        [ah, aw].allSatisfy { $0.stride == 1 && $0.padBefore >= 0 && $0.padBefore <= $0.extent - 1 }
    }
}

extension Lowering {
    /// Copies a dense plane (nil: a plane of ones) into the inside of a
    /// padded plane whose border is `border` (a float literal).
    func fillPadded(_ plane: FlatPlane, from source: String?, into padded: String, border: String = "0.0") {
        if border == "0.0" {
            zero(padded, i64(plane.floats))
        } else {
            w.loop(to: i64(plane.floats), "j") { j in w.storeF(border, padded, j) }
        }
        w.loop(to: "\(plane.copiedRows)", "ih") { ih in
            let from = w.mul(ih, "\(plane.columns.size)")
            let to = w.add(w.mul(w.add(ih, "\(plane.rows.padBefore)"), "\(plane.width)"), "\(plane.columns.padBefore)")
            w.loop(to: "\(plane.copiedColumns)", "iw") { iw in
                w.storeF(source.map { w.loadF($0, w.add(from, iw)) } ?? "1.0", padded, w.add(to, iw))
            }
        }
    }

    /// Where tap (kh, kw) reads, relative to the output position, in the padded plane.
    func flatShift(_ plane: FlatPlane, _ kh: String, _ kw: String) -> String {
        w.add(w.mul(kh, "\(plane.rows.dilation * plane.width)"), w.mul(kw, "\(plane.columns.dilation)"))
    }

    /// dst (outputs x outputs, dense) = or += the sum over taps of
    /// weight(kh, kw) times the padded plane shifted by the tap.
    func flatCorrelate(_ plane: FlatPlane, padded: String, weight: (_ kh: String, _ kw: String) -> String,
                       into dst: String, adding: Bool, sums: String) {
        let lanes = DirectConvolution.lanes
        zero(sums, i64(plane.length))
        w.loop(to: "\(plane.rows.kernel)", "kh") { kh in
            w.loop(to: "\(plane.columns.kernel)", "kw") { kw in
                let scale = broadcast(weight(kh, kw)), shift = flatShift(plane, kh, kw)
                w.loop(to: "\(plane.vectors)", "v") { v in
                    let at = w.mul(v, "\(lanes)")
                    let product = w.value("fmul contract <16 x float> \(scale), \(vectorLoad(padded, w.add(shift, at)))", "v")
                    let sum = w.value("fadd contract <16 x float> \(product), \(vectorLoad(sums, at))", "v")
                    vectorStore(sum, sums, at, mask: nil)
                }
            }
        }
        w.loop(to: "\(plane.rows.outputs)", "oh") { oh in
            let from = w.mul(oh, "\(plane.width)"), to = w.mul(oh, "\(plane.columns.outputs)")
            w.loop(to: "\(plane.columns.outputs)", "ow") { ow in
                var v = w.loadF(sums, w.add(from, ow))
                if adding { v = w.f("fadd", v, w.loadF(dst, w.add(to, ow))) }
                w.storeF(v, dst, w.add(to, ow))
            }
        }
    }

    /// Lays a dense [outputs x outputs] plane out `width` floats a row,
    /// zero past each row's end and after the last row.
    func spreadRows(_ plane: FlatPlane, from source: String, into spread: String) {
        zero(spread, i64(plane.length))
        w.loop(to: "\(plane.rows.outputs)", "oh") { oh in
            let from = w.mul(oh, "\(plane.columns.outputs)"), to = w.mul(oh, "\(plane.width)")
            w.loop(to: "\(plane.columns.outputs)", "ow") { ow in w.storeF(w.loadF(source, w.add(from, ow)), spread, w.add(to, ow)) }
        }
    }

    /// sums[tap, 0..<16] += lanes of dy . (padded shifted by the tap), for every tap.
    func flatFilterGradient(_ plane: FlatPlane, padded: String, spread dy: String, sums: String) {
        let lanes = DirectConvolution.lanes
        w.loop(to: "\(plane.rows.kernel)", "kh") { kh in
            w.loop(to: "\(plane.columns.kernel)", "kw") { kw in
                let shift = flatShift(plane, kh, kw)
                let row = w.mul(w.add(w.mul(kh, "\(plane.columns.kernel)"), kw), "\(lanes)")
                let acc = vectorSlot()
                w.emit("store <16 x float> \(vectorLoad(sums, row)), <16 x float>* \(acc), align 64")
                w.loop(to: "\(plane.vectors)", "v") { v in
                    let at = w.mul(v, "\(lanes)")
                    multiplyAdd(vectorLoad(dy, at), vectorLoad(padded, w.add(shift, at)), into: acc)
                }
                vectorStore(readVector(acc), sums, row, mask: nil)
            }
        }
    }
}
