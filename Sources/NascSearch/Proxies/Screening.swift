import NascData
import NascIR

/// Screening proposals by a zero-cost proxy before training: the strategy
/// proposes `factor` times the children wanted, the proxy scores each
/// untrained on one minibatch of training images, and only the best
/// `1 / factor` train. What a screened search buys is more proposals
/// looked at per hour; what it costs is the proxy's errors.
public struct Screening: Sendable, Equatable {
    public var proxy: ProxyKind
    /// Proposals scored per child trained.
    public var factor: Int
    /// Training images in the proxy's minibatch.
    public var batch: Int

    public init(proxy: ProxyKind, factor: Int, batch: Int = 64) {
        (self.proxy, self.factor, self.batch) = (proxy, factor, batch)
    }

    /// The same minibatch for every proposal of a search (scores compare
    /// across proposals only on the same images): `batch` images from a
    /// place `seed` picks.
    public func minibatch(of train: ImageDataset, seed: UInt64) -> ProxyBatch {
        let n = min(batch, train.count)
        var rng = SeededGenerator(seed: seed, stream: 7)
        let start = rng.index(train.count - n + 1)
        let part = train.subset(start..<(start + n))
        return ProxyBatch(images: part.pixels, labels: part.labels)
    }

    /// The best `keep` of `proposals` by score (ties: the earlier), and every score.
    public static func best(_ proposals: [[Int]], scores: [Double], keep: Int) -> [[Int]] {
        let order = scores.indices.sorted { (scores[$0], -$0) > (scores[$1], -$1) }
        return order.prefix(keep).sorted().map { proposals[$0] }
    }
}
