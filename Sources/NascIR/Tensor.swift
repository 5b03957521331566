

/// A concrete tensor for the reference interpreter: a shape and its elements
/// in row-major order. Elements are `Double` whatever the IR element type, so
/// the oracle computes in double precision and gradient checks by finite
/// differences are accurate to about 1e-9; `i32` values hold whole numbers.
public struct Tensor: Equatable, Sendable {
    public var dtype: DType
    public var shape: [Int]
    public var data: [Double]

    public init(_ dtype: DType = .f32, shape: [Int], data: [Double]) {
        precondition(shape.reduce(1, *) == data.count, "shape \(shape) does not hold \(data.count) elements")
        self.dtype = dtype
        self.shape = shape
        self.data = data
    }

    public init(_ dtype: DType = .f32, shape: [Int], repeating value: Double = 0) {
        self.init(dtype, shape: shape, data: [Double](repeating: value, count: shape.reduce(1, *)))
    }

    public static func scalar(_ v: Double) -> Tensor { Tensor(shape: [], data: [v]) }

    public var count: Int { data.count }
    public var rank: Int { shape.count }

    /// Row-major strides of a shape.
    public static func strides(_ shape: [Int]) -> [Int] {
        var s = [Int](repeating: 1, count: shape.count)
        var acc = 1
        for i in stride(from: shape.count - 1, through: 0, by: -1) {
            s[i] = acc
            acc *= shape[i]
        }
        return s
    }

    /// Flat offset of an index into a 4-D tensor (the layout of images: N, C, H, W).
    @inline(__always)
    public func at4(_ n: Int, _ c: Int, _ h: Int, _ w: Int) -> Int {
        ((n * shape[1] + c) * shape[2] + h) * shape[3] + w
    }

    /// Elements per channel slice: a [N, C, rest...] tensor seen as N x C x inner.
    public var inner: Int { shape.dropFirst(2).reduce(1, *) }
}

extension Tensor: CustomStringConvertible {
    /// A short rendering: type, then up to `limit` elements.
    public func formatted(limit: Int = 16) -> String {
        let shown = data.prefix(limit).map { dtype == .i32 ? String(Int($0)) : Tensor.format($0) }
        let more = data.count > limit ? ", ... (\(data.count) elements)" : ""
        return "\(dtype.rawValue)[\(shape.map(String.init).joined(separator: ","))] [" + shown.joined(separator: ", ") + more + "]"
    }

    public var description: String { formatted() }

    static func format(_ v: Double) -> String {
        if v.isNaN || v.isInfinite { return v.description }
        let f = Float(v)
        return f.description
    }
}
