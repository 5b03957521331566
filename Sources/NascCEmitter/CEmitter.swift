import Foundation
import NascIR
import NascPasses

public struct CEmitterError: Error, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }

    static func wrap<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let e as PassError { throw CEmitterError(e.message) } catch let e as DiagnosticError {
            throw CEmitterError(e.diagnostics.map(\.message).joined(separator: "; "))
        }
    }
}

/// Standalone C99 for a trained architecture's inference on one image:
/// `NAME.h` (sizes and the entry function), `NAME.c` (weights as exact
/// hex-float constants, one static arena sized by the memory plan, the fused
/// kernels as loops; needs only libm, never allocates), and `NAME_main.c`, a
/// driver that classifies images from an IDX or raw f32 file.
public struct EmittedC: Sendable {
    public var name: String
    public var header: String
    public var source: String
    public var driver: String
    public var inputSize: Int
    public var outputSize: Int
    public var arenaBytes: Int

    public var compileCommand: String { "cc -std=c99 -O2 -o \(name) \(name).c \(name)_main.c -lm" }
}

public enum CEmitter {
    public static func emit(_ forward: Graph, weights: [String: Tensor], name: String) throws -> EmittedC {
        guard name.first.map({ $0.isLetter || $0 == "_" }) == true, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else {
            throw CEmitterError("--name '\(name)' is not a C identifier")
        }
        var values = weights
        var g = try CEmitterError.wrap { try InferenceGraph.run(forward) }
        g.outputs.removeAll { $0.label == "loss" }
        guard g.outputs.count == 1, g.outputs[0].type.dtype == .f32 else {
            throw CEmitterError("@\(forward.name) needs exactly one f32 output besides 'loss' (the logits) for emitted inference")
        }
        g = try CEmitterError.wrap { try Pipeline.simplify(try DeadCodeElimination.run(g)) }
        // Weights become float constants in the C: a NaN or an infinity there
        // means training diverged, and would compute nothing useful.
        func checkFinite(_ names: [String], _ context: String) throws {
            for name in names {
                guard let t = values[name], let bad = t.data.firstIndex(where: { !Float($0).isFinite }) else { continue }
                throw CEmitterError("'%\(name)' holds \(t.data[bad]) at element \(bad)\(context): emit-c needs finite weights (did training diverge?)")
            }
        }
        let sources = g.nodes.filter { $0.op == .param || $0.op == .state }.map(\.result)
        try checkFinite(sources, " in the weights")
        g = try FoldBatchNorm.run(g, &values)
        try checkFinite(g.nodes.filter { $0.op == .param || $0.op == .state }.map(\.result), " after folding batch norm into it")
        let used = Set(g.nodes.flatMap(\.operands) + g.outputs.map(\.value))
        let inputs = g.inputs.filter { used.contains($0.name) }
        guard inputs.count == 1, inputs[0].type.dtype == .f32 else {
            throw CEmitterError("emitted inference takes one f32 input; @\(forward.name) uses \(inputs.map { "%" + $0.name }.joined(separator: ", "))")
        }
        for n in g.nodes where n.op == .param || n.op == .state {
            guard let v = values[n.result] else { throw CEmitterError("the weights have no tensor for '%\(n.result)'") }
            guard v.shape == n.type!.bound(batch: 1) else { throw CEmitterError("'%\(n.result)' is \(v.shape) in the weights but \(n.type!) in the graph") }
        }
        let fused = try CEmitterError.wrap { try Fusion.run(g) }
        let plan = try CEmitterError.wrap { try MemoryPlan.plan(fused, batch: 1) }
        var writer = CWriter(graph: fused, plan: plan, values: values, name: name, input: inputs[0].name)
        return try writer.emit()
    }
}
