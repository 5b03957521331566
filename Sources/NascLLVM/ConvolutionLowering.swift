import NascIR

/// Convolutions and their two gradients as im2col plus one OpenBLAS
/// product per image, over a band of output rows at a time (a strided
/// convolution's input gradient: a product into columns, then col2im).
/// Stride-1 convolutions over wide planes, and so the input gradients of
/// stride-1 layers, run without im2col instead (DirectConvolution), and
/// so do their filter gradients (DirectFilterGradient).
///
/// The columns of a whole image are C*KH*KW x OH*OW floats: 5.5 MB for 84
/// channels of 7x3 filters at 28x28, and every thread that runs batch
/// chunks keeps its own, which put a training step's resident memory above
/// PyTorch's. A band of output rows needs a fraction of that, and a
/// product of about `ConvolutionBands.columns` columns still runs at OpenBLAS's
/// full rate (the packing of the filters it repeats per band is small
/// against the band's product).
public enum ConvolutionBands {
    /// Output positions per band, at least: half a 28x28 plane. Planes of
    /// up to this many positions (14x14 and smaller) go in one band, as
    /// before bands. Products of 784 columns (OpenBLAS, one thread) took
    /// 31.0 to 31.2 ms for 64 images of 64 filters over 360 rows, in bands
    /// of 420 columns 31.4 to 31.6, of 280 31.8 to 32.1, of 140 32.6 to 32.8.
    public static let columns = 392

    /// Output rows per band of a plane of `rows` x `columns` outputs. A
    /// literal of the kernel's text: it depends only on the plane's size,
    /// which the text holds already (see Lowering.Axis).
    public static func rows(outputRows rows: Int, outputColumns width: Int) -> Int {
        min(rows, max(1, (columns + width - 1) / width))
    }
}

extension Lowering {
    func bandRows(_ ah: Axis, _ aw: Axis) -> Int { ConvolutionBands.rows(outputRows: ah.outputs, outputColumns: aw.outputs) }

    /// The body once per group of a grouped convolution, with the group's
    /// index (nil for one group: its text is what it was before groups).
    func eachGroup(_ groups: Int, _ body: (_ group: String?) -> Void) {
        if groups == 1 { body(nil) } else { w.loop(to: "\(groups)", "grp") { body($0) } }
    }

    /// `base` moved on by `floats` per group (unmoved for one group).
    func at(_ base: String, _ group: String?, _ floats: Int) -> String { group.map { offset(base, w.mul($0, i64(floats))) } ?? base }

    /// The output rows [first, first + count) band by band: `rows` per band,
    /// the last band what is left.
    func forEachBand(_ ah: Axis, rows: Int, _ body: (_ first: String, _ count: String) -> Void) {
        w.loop(to: "\((ah.outputs + rows - 1) / rows)", "band") { band in
            let first = w.mul(band, "\(rows)")
            let left = w.sub("\(ah.outputs)", first)
            let short = w.value("icmp slt i64 \(left), \(rows)", "c")
            body(first, w.value("select i1 \(short), i64 \(left), i64 \(rows)", "i"))
        }
    }

    /// Tap k's offset within the window: k, or k * dilation (a literal)
    /// for a dilated window.
    func dilated(_ k: String, _ a: Axis) -> String { a.dilation == 1 ? k : w.mul(k, "\(a.dilation)") }

    /// The output positions o in [lo, hi) whose tap k lands inside the input:
    /// 0 <= o*stride - pad + k < size (k: the tap's offset, see `dilated`). Integer bounds, so the inner loops copy
    /// contiguous ranges without a test per element (and vectorize).
    func validRange(_ k: String, _ a: Axis) -> (String, String) {
        // lo = ceil((pad - k) / stride) clamped to >= 0; hi = floor((size - 1 + pad - k) / stride) + 1 clamped to <= outputs.
        let num = w.sub(i64(a.padBefore), k)
        let positive = w.value("icmp sgt i64 \(num), 0", "c")
        let up = w.sdiv(w.add(num, "\(a.stride - 1)"), "\(a.stride)")
        let lo = w.value("select i1 \(positive), i64 \(up), i64 0", "i")
        let top = w.sub(w.add("\(a.size - 1)", i64(a.padBefore)), k)  // >= 0 whenever any tap fits
        let nonNegative = w.value("icmp sge i64 \(top), 0", "c")
        let last = w.add(w.sdiv(top, "\(a.stride)"), "1")
        let clamped = w.value("select i1 \(nonNegative), i64 \(last), i64 0", "i")
        let outputs = "\(a.outputs)"
        let small = w.value("icmp slt i64 \(clamped), \(outputs)", "c")
        let hi = w.value("select i1 \(small), i64 \(clamped), i64 \(outputs)", "i")
        let empty = w.value("icmp slt i64 \(hi), \(lo)", "c")
        return (lo, w.value("select i1 \(empty), i64 \(lo), i64 \(hi)", "i"))
    }

