import Foundation

/// What a child earns for the controller (and ranks it on the leaderboard).
///
/// NAS-RL rewards accuracy alone, cubed (Zoph & Le: the cube sharpens the
/// differences between good children). Accuracy alone lets a search drift
/// to ever bigger children, so with a `targetMFLOPs` the reward also weighs
/// cost the way MnasNet does (Tan et al. 2019, its soft constraint):
///
///     reward = accuracy^3 * (MFLOP / target)^exponent
///
/// With the exponent -0.07, a child twice the target's cost needs about
/// 1.6% more accuracy (cubed: 5% more reward) to rank level with one at the
/// target; a smaller child gains as much.
///
/// With a `targetLatencyMs` instead, the same factor weighs the child's
/// measured latency (batch 1, one thread, see ChildLatency), as MnasNet
/// weighs the latency measured on its phone: reward = accuracy^3 x
/// (ms / target)^exponent.
///
/// A soft constraint also pays for being small, so its winners shrink below
/// the target. `maxMFLOPs` is a hard one instead: a child costing more is
/// refused before it is queued (status over-limit, see `overLimitReward`),
/// the way a search for the most accurate network that trains within a
/// given time wants it; the children below it are paid for accuracy alone.
public struct Reward: Sendable, Equatable {
    /// MFLOP per image a child should cost; 0: cost is ignored.
    public var targetMFLOPs = 0.0
    public var exponent = -0.07
    /// MFLOP per image above which a child is refused untrained; 0: no limit.
    public var maxMFLOPs = 0.0
    /// Measured milliseconds (batch 1, one thread) a child should take; 0:
    /// latency is ignored. Exclusive with `targetMFLOPs`.
    public var targetLatencyMs = 0.0

    public init(targetMFLOPs: Double = 0, exponent: Double = -0.07, maxMFLOPs: Double = 0, targetLatencyMs: Double = 0) {
        self.targetMFLOPs = targetMFLOPs
        self.exponent = exponent
        self.maxMFLOPs = maxMFLOPs
        self.targetLatencyMs = targetLatencyMs
    }

    /// Whether a child's reward needs its measured latency.
    public var needsLatency: Bool { targetLatencyMs > 0 }

    /// Why a child costing `flopsPerImage` is refused, if it is.
    public func refusal(flopsPerImage: Int) -> String? {
        let mflops = Double(flopsPerImage) / 1e6
        guard maxMFLOPs > 0, mflops > maxMFLOPs else { return nil }
        return String(format: "%.1f MFLOP per image, over --max-mflops %g", mflops, maxMFLOPs)
    }

    /// The reward of a child refused for its cost: below every trained
    /// child's (which are at least 0), and graded by how far over the limit
    /// it is, -(1 - limit / cost), from 0 just over it towards -1. A flat 0
    /// would teach REINFORCE nothing in a space where most children are over
    /// the limit; graded, the controller learns to come back under it.
    public func overLimitReward(flopsPerImage: Int) -> Double {
        let mflops = Double(flopsPerImage) / 1e6
        guard maxMFLOPs > 0, mflops > maxMFLOPs else { return 0 }
        return -(1 - maxMFLOPs / mflops)
    }

    /// The reward of a child of `accuracy` costing `flopsPerImage` FLOPs
    /// and measured at `latencyMs` (needed with a latency target; without
    /// one, the factor is left out).
    public func callAsFunction(accuracy: Double, flopsPerImage: Int, latencyMs: Double? = nil) -> Double {
        let cubed = pow(accuracy, 3)
        if targetLatencyMs > 0, let latencyMs { return cubed * pow(max(latencyMs, 1e-6) / targetLatencyMs, exponent) }
        guard targetMFLOPs > 0 else { return cubed }
        return cubed * pow(max(Double(flopsPerImage) / 1e6, 1e-6) / targetMFLOPs, exponent)
    }

    /// The search.json fields (older folders lack them: cost ignored).
    var json: [String: Any] { ["target_mflops": targetMFLOPs, "cost_exponent": exponent, "max_mflops": maxMFLOPs, "target_latency_ms": targetLatencyMs] }

    init(json: [String: Any]) {
        self.init(targetMFLOPs: json["target_mflops"] as? Double ?? 0, exponent: json["cost_exponent"] as? Double ?? -0.07,
                  maxMFLOPs: json["max_mflops"] as? Double ?? 0, targetLatencyMs: json["target_latency_ms"] as? Double ?? 0)
    }

    /// The flags that set this reward, for messages.
    var flags: String {
        String(format: "--target-mflops %g --target-latency-ms %g --cost-exponent=%g --max-mflops %g", targetMFLOPs, targetLatencyMs, exponent, maxMFLOPs)
    }
}

/// How far a validation accuracy can be trusted: the Wilson score interval
/// of a proportion measured on `count` images (95% by default). With 1,000
/// images an accuracy near 0.9 is worth about ±0.019, so leaderboard
/// neighbours whose intervals overlap are a tie, not a ranking.
public struct AccuracyInterval: Sendable, Equatable {
    public var low: Double, high: Double

    public init(accuracy p: Double, count n: Int, z: Double = 1.96) {
        guard n > 0, p.isFinite else { (low, high) = (0, 1); return }
        let n = Double(n), z2 = z * z
        let centre = (p + z2 / (2 * n)) / (1 + z2 / n)
        let half = z * ((p * (1 - p) / n + z2 / (4 * n * n)).squareRoot()) / (1 + z2 / n)
        (low, high) = (max(0, centre - half), min(1, centre + half))
    }

    public func overlaps(_ other: AccuracyInterval) -> Bool { low <= other.high && other.low <= high }

    public var description: String { String(format: "[%.3f, %.3f]", low, high) }
}
