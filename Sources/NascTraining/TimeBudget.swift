/// Training for a wall-clock budget instead of a count of epochs. The
/// learning-rate schedule needs the count before it starts, so the first
/// epoch runs on a provisional one and measures the speed; the schedule
/// then spans the epochs that fit. The first epoch's rates barely differ
/// (a cosine over `provisional` epochs stays near the base rate for one).
/// A machine that slows down later would overrun the budget, so after every
/// later epoch the count may shrink to what the epochs' mean speed still
/// fits. It never grows: a schedule that kept stretching would never anneal.
public struct TimeBudget: Sendable, Equatable {
    public var seconds: Double
    /// The count the first epoch's schedule is laid out over.
    public static let provisional = 1000

    public init(minutes: Double) { seconds = minutes * 60 }

    /// Epochs in all after `done` epochs that took `meanEpochSeconds` each on
    /// average and ended `elapsed` seconds after the start (compilation
    /// included), when the final evaluation needs `evaluationSeconds`: the
    /// `current` count if the rest still fits, fewer if the run fell behind,
    /// never fewer than `done`.
    public func revised(_ current: Int, done: Int, elapsed: Double, meanEpochSeconds: Double, evaluationSeconds: Double) -> Int {
        let more = (seconds - elapsed - evaluationSeconds) / meanEpochSeconds
        let fit = more.isFinite && more > 0 ? Int(min(more, Double(TimeBudget.provisional)).rounded(.down)) : 0
        return max(done, min(current, done + fit))
    }
}
