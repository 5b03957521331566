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

    /// The output positions o in [lo, hi) whose tap k lands inside the input:
    /// 0 <= o*stride - pad + k < size. Integer bounds, so the inner loops copy
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
                let (ohLo, ohHi) = clip(validRange(kh, ah), first: first, count: count)
                w.loop(to: i64(aw.kernel), "kw") { kw in
                    let (owLo, owHi) = validRange(kw, aw)
                    let row = w.add(w.mul(w.add(w.mul(c, i64(ah.kernel)), kh), i64(aw.kernel)), kw)
                    let rowBase = w.mul(row, "\(width)")
                    w.loop(from: ohLo, to: ohHi, "oh") { oh in
                        let ih = w.add(w.sub(w.mul(oh, "\(ah.stride)"), i64(ah.padBefore)), kh)
                        let inRow = w.mul(w.add(w.mul(c, "\(ah.size)"), ih), "\(aw.size)")
                        let outRow = w.add(rowBase, w.mul(w.sub(oh, first), "\(aw.outputs)"))
                        w.loop(from: owLo, to: owHi, "ow") { ow in
                            let iw = w.add(w.sub(w.mul(ow, "\(aw.stride)"), i64(aw.padBefore)), kw)
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

    func lowerConvolution(_ n: Node) {
        let x = n.operands
        let out = p(n.result)
        switch n.op {
        case .conv2d:
            let (C, H, W) = (s(x[0], 1), s(x[0], 2), s(x[0], 3))
            let (O, KH, KW) = (s(x[1], 0), s(x[1], 2), s(x[1], 3))
            let (ah, aw) = axes(n.attrs, h: H, w: W, kernel: [KH, KW])
            convolve(p(x[0]), channels: C, ah, aw, filters: p(x[1]), count: O, transposed: false, images: lead(x[0]), into: out)

        case .conv2dGradInput:
            let (O, C, KH, KW) = (s(x[1], 0), s(x[1], 1), s(x[1], 2), s(x[1], 3))
            let size = n.attrs.ints("input_size")
            let (ah, aw) = axes(n.attrs, h: size[0], w: size[1], kernel: [KH, KW])
            if ah.stride == 1 && aw.stride == 1 {
                lowerInputGradientAsConvolution(n, filters: (O, C, KH, KW), ah, aw)
                return
            }
            let plane = ah.outputs * aw.outputs, ckk = C * KH * KW, image = C * size[0] * size[1]
            let rows = bandRows(ah, aw), width = rows * aw.outputs
            let col = scratch(floats: (0, ckk * width))
            zero(out, w.mul(lead(n.result), i64(image)))
            w.loop(to: lead(n.result), "img") { img in
                let gradient = offset(p(x[0]), w.mul(img, i64(O * plane)))
                forEachBand(ah, rows: rows) { first, count in
                    sgemm(transA: true, transB: false, m: i64(ckk), n: w.mul(count, "\(aw.outputs)"), k: i64(O), a: p(x[1]), lda: i64(ckk),
                          b: offset(gradient, w.mul(first, "\(aw.outputs)")), ldb: i64(plane), beta: "0.0", c: col, ldc: "\(width)")
                    col2im(col, channels: C, ah, aw, band: first, count, width: width, into: offset(out, w.mul(img, i64(image))))
                }
            }

        case .conv2dGradFilter:
            let (C, H, W) = (s(x[0], 1), s(x[0], 2), s(x[0], 3))
            let (O, KH, KW) = (s(n.result, 0), s(n.result, 2), s(n.result, 3))
            let (ah, aw) = axes(n.attrs, h: H, w: W, kernel: [KH, KW])
            if DirectConvolution.applies(ah, aw) {
                filterGradientDirectly(p(x[0]), channels: C, ah, aw, gradient: p(x[1]), count: O, images: lead(x[0]), into: out)
                return
            }
            let plane = ah.outputs * aw.outputs, ckk = C * KH * KW
            let rows = bandRows(ah, aw), width = rows * aw.outputs
            let col = scratch(floats: (0, ckk * width))
            zero(out, i64(O * ckk))
            w.loop(to: lead(x[0]), "img") { img in
                let image = offset(p(x[0]), w.mul(img, i64(C * H * W)))
                let gradient = offset(p(x[1]), w.mul(img, i64(O * plane)))
                forEachBand(ah, rows: rows) { first, count in
                    im2col(image, channels: C, ah, aw, band: first, count, width: width, into: col)
                    sgemm(transA: false, transB: true, m: i64(O), n: i64(ckk), k: w.mul(count, "\(aw.outputs)"),
                          a: offset(gradient, w.mul(first, "\(aw.outputs)")), lda: i64(plane), b: col, ldb: "\(width)",
                          beta: "1.0", c: out, ldc: i64(ckk))
                }
            }

        default:
            preconditionFailure("lowerConvolution: \(n.op) is not a convolution")
        }
    }

    /// out[img] = filters x im2col(input[img]), band by band of output rows:
    /// `count` filters of channels*KH*KW taps each, stored [count, taps]
    /// (or, `transposed`, [taps, count], for 1x1 windows only).
    func convolve(_ input: String, channels C: Int, _ ah: Axis, _ aw: Axis, filters: String, count O: Int, transposed: Bool,
                  images: String, into out: String) {
        let plane = ah.outputs * aw.outputs, ckk = C * ah.kernel * aw.kernel, image = C * ah.size * aw.size
        if ah.kernel == 1 && aw.kernel == 1 && ah.stride == 1 && aw.stride == 1 {
            // The image is its own columns.
            w.loop(to: images, "img") { img in
                sgemm(transA: transposed, transB: false, m: i64(O), n: i64(plane), k: i64(ckk), a: filters, lda: i64(transposed ? O : ckk),
                      b: offset(input, w.mul(img, i64(image))), ldb: i64(plane), beta: "0.0",
                      c: offset(out, w.mul(img, i64(O * plane))), ldc: i64(plane))
            }
            return
        }
        precondition(!transposed, "convolve: transposed filters only for 1x1 windows")
        if DirectConvolution.applies(ah, aw) {
            convolveDirectly(input, channels: C, ah, aw, filters: filters, count: O, images: images, into: out)
            return
        }
        let rows = bandRows(ah, aw), width = rows * aw.outputs
        let col = scratch(floats: (0, ckk * width))
        w.loop(to: images, "img") { img in
            let source = offset(input, w.mul(img, i64(image)))
            let result = offset(out, w.mul(img, i64(O * plane)))
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
        let gradient = p(n.operands[0]), weights = p(n.operands[1])
        let (rh, rw) = (ah.reversed, aw.reversed)
        if KH == 1 && KW == 1 {
            convolve(gradient, channels: O, rh, rw, filters: weights, count: C, transposed: true, images: lead(n.result), into: p(n.result))
            return
        }
        // reversed[c, (o*KH+kh)*KW+kw] = weights[o, c, KH-1-kh, KW-1-kw]: once per call, a fraction of one image's product.
        let taps = O * KH * KW
        let reversed = scratch(floats: (0, C * taps))
        w.loop(to: i64(O), "o") { o in
            w.loop(to: i64(C), "c") { c in
                w.loop(to: i64(KH), "kh") { kh in
                    let from = w.mul(w.add(w.mul(o, i64(C)), c), i64(KH * KW))
                    let fromRow = w.add(from, w.mul(w.sub(i64(KH - 1), kh), i64(KW)))
                    let to = w.add(w.mul(c, i64(taps)), w.mul(w.add(w.mul(o, i64(KH)), kh), i64(KW)))
                    w.loop(to: i64(KW), "kw") { kw in
                        let value = w.loadF(weights, w.add(fromRow, w.sub(i64(KW - 1), kw)))
                        w.storeF(value, reversed, w.add(to, kw))
                    }
                }
            }
        }
        convolve(gradient, channels: O, rh, rw, filters: reversed, count: C, transposed: false, images: lead(n.result), into: p(n.result))
    }
}
