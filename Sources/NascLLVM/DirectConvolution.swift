import NascIR

/// Stride-1 convolutions over planes at least `minimumWidth` outputs wide,
/// computed directly instead of through im2col and OpenBLAS.
///
/// Each image is copied once into a zero-bordered buffer (the borders are
/// zeroed once per call; each image rewrites the inside). A tile of output
/// channels x output rows x 16 positions of a row then accumulates in
/// vector registers over every input channel and filter tap: one vector
/// load per row and tap, one broadcast filter value per channel and tap,
/// rows x channels fused multiply-adds. There is no column matrix to
/// write and read back, and filter rows that fall wholly on the top or
/// bottom border for the tile are skipped, where im2col multiplies their
/// zeros (the rows' part of the 23% of a 7x7 layer's multiply-adds at
/// 14x14 that land on padding; the columns' part is still multiplied).
///
/// c3's 7x3 layer over 84 channels at 28x28 (`nasc bench --profile`, 2
/// threads): 112 to 115 ms per step forward against 151 to 191 with
/// im2col and OpenBLAS, about 200 GFLOP/s counting im2col's multiply-adds.
/// At 7x7 planes half of each 16-lane vector idles, and a C probe ran
/// slower than im2col and sgemm (37 against 34 ms), hence the minimum width.
public enum DirectConvolution {
    /// Output positions per vector.
    public static let lanes = 16
    /// Planes narrower than this keep im2col and OpenBLAS.
    public static let minimumWidth = 12
    /// Output channels per tile, largest first: the tail of a filter count
    /// runs in smaller tiles (17 = 12 + 4 + 1).
    static let channelTiles = [12, 4, 1]
    /// Output rows per tile (the last tile of an odd plane computes a row past its end and does not store it).
    static let rowTile = 2

    /// Whether `convolve` computes this geometry directly.
    /// (The last two conditions, no padding after the image is negative,
    /// hold for every stride-1 `same` or `valid` window; they guard the
    /// padded buffer's bounds should another padding ever reach here.)
    public static func applies(_ ah: WindowGeometry, _ aw: WindowGeometry) -> Bool {
        ah.stride == 1 && aw.stride == 1 && ah.dilation == 1 && aw.dilation == 1 && !(ah.kernel == 1 && aw.kernel == 1) && aw.outputs >= minimumWidth
            && ah.outputs + ah.kernel - 1 >= ah.padBefore + ah.size && aw.outputs + aw.kernel - 1 >= aw.padBefore + aw.size
    }
}

