/// The mask of `dropout`, defined once for every backend: element i of a
/// tensor is kept when a 32-bit hash of (seed, stream, i) reaches the rate's
/// threshold. Integer arithmetic only, so the interpreter, the JIT and C
/// draw bit-identical masks; the hash is a murmur3-style finalizer, whose
/// output bits are close to independent for consecutive indices.
public enum DropoutMask {
    /// Multipliers mixing the index, the seed and the stream.
    public static let indexFactor: UInt32 = 0x9E37_79B1, seedFactor: UInt32 = 0x85EB_CA77, streamFactor: UInt32 = 0xC2B2_AE3D
    public static let mix1: UInt32 = 0x7FEB_352D, mix2: UInt32 = 0x846C_A68B

    public static func hash(seed: Int32, stream: Int, index: Int) -> UInt32 {
        var h = UInt32(truncatingIfNeeded: index) &* indexFactor &+ UInt32(bitPattern: seed) &* seedFactor
            &+ UInt32(truncatingIfNeeded: stream) &* streamFactor
        h ^= h >> 16
        h = h &* mix1
        h ^= h >> 15
        h = h &* mix2
        h ^= h >> 16
        return h
    }

    /// Keep when the top 24 bits of the hash are at least this.
    public static func threshold(rate: Double) -> UInt32 { UInt32((rate * 16_777_216).rounded(.down)) }

    public static func keep(seed: Int32, stream: Int, index: Int, rate: Double) -> Bool {
        hash(seed: seed, stream: stream, index: index) >> 8 >= threshold(rate: rate)
    }

    /// A runtime rate (drop_path's operand) as the mask uses it: in [0, 1),
    /// the largest below 1 for anything above, 0 for NaN or less.
    public static let largestRate = 1 - 1 / 16_777_216.0
    public static func clamped(rate: Double) -> Double { rate.isNaN ? 0 : min(max(rate, 0), largestRate) }

    /// The factor of kept elements.
    public static func scale(rate: Double) -> Double { 1 / (1 - rate) }
}
