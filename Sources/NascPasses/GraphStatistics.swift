import Foundation
import NascIR

/// Figures about a graph that `nasc dump-ir --stats` prints.
public struct GraphStatistics: Sendable {
    /// Nodes that compute (not `param`, `state` or `const`).
    public var ops: Int
    /// Kernels after fusion; before it, every op is its own kernel.
    public var kernels: Int
    public var parameters: Int
    public var parameterElements: Int
    /// Floating-point operations per example (a multiply-add counts 2), and
    /// those that do not scale with the batch (optimizer updates), per step.
    public var flopsPerExample: Int
    public var flopsPerStep: Int

    public init(_ graph: Graph) {
        let computing = graph.nodes.filter { PatternKind.of($0) != .source }
        ops = computing.count
        let grouped = Set(computing.compactMap(\.kernel))
        kernels = grouped.count + computing.filter { $0.kernel == nil }.count
        let params = graph.nodes.filter { $0.op == .param }
        parameters = params.count
        parameterElements = params.reduce(0) { $0 + ($1.type?.bound(batch: 1).reduce(1, *) ?? 0) }
        // FLOPs are affine in the batch size: measure at 1 and 2.
        let types = graph.valueTypes
        let one = computing.reduce(0) { $0 + GraphStatistics.flops($1, types, batch: 1) }
        let two = computing.reduce(0) { $0 + GraphStatistics.flops($1, types, batch: 2) }
        flopsPerExample = two - one
        flopsPerStep = one - flopsPerExample
    }

    public static func mflops(_ flops: Int) -> String { String(format: "%.2f", Double(flops) / 1e6) }

    static func flops(_ n: Node, _ types: [String: TensorType], batch: Int) -> Int {
        guard let t = n.type else { return 0 }
        let out = t.bound(batch: batch).reduce(1, *)
        let x = n.operands.map { types[$0]!.bound(batch: batch) }
        switch n.op {
        case .conv2d:  // out [N,O,H',W'] from w [O,C,KH,KW]
            return 2 * out * x[1][1] * x[1][2] * x[1][3]
        case .conv2dGradInput:  // dy [N,O,H',W'], w [O,C,KH,KW]
            return 2 * x[0].reduce(1, *) * x[1][1] * x[1][2] * x[1][3]
        case .conv2dGradFilter:  // x, dy [N,O,H',W'] -> [O,C,KH,KW]
            return 2 * x[1].reduce(1, *) * out / max(x[1][1], 1)
        case .matmul:
            let inner = n.attrs.bool("transpose_a") ? x[0][0] : x[0][1]
            return 2 * out * inner
        case .reduceSum, .channelSum, .batchMean, .batchVar, .globalAvgPool, .batchNormGradGamma:
            return x[0].reduce(1, *)
        case .maxPool, .avgPool:
            let w = n.attrs.ints("window")
            return out * w[0] * w[1]
        default:
            return out
        }
    }
}
