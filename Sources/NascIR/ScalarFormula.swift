import Foundation

/// What an elementwise op computes from one element of each operand, as a
/// small expression: the single definition of its meaning. The interpreter
/// and constant folding evaluate it (`evaluate`); the LLVM lowering and the
/// C emitter each print its few cases in their own syntax, so an op defined
/// in ElementwiseOps.swift runs everywhere with no code of its own.
public indirect enum ScalarFormula: Sendable, ExpressibleByFloatLiteral, ExpressibleByIntegerLiteral {
    /// Operand k of the node (one element of it, or the scalar it broadcasts).
    case operand(Int)
    case constant(Double)
    /// A float attribute of the node (e.g. leaky_relu's slope).
    case attribute(String)
    case negate(ScalarFormula)
    case binary(Arithmetic, ScalarFormula, ScalarFormula)
    case call(Function, ScalarFormula)
    /// `condition > 0 ? then : otherwise`.
    case ifPositive(ScalarFormula, then: ScalarFormula, otherwise: ScalarFormula)

    public enum Arithmetic: Sendable { case add, sub, mul, div }
    public enum Function: Sendable { case exp, tanh, sqrt }

    /// A constant that backends may print as a plain decimal ("1.0"): an
    /// integer that f32 holds exactly.
    public static func smallInteger(_ c: Double) -> Int? {
        c == c.rounded() && abs(c) < 16_777_216 ? Int(c) : nil
    }

    public init(floatLiteral value: Double) { self = .constant(value) }
    public init(integerLiteral value: Int) { self = .constant(Double(value)) }

    /// The value for these operand elements and the node's attributes, in double precision.
    public func evaluate(_ x: [Double], _ attrs: Attributes) -> Double { evaluate({ x[$0] }, attrs) }

    /// The same with operand k read as `x(k)`: the interpreter evaluates
    /// every element without building an array for it.
    public func evaluate(_ x: (Int) -> Double, _ attrs: Attributes) -> Double {
        switch self {
        case .operand(let k): return x(k)
        case .constant(let c): return c
        case .attribute(let name): return attrs.float(name)
        case .negate(let a): return -a.evaluate(x, attrs)
        case .binary(let op, let a, let b):
            let (u, v) = (a.evaluate(x, attrs), b.evaluate(x, attrs))
            switch op {
            case .add: return u + v
            case .sub: return u - v
            case .mul: return u * v
            case .div: return u / v
            }
        case .call(let f, let a):
            let u = a.evaluate(x, attrs)
            switch f {
            case .exp: return Foundation.exp(u)
            case .tanh: return Foundation.tanh(u)
            case .sqrt: return u.squareRoot()
            }
        case .ifPositive(let c, let a, let b): return c.evaluate(x, attrs) > 0 ? a.evaluate(x, attrs) : b.evaluate(x, attrs)
        }
    }

    // Sugar, so the table reads like the math.
    public static func + (a: ScalarFormula, b: ScalarFormula) -> ScalarFormula { .binary(.add, a, b) }
    public static func - (a: ScalarFormula, b: ScalarFormula) -> ScalarFormula { .binary(.sub, a, b) }
    public static func * (a: ScalarFormula, b: ScalarFormula) -> ScalarFormula { .binary(.mul, a, b) }
    public static func / (a: ScalarFormula, b: ScalarFormula) -> ScalarFormula { .binary(.div, a, b) }
    public static prefix func - (a: ScalarFormula) -> ScalarFormula { .negate(a) }
    public static func exp(_ a: ScalarFormula) -> ScalarFormula { .call(.exp, a) }
    public static func tanh(_ a: ScalarFormula) -> ScalarFormula { .call(.tanh, a) }
    public static func sqrt(_ a: ScalarFormula) -> ScalarFormula { .call(.sqrt, a) }
}
