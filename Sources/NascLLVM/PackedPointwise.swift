/// 1x1 convolutions over small planes as one product for all the images
/// of a call. A 1x1 convolution is a product per image, [O, C] x [C,
/// plane]; at a cell network's 7x7 and 4x4 planes that is 16 to 49
/// columns, and OpenBLAS's per-call overhead and packing outweigh the
/// arithmetic. Gathered channel-major, [C, images * plane], the images
/// make one product of hundreds of columns; gathering and scattering back
/// move (C + O) floats per position against C * O multiply-adds.
enum PackedPointwise {
    /// Planes of up to this many positions (14x14) are packed; larger ones
    /// are wide enough for a product per image.
    static let largestPlane = 196
}

extension Lowering {
    /// dst[c, img * plane + p] = src[img * stride + c * plane + p].
    func gatherChannels(_ src: String, stride: Int, channels: Int, plane: Int, images: String, into dst: String) {
        let columns = w.mul(images, "\(plane)")
        w.loop(to: images, "img") { img in
            w.loop(to: i64(channels), "c") { c in
                let from = w.add(w.mul(img, i64(stride)), w.mul(c, "\(plane)"))
                let to = w.add(w.mul(c, columns), w.mul(img, "\(plane)"))
                w.loop(to: "\(plane)", "q") { q in w.storeF(w.loadF(src, w.add(from, q)), dst, w.add(to, q)) }
            }
        }
    }

    /// The inverse of gatherChannels.
    func scatterChannels(_ src: String, stride: Int, channels: Int, plane: Int, images: String, into dst: String) {
        let columns = w.mul(images, "\(plane)")
        w.loop(to: images, "img") { img in
            w.loop(to: i64(channels), "c") { c in
                let from = w.add(w.mul(c, columns), w.mul(img, "\(plane)"))
                let to = w.add(w.mul(img, i64(stride)), w.mul(c, "\(plane)"))
                w.loop(to: "\(plane)", "q") { q in w.storeF(w.loadF(src, w.add(from, q)), dst, w.add(to, q)) }
            }
        }
    }

    /// out[img] = filters x input[img] for every image, as one product (see PackedPointwise).
    func convolvePacked(_ input: String, channels C: Int, plane: Int, filters: String, count O: Int, transposed: Bool,
                        images: String, into out: String, strides: (input: Int, output: Int)) {
        let packed = scratch(floats: (C * plane, 0)), result = scratch(floats: (O * plane, 0))
        let columns = w.mul(images, "\(plane)")
        gatherChannels(input, stride: strides.input, channels: C, plane: plane, images: images, into: packed)
        sgemm(transA: transposed, transB: false, m: i64(O), n: columns, k: i64(C), a: filters, lda: i64(transposed ? O : C),
              b: packed, ldb: columns, beta: "0.0", c: result, ldc: columns)
        scatterChannels(result, stride: strides.output, channels: O, plane: plane, images: images, into: out)
    }

    /// dw[O, C] = sum over images of dy[img] x input[img]^T, as one product.
    func filterGradientPacked(_ input: String, channels C: Int, plane: Int, gradient: String, count O: Int, images: String, into out: String) {
        let x = scratch(floats: (C * plane, 0)), dy = scratch(floats: (O * plane, 0))
        let columns = w.mul(images, "\(plane)")
        gatherChannels(input, stride: C * plane, channels: C, plane: plane, images: images, into: x)
        gatherChannels(gradient, stride: O * plane, channels: O, plane: plane, images: images, into: dy)
        sgemm(transA: false, transB: true, m: i64(O), n: i64(C), k: columns, a: dy, lda: columns, b: x, ldb: columns,
              beta: "0.0", c: out, ldc: i64(C))
    }
}
