import Foundation

/// Learning rate as a function of training progress.
public enum LearningRateSchedule: Sendable, Equatable {
    case constant
    /// Multiply by `gamma` every `every` epochs.
    case step(every: Int, gamma: Double)
    /// Cosine decay from the base rate to zero over the whole run.
    case cosine

    public func rate(base: Double, epoch: Int, fraction: Double, epochs: Int) -> Double {
        switch self {
        case .constant: return base
        case .step(let every, let gamma): return base * pow(gamma, Double(epoch / max(every, 1)))
        case .cosine:
            let progress = (Double(epoch) + fraction) / Double(max(epochs, 1))
            return base * 0.5 * (1 + cos(Double.pi * min(progress, 1)))
        }
    }
}