extension Lowering {
    /// out[img] = filters (x) input[img] for `count` filters of `channels` x
    /// KH x KW, stored [count, channels, KH, KW]; see DirectConvolution.
    func convolveDirectly(_ input: String, channels C: Int, _ ah: Axis, _ aw: Axis, filters: String, count O: Int,
                          images: String, into out: String, strides: (input: Int, output: Int)? = nil) {
        let lanes = DirectConvolution.lanes
        let (OH, OW) = (ah.outputs, aw.outputs)
        let rr = DirectConvolution.rowTile
        let blocks = (OW + lanes - 1) / lanes, tailWidth = OW % lanes
        // Row r of the padded image holds input row r - padBefore; every tap
        // of every output row is inside, and so are a full vector from each
        // block and the rows a last tile computes past the plane (not stored).
        let paddedRows = OH + ah.kernel - 1 + rr - 1, paddedWidth = blocks * lanes + aw.kernel - 1
        let padded = scratch(floats: (0, C * paddedRows * paddedWidth))
        let (rowsD, widthD) = (i64(paddedRows), i64(paddedWidth))
        let (channelsD, kernelHD, kernelWD) = (i64(C), i64(ah.kernel), i64(aw.kernel))
        let (padTopD, padLeftD) = (i64(ah.padBefore), i64(aw.padBefore))
        let filterSizeD = i64(C * ah.kernel * aw.kernel)
        zero(padded, i64(C * paddedRows * paddedWidth))
        // The filters of each tile of `ro` output channels packed as [c, kh, kw, ro]
        // from o0 * C * KH * KW on: a tap's ro values are adjacent, read from
        // one pointer (ro pointers strided by a %dims value ran out of registers).
        let packed = scratch(floats: (0, O * C * ah.kernel * aw.kernel))
        forEachTile(count: O, sizes: DirectConvolution.channelTiles, "ot") { o0, ro in
            let base = w.mul(o0, filterSizeD)
            w.loop(to: filterSizeD, "tap") { tap in
                for o in 0..<ro {
                    let value = w.loadF(filters, w.add(w.add(base, w.mul("\(o)", filterSizeD)), tap))
                    w.storeF(value, packed, w.add(w.add(base, w.mul(tap, "\(ro)")), "\(o)"))
                }
            }
        }

        w.loop(to: images, "img") { img in
            let source = offset(input, w.mul(img, i64(strides?.input ?? C * ah.size * aw.size)))
            let result = offset(out, w.mul(img, i64(strides?.output ?? O * OH * OW)))
            copyInside(source, channels: channelsD, ah, aw, rows: rowsD, width: widthD, padding: (padTopD, padLeftD), into: padded)
            /// One tile: output channels [o0, o0 + channels), rows [oh0, oh0 + rowTile) (those inside the
            /// plane stored), positions [ow0, ow0 + 16) (the first `tailWidth` stored if `last`).
            func tile(_ o0: String, channels ro: Int, _ oh0: String, _ ow0: String, last: String) {
                let acc = zeroedVectorSlots(rr, ro)
                // Filter rows kh with some tile row oh0 + r reading inside the image: padTop - (oh0 + rr - 1) <= kh < padTop + H - oh0.
                let low = w.sub(padTopD, w.add(oh0, "\(rr - 1)"))
                let khLo = w.value("select i1 \(w.value("icmp sgt i64 \(low), 0", "c")), i64 \(low), i64 0", "i")
                let high = w.sub(w.add(padTopD, "\(ah.size)"), oh0)
                let khHi = w.value("select i1 \(w.value("icmp slt i64 \(high), \(kernelHD)", "c")), i64 \(high), i64 \(kernelHD)", "i")
                let tileFilters = offset(packed, w.mul(o0, filterSizeD))
                w.loop(to: channelsD, "c") { c in
                    let planeBase = w.mul(c, rowsD)
                    w.loop(from: khLo, to: khHi, "kh") { kh in
                        let tapRow = w.mul(w.add(w.mul(c, kernelHD), kh), kernelWD)
                        let rowStarts = (0..<rr).map { r in w.add(w.mul(w.add(planeBase, w.add(oh0, w.add(kh, "\(r)"))), widthD), ow0) }
                        w.loop(to: kernelWD, "kw") { kw in
                            let xs = rowStarts.map { vectorLoad(padded, w.add($0, kw)) }
                            let tapFilters = offset(tileFilters, w.mul(w.add(tapRow, kw), "\(ro)"))
                            for o in 0..<ro {
                                let b = broadcast(w.loadF(tapFilters, "\(o)"))
                                for r in 0..<rr { multiplyAdd(b, xs[r], into: acc[r][o]) }
                            }
                        }
                    }
                }
                let mask = blockMask(last: last, tailWidth: tailWidth)
                for r in 0..<rr {
                    func store() {
                        for o in 0..<ro {
                            let at = w.add(w.mul(w.add(w.mul(w.add(o0, "\(o)"), "\(OH)"), w.add(oh0, "\(r)")), "\(OW)"), ow0)
                            vectorStore(readVector(acc[r][o]), result, at, mask: mask)
                        }
                    }
                    if r == 0 { store() } else { w.when(w.value("icmp slt i64 \(w.add(oh0, "\(r)")), \(OH)", "c"), store) }
                }
            }
            // One copy of the tile per channel tile: the last block's lanes
            // and the last tile's rows are masked at run time, not unrolled.
            forEachTile(count: O, sizes: DirectConvolution.channelTiles, "ot") { o0, ro in
                w.loop(to: "\((OH + rr - 1) / rr)", "ohb") { t in
                    w.loop(to: "\(blocks)", "owb") { b in
                        tile(o0, channels: ro, w.mul(t, "\(rr)"), w.mul(b, "\(lanes)"), last: w.value("icmp eq i64 \(b), \(blocks - 1)", "c"))
                    }
                }
            }
        }
    }

    /// [0, count) in tiles of `sizes` (largest first, ending in 1): as many of
    /// the first size as fit, then of the next, and so on; body(first, size).
    /// The tile counts are %dims slots, so one kernel serves every count.
    func forEachTile(count: Int, sizes: [Int], _ hint: String, _ body: (_ first: String, _ size: Int) -> Void) {
        var first = 0
        for size in sizes {
            let tiles = (count - first) / size
            let start = i64(first)
            w.loop(to: i64(tiles), hint) { t in body(w.add(start, w.mul(t, "\(size)")), size) }
            first += tiles * size
        }
    }

