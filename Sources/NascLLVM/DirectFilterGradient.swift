import NascIR

/// The filter gradient of a stride-1 convolution that DirectConvolution
/// computes directly, itself computed without im2col and OpenBLAS:
///
///     dW[o, c, kh, kw] = sum over images, rows oh and positions ow of
///                        dY[img, o, oh, ow] * x[img, c, oh + kh - top, ow + kw - left]
///
/// Vectors run along a row's positions, as in the forward convolution. A
/// tile of 4 filters x 6 taps (a tap is c*KH*KW + kh*KW + kw, a column of
/// dW seen as [O, C*KH*KW]) keeps 24 accumulators: per 16 positions, 4
/// loads of dY (the last block's lanes past the row masked to zero), 6
/// loads of the zero-bordered input shifted by each tap, 24 fused
/// multiply-adds. A product's lanes still hold partial sums, so the
/// accumulators run over every position of a group of images before
/// their lanes are summed into dW: one horizontal sum per tile and group,
/// where one per image would be about a tenth of a 14x14 plane's
/// instructions. (Groups of 16 images and 4 MB were no faster.)
public enum DirectFilterGradient {
    /// Filters per tile, largest first (the tail of a filter count runs
    /// in tiles of 1), and taps per tile: 24 accumulators, 4 + 6 loads.
    static let filterTiles = [4, 1]
    static let tapTiles = [6, 1]
    /// Images whose padded copies a group holds: at most `groupImages`,
    /// and no more than `groupFloats` floats (2 MB) unless one image is
    /// larger, to stay below the im2col columns this replaces.
    static let groupImages = 8
    static let groupFloats = 1 << 19

    public static func groupSize(floatsPerImage: Int) -> Int {
        max(1, min(groupImages, groupFloats / max(1, floatsPerImage)))
    }
}

extension Lowering {
    /// out = the filter gradient [count, channels, KH, KW] of the images'
    /// convolution, from the inputs [images, channels, H, W] and the output
    /// gradient [images, count, OH, OW]; see DirectFilterGradient.
    func filterGradientDirectly(_ input: String, channels C: Int, _ ah: Axis, _ aw: Axis, gradient: String, count O: Int,
                                images: String, into out: String) {
        let lanes = DirectConvolution.lanes
        let (OH, OW) = (ah.outputs, aw.outputs)
        let blocks = (OW + lanes - 1) / lanes, tailWidth = OW % lanes
        // Every tap of every output position, and a full vector from each block, read inside the planes.
        let paddedRows = OH + ah.kernel - 1, paddedWidth = blocks * lanes + aw.kernel - 1
        let perImage = C * paddedRows * paddedWidth, taps = C * ah.kernel * aw.kernel
        let group = DirectFilterGradient.groupSize(floatsPerImage: perImage)
        let padded = scratch(floats: (0, group * perImage))
        let (rowsD, widthD, perImageD, groupD) = (i64(paddedRows), i64(paddedWidth), i64(perImage), i64(group))
        let (channelsD, tapsD, kernelD, kernelWD) = (i64(C), i64(taps), i64(ah.kernel * aw.kernel), i64(aw.kernel))
        let padding = (i64(ah.padBefore), i64(aw.padBefore))
        zero(padded, i64(group * perImage))
        zero(out, i64(O * taps))

        w.loop(to: w.sdiv(w.add(images, w.sub(groupD, "1")), groupD), "grp") { g in
            let first = w.mul(g, groupD)
            let left = w.sub(images, first)
            let count = w.value("select i1 \(w.value("icmp slt i64 \(left), \(groupD)", "c")), i64 \(left), i64 \(groupD)", "i")
            w.loop(to: count, "img") { img in
                let source = offset(input, w.mul(w.add(first, img), i64(C * ah.size * aw.size)))
                copyInside(source, channels: channelsD, ah, aw, rows: rowsD, width: widthD, padding: padding,
                           into: offset(padded, w.mul(img, perImageD)))
            }

            /// Filters [o0, o0 + ro) x taps [t0, t0 + rt) over the group's images.
            func tile(_ o0: String, filters ro: Int, _ t0: String, taps rt: Int) {
                let acc = zeroedVectorSlots(ro, rt)
                // Where tap t reads, from a position's place in its image's planes: channel c's plane, kh rows down, kw along.
                let shifts = (0..<rt).map { i -> String in
                    let t = w.add(t0, "\(i)"), k = w.srem(t, kernelD)
                    let row = w.add(w.mul(w.sdiv(t, kernelD), rowsD), w.sdiv(k, kernelWD))
                    return w.add(w.mul(row, widthD), w.srem(k, kernelWD))
                }
                w.loop(to: count, "img") { img in
                    let planes = offset(padded, w.mul(img, perImageD))
                    let dy = offset(gradient, w.add(w.mul(w.add(first, img), i64(O * OH * OW)), w.mul(o0, "\(OH * OW)")))
                    w.loop(to: "\(OH)", "oh") { oh in
                        w.loop(to: "\(blocks)", "owb") { b in
                            let ow0 = w.mul(b, "\(lanes)")
                            let mask = blockMask(last: w.value("icmp eq i64 \(b), \(blocks - 1)", "c"), tailWidth: tailWidth)
                            let at = w.add(w.mul(oh, "\(OW)"), ow0)
                            let ys = (0..<ro).map { o in vectorLoad(dy, w.add(at, "\(o * OH * OW)"), mask: mask) }
                            let position = w.add(w.mul(oh, widthD), ow0)
                            for i in 0..<rt {
                                let x = vectorLoad(planes, w.add(position, shifts[i]))
                                for o in 0..<ro { multiplyAdd(ys[o], x, into: acc[o][i]) }
                            }
                        }
                    }
                }
                for o in 0..<ro {
                    let row = w.add(w.mul(w.add(o0, "\(o)"), tapsD), t0)
                    for i in 0..<rt {
                        let at = w.add(row, "\(i)")
                        w.storeF(w.f("fadd", w.loadF(out, at), laneSum(readVector(acc[o][i]))), out, at)
                    }
                }
            }
            // Filters outside, taps inside: a filter tile's dY stays in cache while every tap tile reads it.
            forEachTile(count: O, sizes: DirectFilterGradient.filterTiles, "ft") { o0, ro in
                forEachTile(count: taps, sizes: DirectFilterGradient.tapTiles, "tt") { t0, rt in tile(o0, filters: ro, t0, taps: rt) }
            }
        }
    }
}
