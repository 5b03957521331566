import Foundation

/// A small seeded generator (SplitMix64) so every random tensor, initial
/// weight and sampled index in nasc is reproducible from a seed.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed &+ 0x9E37_79B9_7F4A_7C15 }

    /// The `index`-th of the independent streams of `seed`: what a search
    /// strategy draws its `index`-th child from, so that a search resumed
    /// from its store draws what it would have drawn uninterrupted.
    public init(seed: UInt64, stream index: Int) {
        var mixer = SeededGenerator(seed: seed ^ (UInt64(truncatingIfNeeded: index) &* 0xD1B5_4A32_D192_ED03))
        self.init(seed: mixer.next())
    }

    public mutating func next() -> UInt64 {
        state = state &+ 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1) with 53 random bits.
    public mutating func unit() -> Double { Double(next() >> 11) * 0x1.0p-53 }

    /// Uniform in [-bound, bound).
    public mutating func uniform(_ bound: Double) -> Double { (2 * unit() - 1) * bound }

    /// Standard normal by Box-Muller.
    public mutating func normal() -> Double {
        let u1 = max(unit(), 1e-300), u2 = unit()
        return (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
    }

    /// An integer in 0..<n.
    public mutating func index(_ n: Int) -> Int { Int(next() % UInt64(n)) }
}