    /// Copies one image [C, H, W] into the inside of its zero-bordered
    /// planes [C, rows, width]: input row ih, column iw go to row ih + the
    /// padding's top, column iw + its left (the borders stay as they are).
    func copyInside(_ source: String, channels: String, _ ah: Axis, _ aw: Axis, rows: String, width: String,
                    padding: (top: String, left: String), into padded: String) {
        w.loop(to: channels, "c") { c in
            w.loop(to: "\(ah.size)", "ih") { ih in
                let from = w.mul(w.add(w.mul(c, "\(ah.size)"), ih), "\(aw.size)")
                let row = w.add(w.mul(c, rows), w.add(ih, padding.top))
                let to = w.add(w.mul(row, width), padding.left)
                w.loop(to: "\(aw.size)", "iw") { iw in w.storeF(w.loadF(source, w.add(from, iw)), padded, w.add(to, iw)) }
            }
        }
    }

    /// A <16 x float> stack slot (promoted to a register by LLVM's mem2reg).
    func vectorSlot() -> String {
        let r = w.fresh("vacc")
        allocas.append("  \(r) = alloca <16 x float>, align 64")
        return r
    }

    /// rows x columns <16 x float> accumulators, zeroed.
    func zeroedVectorSlots(_ rows: Int, _ columns: Int) -> [[String]] {
        let slots = (0..<rows).map { _ in (0..<columns).map { _ in vectorSlot() } }
        for row in slots { for a in row { w.emit("store <16 x float> zeroinitializer, <16 x float>* \(a), align 64") } }
        return slots
    }

    /// slot += a * b, one fused multiply-add (`contract`).
    func multiplyAdd(_ a: String, _ b: String, into slot: String) {
        let product = w.value("fmul contract <16 x float> \(a), \(b)", "v")
        let sum = w.value("fadd contract <16 x float> \(product), \(readVector(slot))", "v")
        w.emit("store <16 x float> \(sum), <16 x float>* \(slot), align 64")
    }

    /// The lanes of a block of 16 positions that lie inside the row: all
    /// of them, but only the first `tailWidth` in the `last` block (nil if
    /// every block is full, and then `last` is not emitted).
    func blockMask(last: @autoclosure () -> String, tailWidth: Int) -> String? {
        tailWidth == 0 ? nil
            : w.value("select i1 \(last()), <16 x i1> \(laneMask(tailWidth)), <16 x i1> \(laneMask(DirectConvolution.lanes))", "m")
    }

    func readVector(_ slot: String) -> String { w.value("load <16 x float>, <16 x float>* \(slot), align 64", "v") }

    /// Loads base[index...], the lanes off `mask` (if given) zero and not read.
    func vectorLoad(_ base: String, _ index: String, mask: String? = nil) -> String {
        let p = w.value("bitcast float* \(w.gep("float", base, index)) to <16 x float>*", "p")
        guard let mask else { return w.value("load <16 x float>, <16 x float>* \(p), align 4", "v") }
        return w.value("call <16 x float> @llvm.masked.load.v16f32.p0v16f32(<16 x float>* \(p), i32 4, <16 x i1> \(mask), "
                       + "<16 x float> zeroinitializer)", "v")
    }

    /// The sum of a vector's 16 lanes, in any order.
    func laneSum(_ v: String) -> String {
        w.value("call reassoc float @llvm.vector.reduce.fadd.v16f32(float 0.0, <16 x float> \(v))", "f")
    }

    /// Stores `v` at base[index...], only the lanes of `mask` if given.
    func vectorStore(_ v: String, _ base: String, _ index: String, mask: String?) {
        let p = w.value("bitcast float* \(w.gep("float", base, index)) to <16 x float>*", "p")
        if let mask {
            w.emit("call void @llvm.masked.store.v16f32.p0v16f32(<16 x float> \(v), <16 x float>* \(p), i32 4, <16 x i1> \(mask))")
        } else {
            w.emit("store <16 x float> \(v), <16 x float>* \(p), align 4")
        }
    }

    /// A <16 x i1> literal: the first `width` lanes on.
    func laneMask(_ width: Int) -> String {
        "<" + (0..<DirectConvolution.lanes).map { "i1 \($0 < width ? "true" : "false")" }.joined(separator: ", ") + ">"
    }

    func broadcast(_ scalar: String) -> String {
        let one = w.value("insertelement <16 x float> undef, float \(scalar), i32 0", "v")
        return w.value("shufflevector <16 x float> \(one), <16 x float> undef, <16 x i32> zeroinitializer", "v")
    }
}
