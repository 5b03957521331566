import NascIR

/// Labelled images in memory, NCHW floats, with seeded minibatches.
public struct ImageDataset: Sendable {
    public let channels, height, width, classes: Int
    public var pixels: [Float]
    public var labels: [Int32]

    public init(channels: Int, height: Int, width: Int, classes: Int, pixels: [Float], labels: [Int32]) {
        precondition(pixels.count == labels.count * channels * height * width)
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
                     labels: Array(labels[range]))
    }

    /// The training part and a held-out validation part (the last
    /// `validation` examples), for rewards that never see the test set.
    public func split(validation: Int) -> (train: ImageDataset, validation: ImageDataset) {
        let v = min(max(validation, 0), count)
        return (subset(0..<(count - v)), subset((count - v)..<count))
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
