/// Training for a wall-clock budget instead of a count of epochs. The
/// learning-rate schedule needs the count before it starts, so the first
/// epoch runs on a provisional one and measures the speed; the schedule
/// then spans the epochs that fit. The first epoch's rates barely differ
/// (a cosine over `provisional` epochs stays near the base rate for one).
public struct TimeBudget: Sendable, Equatable {
    public var seconds: Double
    /// The count the first epoch's schedule is laid out over.
    public static let provisional = 1000

    public init(minutes: Double) { seconds = minutes * 60 }

    /// Epochs in all, the first included, when the first ended `elapsed`
    /// seconds after the start (compilation included) and took
    /// `epochSeconds`, and the final evaluation needs `evaluationSeconds`:
    /// at least the one already trained.
    public func epochs(elapsed: Double, epochSeconds: Double, evaluationSeconds: Double) -> Int {
        guard epochSeconds > 0, epochSeconds.isFinite else { return 1 }
        let more = (seconds - elapsed - evaluationSeconds) / epochSeconds
        guard more.isFinite, more >= 1 else { return 1 }
        return 1 + Int(min(more, Double(TimeBudget.provisional)).rounded(.down))
    }
}
