import Foundation
import NascIR

/// CIFAR-10's binary batches: records of 1 label byte and 3072 pixel bytes
/// (1024 red, 1024 green, 1024 blue, row-major 32x32), 10,000 per file:
/// data_batch_1.bin ... data_batch_5.bin and test_batch.bin.
public enum CIFAR10 {
    public static let recordSize = 1 + 3 * 32 * 32
    /// Per-channel mean and standard deviation of the training set.
    public static let mean: [Float] = [0.4914, 0.4822, 0.4465]
    public static let std: [Float] = [0.2470, 0.2435, 0.2616]

    public static func read(_ path: String) throws -> ImageDataset {
        let bytes = try FileBytes.read(path)   // capped by the memory limit when gzip-compressed
        guard !bytes.isEmpty else { throw DatasetError(path, "empty file") }
        guard bytes.count % recordSize == 0 else {
            throw DatasetError(path, "\(bytes.count) bytes is not a whole number of \(recordSize)-byte records (the last record is short by \(recordSize - bytes.count % recordSize) bytes)")
        }
        let n = bytes.count / recordSize
        var pixels = [Float](repeating: 0, count: n * 3072)
        var labels = [Int32](repeating: 0, count: n)
        for r in 0..<n {
            let base = r * recordSize
            guard bytes[base] < 10 else { throw DatasetError(path, "record \(r) has label \(bytes[base]); CIFAR-10 labels are 0..9") }
            labels[r] = Int32(bytes[base])
            for c in 0..<3 {
                for i in 0..<1024 {
                    pixels[r * 3072 + c * 1024 + i] = (Float(bytes[base + 1 + c * 1024 + i]) / 255 - mean[c]) / std[c]
                }
            }
        }
        return ImageDataset(channels: 3, height: 32, width: 32, classes: 10, pixels: pixels, labels: labels, origin: path)
    }

    /// The five training batches (or the test batch) from a folder.
    public static func load(directory: String, test: Bool = false) throws -> ImageDataset {
        let files = test ? ["test_batch.bin"] : (1...5).map { "data_batch_\($0).bin" }
        var all: ImageDataset? = nil
        for f in files {
            let d = try read("\(directory)/\(f)")
            if var a = all {
                a.pixels += d.pixels
                a.labels += d.labels
                all = a
            } else {
                all = d
            }
        }
        all!.origin = files.count == 1 ? "\(directory)/\(files[0])" : directory
        return all!
    }

    /// The standard augmentation, in place on a batch of normalized images:
    /// pad 4 pixels (with zeros, the normalized mean) and crop a random
    /// 32x32 window, then flip horizontally with probability 1/2.
    public static func augment(_ pixels: inout [Float], count: Int, seed: UInt64) {
        var rng = SeededGenerator(seed: seed)
        var out = [Float](repeating: 0, count: 3072)
        for k in 0..<count {
            let dy = rng.index(9) - 4, dx = rng.index(9) - 4, flip = rng.index(2) == 1
            for c in 0..<3 {
                for y in 0..<32 {
                    for x in 0..<32 {
                        let sy = y + dy, sx0 = x + dx
                        let sx = flip ? 31 - sx0 : sx0
                        let inside = sy >= 0 && sy < 32 && sx0 >= 0 && sx0 < 32
                        out[c * 1024 + y * 32 + x] = inside ? pixels[k * 3072 + c * 1024 + sy * 32 + sx] : 0
                    }
                }
            }
            for i in 0..<3072 { pixels[k * 3072 + i] = out[i] }
        }
    }
}
