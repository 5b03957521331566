import NascIR

/// Random changes to training images, the standard recipe for training a
/// found network to the end: a random crop of the image zero-padded by
/// `cropPadding` pixels on each side (a shift of up to that many pixels),
/// a horizontal flip with probability 1/2, and cutout (DeVries & Taylor,
/// 2017: a `cutout` x `cutout` square of zeros centred anywhere in the
/// image, clipped at its edges). Only training batches are changed, never
/// validation or test images. Each batch draws from a generator seeded by
/// the run's seed, epoch and batch, so a resumed run augments exactly as an
/// uninterrupted one would.
public struct Augmentation: Sendable, Equatable {
    public var cropPadding = 0
    public var flip = false
    public var cutout = 0

    public init(cropPadding: Int = 0, flip: Bool = false, cutout: Int = 0) {
        self.cropPadding = cropPadding
        self.flip = flip
        self.cutout = cutout
    }

    public var isNone: Bool { cropPadding == 0 && !flip && cutout == 0 }

    /// What a log line says of it.
    public var description: String {
        guard !isNone else { return "none" }
        var parts: [String] = []
        if cropPadding > 0 { parts.append("random crop (padding \(cropPadding))") }
        if flip { parts.append("horizontal flip") }
        if cutout > 0 { parts.append("cutout \(cutout)x\(cutout)") }
        return parts.joined(separator: ", ")
    }

    /// Changes `count` images of `channels` x `height` x `width` floats in place.
    public func apply(_ pixels: inout [Float], count: Int, channels: Int, height: Int, width: Int, seed: UInt64) {
        guard !isNone, count > 0 else { return }
        var rng = SeededGenerator(seed: seed)
        let plane = height * width, image = channels * plane
        var scratch = [Float](repeating: 0, count: image)
        pixels.withUnsafeMutableBufferPointer { px in
            for n in 0..<count {
                let base = n * image
                // Every draw happens whatever the settings, so turning one
                // change on does not alter the others' randomness.
                let dy = rng.index(2 * cropPadding + 1) - cropPadding
                let dx = rng.index(2 * cropPadding + 1) - cropPadding
                let coin = rng.index(2)
                let mirrored = flip && coin == 1
                let (cy, cx) = (rng.index(height), rng.index(width))
                if dy != 0 || dx != 0 || mirrored {
                    for c in 0..<channels {
                        for y in 0..<height {
                            let sy = y + dy
                            for x in 0..<width {
                                let sx = (mirrored ? width - 1 - x : x) + dx
                                scratch[c * plane + y * width + x] = sy >= 0 && sy < height && sx >= 0 && sx < width
                                    ? px[base + c * plane + sy * width + sx] : 0
                            }
                        }
                    }
                    for j in 0..<image { px[base + j] = scratch[j] }
                }
                if cutout > 0 {
                    let (y0, x0) = (max(cy - cutout / 2, 0), max(cx - cutout / 2, 0))
                    let (y1, x1) = (min(cy - cutout / 2 + cutout, height), min(cx - cutout / 2 + cutout, width))
                    for c in 0..<channels where y0 < y1 && x0 < x1 {
                        for y in y0..<y1 { for x in x0..<x1 { px[base + c * plane + y * width + x] = 0 } }
                    }
                }
            }
        }
    }
}
