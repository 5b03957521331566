/// Element types of tensor values.
public enum DType: String, CaseIterable, Sendable {
    case f32, i32

    public var byteSize: Int { 4 }
}

/// One dimension of a tensor type: a static size, or the symbolic batch size `N`.
///
/// `N` is bound once per execution (the minibatch size). The verifier only
/// allows it as the leading dimension, so every backend can treat a tensor as
/// `N` rows of a static per-example shape.
public enum Dim: Hashable, Sendable, CustomStringConvertible {
    case fixed(Int)
    case batch

    public var description: String {
        switch self {
        case .fixed(let n): return String(n)
        case .batch: return "N"
        }
    }

    public var staticValue: Int? {
        if case .fixed(let n) = self { return n }
        return nil
    }
}

/// The type of a value: element type and shape, e.g. `f32[N,36,28,28]`.
public struct TensorType: Hashable, Sendable, CustomStringConvertible {
    public var dtype: DType
    public var dims: [Dim]

    public init(_ dtype: DType, _ dims: [Dim]) {
        self.dtype = dtype
        self.dims = dims
    }

    public static func f32(_ dims: Dim...) -> TensorType { TensorType(.f32, dims) }
    public static func i32(_ dims: Dim...) -> TensorType { TensorType(.i32, dims) }

    public var rank: Int { dims.count }
    public var isScalar: Bool { dims.isEmpty }
    public var hasBatch: Bool { dims.contains(.batch) }

    public var description: String {
        "\(dtype.rawValue)[\(dims.map(\.description).joined(separator: ","))]"
    }

    /// Elements per example: the product of the static dims (N counts as 1),
    /// or nil when that product overflows `Int`.
    public var elementsPerExample: Int? {
        var total = 1
        for d in dims {
            guard case .fixed(let n) = d else { continue }
            let (p, overflow) = total.multipliedReportingOverflow(by: n)
            if overflow { return nil }
            total = p
        }
        return total
    }

    /// The same type with `N` replaced by a concrete batch size.
    public func bound(batch: Int) -> [Int] {
        dims.map { d in
            switch d {
            case .fixed(let n): return n
            case .batch: return batch
            }
        }
    }
}

/// Limits the verifier enforces so that every backend can index any tensor
/// with 32-bit signed offsets per example and never overflows a size computation.
public enum Limits {
    /// Largest single dimension.
    public static let maxDim = Int(Int32.max)
    /// Largest number of elements per example in one tensor.
    public static let maxElements = Int(Int32.max)
}
