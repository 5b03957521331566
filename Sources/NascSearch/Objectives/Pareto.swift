/// Pareto dominance over cost vectors (every component minimised), as
/// NSGA-II (Deb et al. 2002) ranks a population: non-dominated sorting
/// into fronts, and the crowding distance that spreads each front out.
public enum Pareto {
    /// Whether `a` dominates `b`: no worse in any cost, better in one.
    public static func dominates(_ a: [Double], _ b: [Double]) -> Bool {
        var better = false
        for (x, y) in zip(a, b) {
            if x > y { return false }
            if x < y { better = true }
        }
        return better
    }

    /// The indices of `points` by front: front 0 is the points nothing
    /// dominates, front 1 those only front 0 dominates, and so on (each
    /// front's indices in ascending order).
    public static func fronts(_ points: [[Double]]) -> [[Int]] {
        let n = points.count
        var dominated = [[Int]](repeating: [], count: n)   // whom i dominates
        var dominators = [Int](repeating: 0, count: n)     // how many dominate i
        for i in 0..<n {
            for j in (i + 1)..<max(n, i + 1) {
                if dominates(points[i], points[j]) {
                    dominated[i].append(j)
                    dominators[j] += 1
                } else if dominates(points[j], points[i]) {
                    dominated[j].append(i)
                    dominators[i] += 1
                }
            }
        }
        var fronts: [[Int]] = []
        var current = (0..<n).filter { dominators[$0] == 0 }
        while !current.isEmpty {
            fronts.append(current)
            var next: [Int] = []
            for i in current {
                for j in dominated[i] {
                    dominators[j] -= 1
                    if dominators[j] == 0 { next.append(j) }
                }
            }
            current = next.sorted()
        }
        return fronts
    }

    /// Each point's front (0 is the Pareto front).
    public static func ranks(_ points: [[Double]]) -> [Int] {
        var rank = [Int](repeating: 0, count: points.count)
        for (r, front) in fronts(points).enumerated() { for i in front { rank[i] = r } }
        return rank
    }

    /// The crowding distance of each point of one front (`front` indexes
    /// `points`), in the order of `front`: per cost, the gap between its
    /// two neighbours over the front's range, summed; the extremes of any
    /// cost are infinitely far, so they are always kept.
    public static func crowding(_ points: [[Double]], front: [Int]) -> [Double] {
        guard let first = front.first else { return [] }
        var distance = [Double](repeating: 0, count: front.count)
        guard front.count > 2 else { return distance.map { _ in .infinity } }
        for m in 0..<points[first].count {
            // Ties in position by index, so the order (and distances) do not depend on the sort.
            let order = (0..<front.count).sorted { (points[front[$0]][m], front[$0]) < (points[front[$1]][m], front[$1]) }
            let low = points[front[order.first!]][m], high = points[front[order.last!]][m]
            distance[order.first!] = .infinity
            distance[order.last!] = .infinity
            guard high > low else { continue }
            for k in 1..<(order.count - 1) {
                distance[order[k]] += (points[front[order[k + 1]]][m] - points[front[order[k - 1]]][m]) / (high - low)
            }
        }
        return distance
    }
}
