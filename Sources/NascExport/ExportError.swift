import NascIR
import NascPasses

/// A trained architecture that an export format cannot take: an op the
/// format has no counterpart for (named, with its line), a checkpoint that
/// does not fit the graph, weights that are not finite. Worded for the user.
public struct ExportError: Error, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }

    /// The op a format cannot express, named with its value and line.
    static func unsupported(_ node: Node, by format: String) -> ExportError {
        let line = node.loc.line > 0 ? " (line \(node.loc.line))" : ""
        return ExportError("\(format) export has no counterpart for op '\(node.op.name)' of %\(node.result)\(line)")
    }

    static func wrap<T>(_ body: () throws(PassError) -> T) throws(ExportError) -> T {
        do { return try body() } catch { throw ExportError(error.message) }
    }
}

/// The pads a sliding window needs on each side of both spatial axes, as
/// ONNX and PyTorch write them: `same` pads as WindowGeometry says (the
/// extra row or column at the end), `valid` not at all.
struct WindowPads: Equatable {
    var top = 0, left = 0, bottom = 0, right = 0

    init(height: Int, width: Int, kernel: [Int], stride: [Int], pad: String, dilation: [Int] = [1, 1]) {
        let rows = WindowGeometry(size: height, kernel: kernel[0], stride: stride[0], pad: pad, dilation: dilation[0])
        let cols = WindowGeometry(size: width, kernel: kernel[1], stride: stride[1], pad: pad, dilation: dilation[1])
        guard pad == "same" else { return }
        top = rows.padBefore
        left = cols.padBefore
        bottom = max((rows.outputs - 1) * stride[0] + rows.extent - height, 0) - top
        right = max((cols.outputs - 1) * stride[1] + cols.extent - width, 0) - left
    }

    var symmetric: Bool { top == bottom && left == right }
}

/// The ops an exported classifier never holds, which ONNX and PyTorch
/// export refuse by name (`ExportError.unsupported`): losses, sums over the
/// batch, batch statistics, dropout and drop-path (identity once deployed:
/// DeployableGraph removes it), embeddings (an i32 input) and gradient ops.
/// ExportTests checks that every other op is in ir-specs/export/every_op.nasir.
public enum ExportCoverage {
    public static let withoutCounterpart: Set<Op> = [
        .crop, .dropout, .dropPath, .reduceSum, .channelSum, .batchMean, .batchVar, .embedding, .embeddingGrad,
        .softmaxGrad, .softmaxCrossEntropy, .softmaxCrossEntropyGrad, .weightedSoftmaxCrossEntropy, .weightedSoftmaxCrossEntropyGrad,
        .conv2dGradInput, .conv2dGradFilter, .batchNormGrad, .batchNormGradGamma, .maxPoolGrad, .avgPoolGrad, .globalAvgPoolGrad,
        .reluGrad, .tanhGrad, .sigmoidGrad, .leakyReluGrad, .siluGrad,
    ]
}
