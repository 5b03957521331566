/// How well a cheap proxy ranks what it stands for: rank correlations of
/// paired measurements (a child's search reward and its accuracy after the
/// full recipe), both from -1 (reversed) through 0 (unrelated) to 1 (the
/// same order). Ties count as ties, not as an order.
public enum RankCorrelation {
    /// Kendall's tau-b: concordant minus discordant pairs over the pairs
    /// each side orders, sqrt((n0 - tx)(n0 - ty)). Nil with fewer than two
    /// pairs, or when one side is all ties.
    public static func kendall(_ x: [Double], _ y: [Double]) -> Double? {
        precondition(x.count == y.count, "paired samples differ in length")
        var concordant = 0, discordant = 0, tiedX = 0, tiedY = 0
        for i in x.indices {
            for j in x.indices where j > i {
                let dx = x[i] - x[j], dy = y[i] - y[j]
                if dx == 0 { tiedX += 1 }
                if dy == 0 { tiedY += 1 }
                if dx == 0 || dy == 0 { continue }
                if (dx > 0) == (dy > 0) { concordant += 1 } else { discordant += 1 }
            }
        }
        let pairs = x.count * (x.count - 1) / 2
        let denominator = (Double(pairs - tiedX) * Double(pairs - tiedY)).squareRoot()
        guard pairs > 0, denominator > 0 else { return nil }
        return Double(concordant - discordant) / denominator
    }

    /// Spearman's rho: Pearson's correlation of the ranks (tied values share
    /// their mean rank). Nil with fewer than two pairs or a constant side.
    public static func spearman(_ x: [Double], _ y: [Double]) -> Double? {
        precondition(x.count == y.count, "paired samples differ in length")
        guard x.count >= 2 else { return nil }
        let (rx, ry) = (ranks(x), ranks(y))
        let mean = Double(x.count + 1) / 2
        var cov = 0.0, vx = 0.0, vy = 0.0
        for (a, b) in zip(rx, ry) {
            cov += (a - mean) * (b - mean)
            vx += (a - mean) * (a - mean)
            vy += (b - mean) * (b - mean)
        }
        guard vx > 0, vy > 0 else { return nil }
        return cov / (vx * vy).squareRoot()
    }

    /// 1-based ranks, ties given the mean of the ranks they span.
    static func ranks(_ v: [Double]) -> [Double] {
        let order = v.indices.sorted { v[$0] < v[$1] }
        var out = [Double](repeating: 0, count: v.count)
        var start = 0
        while start < order.count {
            var end = start
            while end + 1 < order.count && v[order[end + 1]] == v[order[start]] { end += 1 }
            let rank = Double(start + end) / 2 + 1
            for k in start...end { out[order[k]] = rank }
            start = end + 1
        }
        return out
    }

    /// `count` of `ranked` (best first) spread evenly over the ranking, so
    /// a sample spans good and bad children alike; all of them if fewer.
    public static func spread<T>(_ ranked: [T], count: Int) -> [T] {
        guard ranked.count > count, count > 0 else { return ranked }
        if count == 1 { return [ranked[0]] }
        return (0..<count).map { ranked[($0 * (ranked.count - 1) + (count - 1) / 2) / (count - 1)] }
    }
}