    /// [lo, hi) cut to [first, first + count), empty (lo == hi) if they miss.
    func clip(_ range: (String, String), first: String, count: String) -> (String, String) {
        let end = w.add(first, count)
        let later = w.value("icmp sgt i64 \(range.0), \(first)", "c")
        let lo = w.value("select i1 \(later), i64 \(range.0), i64 \(first)", "i")
        let sooner = w.value("icmp slt i64 \(range.1), \(end)", "c")
        let hi = w.value("select i1 \(sooner), i64 \(range.1), i64 \(end)", "i")
        let empty = w.value("icmp slt i64 \(hi), \(lo)", "c")
        return (lo, w.value("select i1 \(empty), i64 \(lo), i64 \(hi)", "i"))
    }

    /// The loop nest im2col and col2im share, over the band of output rows
    /// [first, first + count): for every filter tap and every output
    /// position whose input is inside the image, `body(colIndex,
    /// imageIndex)` with the band's columns laid out as
    /// [(c*KH+kh)*KW+kw, (oh-first)*OW+ow], `width` floats per row.
    func forEachValidTap(channels: Int, _ ah: Axis, _ aw: Axis, band first: String, _ count: String, width: Int,
                         _ body: (_ col: String, _ image: String) -> Void) {
        w.loop(to: i64(channels), "c") { c in
            w.loop(to: i64(ah.kernel), "kh") { kh in
                let dh = dilated(kh, ah)
                let (ohLo, ohHi) = clip(validRange(dh, ah), first: first, count: count)
                w.loop(to: i64(aw.kernel), "kw") { kw in
                    let dw = dilated(kw, aw)
                    let (owLo, owHi) = validRange(dw, aw)
                    let row = w.add(w.mul(w.add(w.mul(c, i64(ah.kernel)), kh), i64(aw.kernel)), kw)
                    let rowBase = w.mul(row, "\(width)")
                    w.loop(from: ohLo, to: ohHi, "oh") { oh in
                        let ih = w.add(w.sub(w.mul(oh, "\(ah.stride)"), i64(ah.padBefore)), dh)
                        let inRow = w.mul(w.add(w.mul(c, "\(ah.size)"), ih), "\(aw.size)")
                        let outRow = w.add(rowBase, w.mul(w.sub(oh, first), "\(aw.outputs)"))
                        w.loop(from: owLo, to: owHi, "ow") { ow in
                            let iw = w.add(w.sub(w.mul(ow, "\(aw.stride)"), i64(aw.padBefore)), dw)
                            body(w.add(outRow, ow), w.add(inRow, iw))
                        }
                    }
                }
            }
        }
    }

    /// im2col of one image's band: col[(c*KH+kh)*KW+kw, (oh-first)*OW+ow] = x[c, ih, iw] or 0.
    func im2col(_ image: String, channels: Int, _ ah: Axis, _ aw: Axis, band first: String, _ count: String, width: Int,
                into col: String) {
        zero(col, i64(channels * ah.kernel * aw.kernel * width))
        forEachValidTap(channels: channels, ah, aw, band: first, count, width: width) { at, from in
            w.storeF(w.loadF(image, from), col, at)
        }
    }

    /// col2im of one image's band: x[c, ih, iw] += col[row, (oh-first)*OW+ow] (x zeroed first).
    func col2im(_ col: String, channels: Int, _ ah: Axis, _ aw: Axis, band first: String, _ count: String, width: Int,
                into image: String) {
        forEachValidTap(channels: channels, ah, aw, band: first, count, width: width) { from, at in
            w.storeF(w.f("fadd", w.loadF(image, at), w.loadF(col, from)), image, at)
        }
    }

    /// Which of the three convolution ops a node is.
    enum ConvolutionPass { case forward, inputGradient, filterGradient }

