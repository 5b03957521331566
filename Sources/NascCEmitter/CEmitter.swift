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
    /// What goes in and out, and the static memory, for a person.
    public var summary: String

    /// -O3 vectorizes the matrix products' register blocks fully (about
    /// twice as fast as -O2 here); drop -march=native for a portable build.
    public var compileCommand: String { "cc -std=c99 -O3 -march=native -o \(name) \(name).c \(name)_main.c -lm" }
}

public enum CEmitter {
    /// The ops emitted C refuses by name: gradients, losses, batch
    /// statistics and sums over the batch, which an inference graph never
    /// holds (InferenceGraph and DeployableGraph remove them). EmitCTests
    /// checks that every other op is emitted and agrees with the interpreter.
    public static let withoutC: Set<Op> = [
        .conv2dGradInput, .conv2dGradFilter, .batchNormGrad, .batchNormGradGamma, .batchMean, .batchVar,
        .maxPoolGrad, .avgPoolGrad, .globalAvgPoolGrad, .dropout, .dropPath, .reduceSum, .channelSum, .embeddingGrad, .softmaxGrad,
        .softmaxCrossEntropy, .softmaxCrossEntropyGrad, .weightedSoftmaxCrossEntropy, .weightedSoftmaxCrossEntropyGrad,
        .reluGrad, .tanhGrad, .sigmoidGrad, .leakyReluGrad, .siluGrad,
    ]

    public static func emit(_ forward: Graph, weights: [String: Tensor], name: String) throws -> EmittedC {
        try checkIdentifier(name)
        var deployable = try CEmitterError.wrap { try DeployableGraph.prepare(forward, weights: weights, for: "emitted inference") }
        deployable.graph = try FoldBatchNorm.run(deployable.graph, &deployable.weights)
        try CEmitterError.wrap { try deployable.checkFinite(" after folding batch norm into it") }
        let (g, values) = (deployable.graph, deployable.weights)
        let fused = try CEmitterError.wrap { try Fusion.run(g) }
        let plan = try CEmitterError.wrap { try MemoryPlan.plan(fused, batch: 1) }
        var writer = CWriter(graph: fused, plan: plan, values: values, name: name, inputs: [deployable.input.name: "input"],
                             kernelParameters: "const float *input", entryArguments: "input")
        return try writer.classifier()
    }

    static func checkIdentifier(_ name: String) throws {
        guard name.first.map({ $0.isASCII && ($0.isLetter || $0 == "_") }) == true,
              name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }) else {
            throw CEmitterError("--name '\(name)' is not a C identifier")
        }
    }
}
