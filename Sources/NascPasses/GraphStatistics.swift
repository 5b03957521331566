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
        let one = computing.reduce(0) { $0 + $1.op.definition.flops(of: $1, types, batch: 1) }
        let two = computing.reduce(0) { $0 + $1.op.definition.flops(of: $1, types, batch: 2) }
        flopsPerExample = two - one
        flopsPerStep = one - flopsPerExample
    }

    public static func mflops(_ flops: Int) -> String { String(format: "%.2f", Double(flops) / 1e6) }
}