    /// A convolution of `groups` groups is that many convolutions of C/groups
    /// channels into O/groups filters, each at an offset in the input, the
    /// filters and the output (images keep their whole-tensor strides). A
    /// depthwise one (one channel per group) has its own kernels
    /// (DepthwiseConvolution). One group emits the text it did before groups.
    func lowerConvolution(_ n: Node, _ pass: ConvolutionPass) {
        let x = n.operands
        let out = p(n.result)
        let g = n.attrs.groups
        let filters = pass == .filterGradient ? n.result : x[1]
        let (O, Cg, KH, KW) = (s(filters, 0), s(filters, 1), s(filters, 2), s(filters, 3))
        let C = Cg * g, Og = O / g
        let (H, W) = pass == .inputGradient ? (n.attrs.ints("input_size")[0], n.attrs.ints("input_size")[1]) : (s(x[0], 2), s(x[0], 3))
        let (ah, aw) = axes(n.attrs, h: H, w: W, kernel: [KH, KW])
        if g > 1 && Cg == 1 {
            lowerDepthwise(n, pass, channels: C, filters: O, ah, aw)
            return
        }
        let plane = ah.outputs * aw.outputs, ckk = Cg * KH * KW, image = C * H * W
        switch pass {
        case .forward:
            eachGroup(g) { grp in
                convolve(at(p(x[0]), grp, Cg * H * W), channels: Cg, ah, aw, filters: at(p(x[1]), grp, Og * ckk), count: Og, transposed: false,
                         images: lead(x[0]), into: at(out, grp, Og * plane), strides: g == 1 ? nil : (image, O * plane))
            }

        case .inputGradient:
            if ah.stride == 1 && aw.stride == 1 {
                lowerInputGradientAsConvolution(n, filters: (O, C, KH, KW), ah, aw)
                return
            }
            let rows = bandRows(ah, aw), width = rows * aw.outputs
            let col = scratch(floats: (0, ckk * width))
            zero(out, w.mul(lead(n.result), i64(image)))
            w.loop(to: lead(n.result), "img") { img in
                eachGroup(g) { grp in
                    let gradient = at(offset(p(x[0]), w.mul(img, i64(O * plane))), grp, Og * plane)
                    forEachBand(ah, rows: rows) { first, count in
                        sgemm(transA: true, transB: false, m: i64(ckk), n: w.mul(count, "\(aw.outputs)"), k: i64(Og), a: at(p(x[1]), grp, Og * ckk), lda: i64(ckk),
                              b: offset(gradient, w.mul(first, "\(aw.outputs)")), ldb: i64(plane), beta: "0.0", c: col, ldc: "\(width)")
                        col2im(col, channels: Cg, ah, aw, band: first, count, width: width, into: at(offset(out, w.mul(img, i64(image))), grp, Cg * H * W))
                    }
                }
            }

        case .filterGradient:
            if g == 1 && KH == 1 && KW == 1 && ah.stride == 1 && aw.stride == 1 && plane <= PackedPointwise.largestPlane {
                filterGradientPacked(p(x[0]), channels: C, plane: plane, gradient: p(x[1]), count: O, images: lead(x[0]), into: out)
                return
            }
            if g == 1 && DirectConvolution.applies(ah, aw) {
                filterGradientDirectly(p(x[0]), channels: C, ah, aw, gradient: p(x[1]), count: O, images: lead(x[0]), into: out)
                return
            }
            let rows = bandRows(ah, aw), width = rows * aw.outputs
            let col = scratch(floats: (0, ckk * width))
            zero(out, i64(O * ckk))
            w.loop(to: lead(x[0]), "img") { img in
                eachGroup(g) { grp in
                    let image = at(offset(p(x[0]), w.mul(img, i64(image))), grp, Cg * H * W)
                    let gradient = at(offset(p(x[1]), w.mul(img, i64(O * plane))), grp, Og * plane)
                    forEachBand(ah, rows: rows) { first, count in
                        im2col(image, channels: Cg, ah, aw, band: first, count, width: width, into: col)
                        sgemm(transA: false, transB: true, m: i64(Og), n: i64(ckk), k: w.mul(count, "\(aw.outputs)"),
                              a: offset(gradient, w.mul(first, "\(aw.outputs)")), lda: i64(plane), b: col, ldb: "\(width)",
                              beta: "1.0", c: at(out, grp, Og * ckk), ldc: i64(ckk))
                    }
                }
            }
        }
    }

