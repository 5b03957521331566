import NascIR

/// Labelled images in memory, NCHW floats, with seeded minibatches.
public struct ImageDataset: Sendable {
    public let channels, height, width, classes: Int
    public var pixels: [Float]
    public var labels: [Int32]
    /// The file the images came from, for messages.
    public var origin: String?

    public init(channels: Int, height: Int, width: Int, classes: Int, pixels: [Float], labels: [Int32], origin: String? = nil) {
        precondition(pixels.count == labels.count * channels * height * width)
        self.origin = origin
        self.channels = channels
        self.height = height
        self.width = width
        self.classes = classes
        self.pixels = pixels
        self.labels = labels
    }

    public var count: Int { labels.count }
    public var imageSize: Int { channels * height * width }

    /// Examples lo..<hi.
    public func subset(_ range: Range<Int>) -> ImageDataset {
        ImageDataset(channels: channels, height: height, width: width, classes: classes,
                     pixels: Array(pixels[(range.lowerBound * imageSize)..<(range.upperBound * imageSize)]),
                     labels: Array(labels[range]), origin: origin)
    }

    /// The training part and a held-out validation part (the last
    /// `validation` examples), for rewards that never see the test set.
    public func split(validation: Int) -> (train: ImageDataset, validation: ImageDataset) {
        let v = min(max(validation, 0), count)
        return (subset(0..<(count - v)), subset((count - v)..<count))
    }

    /// Refuses images whose size is not the one `input` (f32[N,C,H,W])
    /// takes, naming the file and both sizes.
    public func checkFits(_ input: TensorType, logits: Int?, graph: String) throws {
        if let logits, logits < classes, let top = labels.max(), Int(top) >= logits {
            throw DatasetError(origin ?? "the dataset", "its labels go up to \(top) (\(classes) classes), but @\(graph) has \(logits) logits")
        }
        let want = input.dims.dropFirst().map { $0.staticValue ?? 0 }
        guard want != [channels, height, width] else { return }
        let taken = want.count == 3 ? "\(want[0]) channel\(want[0] == 1 ? "" : "s") of \(want[1])x\(want[2]) pixels" : "\(input)"
        throw DatasetError(origin ?? "the dataset", "its images are \(channels) channel\(channels == 1 ? "" : "s") of \(height)x\(width) pixels, "
                           + "but @\(graph) takes \(taken) (input \(input))")
    }

    /// Every image mirrored left to right, labels unchanged (test-time
    /// averaging for networks trained with horizontal flips).
    public func mirrored() -> ImageDataset {
        var out = pixels
        let rows = count * channels * height
        out.withUnsafeMutableBufferPointer { o in
            pixels.withUnsafeBufferPointer { p in
                for r in 0..<rows { for x in 0..<width { o[r * width + x] = p[r * width + width - 1 - x] } }
            }
        }
        return ImageDataset(channels: channels, height: height, width: width, classes: classes, pixels: out, labels: labels, origin: origin)
    }

    /// Example indices in a seeded random order (Fisher-Yates).
    public func shuffled(seed: UInt64) -> [Int] {
        var order = Array(0..<count)
        var rng = SeededGenerator(seed: seed)
        for i in stride(from: count - 1, to: 0, by: -1) {
            order.swapAt(i, rng.index(i + 1))
        }
        return order
    }

    /// The examples at `indices` as one batch.
    public func batch(_ indices: ArraySlice<Int>) -> (pixels: [Float], labels: [Int32]) {
        var px = [Float](repeating: 0, count: indices.count * imageSize)
        var lb = [Int32](repeating: 0, count: indices.count)
        px.withUnsafeMutableBufferPointer { out in
            pixels.withUnsafeBufferPointer { src in
                for (k, i) in indices.enumerated() {
                    for j in 0..<imageSize { out[k * imageSize + j] = src[i * imageSize + j] }
                    lb[k] = labels[i]
                }
            }
        }
        return (px, lb)
    }
}
