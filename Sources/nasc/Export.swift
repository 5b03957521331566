import ArgumentParser
import Foundation
import NascData
import NascExport
import NascIR

struct ExportONNX: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export-onnx",
        abstract: "Write a trained architecture as an ONNX model.",
        discussion: """
            The inference graph with its trained weights as initializers: \
            batch norm as BatchNormalization with the running statistics, \
            a bias after a convolution or dense layer folded into its Conv \
            or Gemm, the batch dimension symbolic (N). Opset \(ONNXExport.opset), \
            IR version \(ONNXExport.irVersion): ONNX Runtime, TensorRT and \
            OpenVINO load it. An op ONNX cannot express is an error naming it.

            Example:
              nasc export-onnx ir-specs/models/reference_cnn.nasir --weights cnn.ckpt --out cnn.onnx
            """)

    @OptionGroup var model: TrainedModel

    @Option(help: "The .onnx file to write.")
    var out: String

    func run() throws {
        try reportingErrors {
            try checkWritable(out, flag: "--out")
            let (graph, weights) = try model.load()
            let onnx: ONNXExport.Exported
            do { onnx = try ONNXExport.export(graph, weights: weights, producerVersion: NascVersion.string) } catch {
                throw CommandError("\(model.file): error: \(error)")
            }
            try onnx.bytes.writeWhole(to: out)
            let ops = Dictionary(grouping: onnx.opTypes, by: { $0 }).map { "\($0.key) \($0.value.count)" }.sorted()
            print("wrote \(out): \(onnx.bytes.count) bytes, opset \(ONNXExport.opset), input '\(onnx.input)' f32[N,...], output '\(onnx.output)', \(onnx.parameters) parameters")
            print("nodes: \(onnx.nodes) (\(ops.joined(separator: ", ")))")
        }
    }
}

struct ExportPyTorch: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export-pytorch",
        abstract: "Write an architecture as a torch.nn.Module (and its trained weights as safetensors).",
        discussion: """
            A readable Python module for retraining a found architecture \
            elsewhere (GPUs, bigger datasets): each convolution, dense layer \
            and batch norm is an nn.Conv2d, nn.Linear or nn.BatchNorm2d \
            initialized as the IR says, and forward() follows the IR line by \
            line. With --weights, the checkpoint's tensors go to a \
            .safetensors file under the module's state_dict keys; the module \
            file's load_nasc_weights(model, path) reads it with torch alone.

            Example:
              nasc export-pytorch ir-specs/models/reference_cnn.nasir --weights cnn.ckpt --out cnn.py
            """)

    @Argument(help: "The architecture.")
    var file: String

    @Option(help: "A checkpoint from nasc train --save (optional: without it, only the module).")
    var weights: String?

    @Option(help: "The .py file to write ('-': standard output).")
    var out: String

    @Option(name: .customLong("weights-out"), help: "Where the weights go (default: --out with .safetensors for .py).")
    var weightsOut: String?

    @OptionGroup var checkpointFlags: CheckpointFlags

    func validate() throws {
        if weightsOut != nil && weights == nil { throw ValidationError("--weights-out needs --weights (the checkpoint to write)") }
        if out == "-" && weights != nil && weightsOut == nil { throw ValidationError("--out - with --weights needs --weights-out (where the weights go)") }
    }

    var weightsPath: String { weightsOut ?? ((out as NSString).deletingPathExtension + ".safetensors") }

    func run() throws {
        try reportingErrors {
            if out != "-" { try checkWritable(out, flag: "--out") }
            if weights != nil { try checkWritable(weightsPath, flag: "--weights-out") }
            let graph = try IRInput.load(file)
            let tensors = try weights.map { try checkpointFlags.weights($0, for: graph).tensors }
            let module: PyTorchExport.Exported
            do { module = try PyTorchExport.export(graph, weights: tensors, file: (file as NSString).lastPathComponent) } catch {
                throw CommandError("\(file): error: \(error)")
            }
            if out == "-" {
                print(module.source, terminator: "")
            } else {
                try module.source.writeWhole(to: out)
                print("wrote \(out): class \(module.className), \(module.modules) layer modules, \(module.parameters) parameters")
            }
            if let data = module.weights {
                try data.writeWhole(to: weightsPath)
                let note = "wrote \(weightsPath): the trained weights (load_nasc_weights(model, \"\(weightsPath)\"))"
                // Standard output may be holding the module itself.
                if out == "-" { FileHandle.standardError.write(Data((note + "\n").utf8)) } else { print(note) }
            }
        }
    }
}