    /// out[img] = filters x im2col(input[img]), band by band of output rows:
    /// `count` filters of channels*KH*KW taps each, stored [count, taps]
    /// (or, `transposed`, [taps, count], for 1x1 windows only).
    /// `strides`: the floats from one image to the next in the input and
    /// the output, when the convolution is one group of a larger one
    /// (nil: the images are [C, H, W] and [O, OH, OW]).
    func convolve(_ input: String, channels C: Int, _ ah: Axis, _ aw: Axis, filters: String, count O: Int, transposed: Bool,
                  images: String, into out: String, strides: (input: Int, output: Int)? = nil) {
        let plane = ah.outputs * aw.outputs, ckk = C * ah.kernel * aw.kernel
        let image = strides?.input ?? C * ah.size * aw.size, outputImage = strides?.output ?? O * plane
        if ah.kernel == 1 && aw.kernel == 1 && ah.stride == 1 && aw.stride == 1 {
            if plane <= PackedPointwise.largestPlane {
                convolvePacked(input, channels: C, plane: plane, filters: filters, count: O, transposed: transposed, images: images,
                               into: out, strides: (image, outputImage))
                return
            }
            // The image is its own columns.
            w.loop(to: images, "img") { img in
                sgemm(transA: transposed, transB: false, m: i64(O), n: i64(plane), k: i64(ckk), a: filters, lda: i64(transposed ? O : ckk),
                      b: offset(input, w.mul(img, i64(image))), ldb: i64(plane), beta: "0.0",
                      c: offset(out, w.mul(img, i64(outputImage))), ldc: i64(plane))
            }
            return
        }
        precondition(!transposed, "convolve: transposed filters only for 1x1 windows")
        if DirectConvolution.applies(ah, aw) {
            convolveDirectly(input, channels: C, ah, aw, filters: filters, count: O, images: images, into: out, strides: strides)
            return
        }
        let rows = bandRows(ah, aw), width = rows * aw.outputs
        let col = scratch(floats: (0, ckk * width))
        w.loop(to: images, "img") { img in
            let source = offset(input, w.mul(img, i64(image)))
            let result = offset(out, w.mul(img, i64(outputImage)))
            forEachBand(ah, rows: rows) { first, count in
                im2col(source, channels: C, ah, aw, band: first, count, width: width, into: col)
                sgemm(transA: false, transB: false, m: i64(O), n: w.mul(count, "\(aw.outputs)"), k: i64(ckk), a: filters, lda: i64(ckk),
                      b: col, ldb: "\(width)", beta: "0.0", c: offset(result, w.mul(first, "\(aw.outputs)")), ldc: i64(plane))
            }
        }
    }

    /// The input gradient of a stride-1 convolution is a convolution of the
    /// output gradient with the filters reversed in space and their input
    /// and output channels swapped (WindowGeometry.reversed). As one, it
    /// writes each band of input rows with one product, where the product
    /// into columns and col2im's read-add-write over the image took 20-40%
    /// longer (C probe, one thread, 64 images: 84 channels from 48 filters
    /// 3x3 at 28x28, 86 -> 62 ms; 48 from 24 5x5, 92 -> 56 ms; 96 from 54
    /// 7x7 at 7x7, 38 -> 31 ms; 72 from 54 3x3 at 14x14, 17 -> 14 ms).
    func lowerInputGradientAsConvolution(_ n: Node, filters: (O: Int, C: Int, KH: Int, KW: Int), _ ah: Axis, _ aw: Axis) {
        let (O, C, KH, KW) = filters
        let g = n.attrs.groups, Og = O / g, Cg = C / g
        let (rh, rw) = (ah.reversed, aw.reversed)
        // A group's dy is Og of dy's O channels; its dx, Cg of dx's C.
        let strides: (input: Int, output: Int)? = g == 1 ? nil : (O * ah.outputs * aw.outputs, C * ah.size * aw.size)
        /// Group grp's output gradient, filters and input gradient.
        func slices(_ grp: String?) -> (dy: String, weights: String, dx: String) {
            (at(p(n.operands[0]), grp, Og * ah.outputs * aw.outputs), at(p(n.operands[1]), grp, Og * Cg * KH * KW), at(p(n.result), grp, Cg * ah.size * aw.size))
        }
        if KH == 1 && KW == 1 {
            eachGroup(g) { grp in
                let (dy, weights, dx) = slices(grp)
                convolve(dy, channels: Og, rh, rw, filters: weights, count: Cg, transposed: true, images: lead(n.result), into: dx, strides: strides)
            }
            return
        }
        // reversed[c, (o*KH+kh)*KW+kw] = weights[o, c, KH-1-kh, KW-1-kw]: once per call (per group), a fraction of one image's product.
        let taps = Og * KH * KW
        let reversed = scratch(floats: (0, Cg * taps))
        eachGroup(g) { grp in
            let (dy, weights, dx) = slices(grp)
            w.loop(to: i64(Og), "o") { o in
                w.loop(to: i64(Cg), "c") { c in
                    w.loop(to: i64(KH), "kh") { kh in
                        let from = w.mul(w.add(w.mul(o, i64(Cg)), c), i64(KH * KW))
                        let fromRow = w.add(from, w.mul(w.sub(i64(KH - 1), kh), i64(KW)))
                        let to = w.add(w.mul(c, i64(taps)), w.mul(w.add(w.mul(o, i64(KH)), kh), i64(KW)))
                        w.loop(to: i64(KW), "kw") { kw in
                            let value = w.loadF(weights, w.add(fromRow, w.sub(i64(KW - 1), kw)))
                            w.storeF(value, reversed, w.add(to, kw))
                        }
                    }
                }
            }
            convolve(dy, channels: Og, rh, rw, filters: reversed, count: Cg, transposed: false, images: lead(n.result), into: dx, strides: strides)
        }
    }
}
