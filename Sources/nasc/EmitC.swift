import ArgumentParser
import Foundation
import NascCEmitter
import NascData
import NascIR
import NascPasses
import NascTraining

struct EmitC: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "emit-c",
        abstract: "Write standalone C99 inference code for a trained architecture.",
        discussion: """
            Writes NAME.h (sizes and the entry function NAME_infer), NAME.c \
            (the trained weights as exact hex-float constants, batch norm \
            folded into the convolutions, one static arena sized by the memory \
            plan: no malloc, only libm) and NAME_main.c (a driver that \
            classifies the images of an IDX or raw float32 file), and prints \
            the cc line that builds them.

            For a recurrent cell trained with `nasc train-lm`, the entry is \
            NAME_step (one word and the state in, the next word's logits and \
            the state out), NAME.c also holds the vocabulary (from --data's \
            training text, as the trainer built it), and NAME_main.c prints \
            the perplexity of a text file.

            Examples:
              nasc emit-c ir-specs/models/reference_cnn.nasir --weights cnn.ckpt --out cnn --name cnn
              nasc emit-c ir-specs/models/lstm_cell.nasir --weights lstm.ckpt --out lstm --name lstm
            """)

    @OptionGroup var model: TrainedModel

    @Option(help: "Output folder.")
    var out: String

    @Option(help: "Name of the files and the C symbols (default: the graph's name).")
    var name: String?

    @Option(help: "For a recurrent cell: layers of cells, as trained.")
    var layers = 2

    @OptionGroup(title: "For a recurrent cell") var dataFlags: TextDataFlags

    func validate() throws {
        try FlagCheck.int(layers, "--layers", 1...64)
    }

    func run() throws {
        try reportingErrors {
            let graph = try IRInput.load(model.file)
            let isCell = (try? LanguageModel.interface(of: graph)) != nil
            let emitted: EmittedC
            do {
                if isCell {
                    // The checkpoint holds the whole language model's weights (%l0.W for the cell's %W).
                    let weights = try model.checkpointFlags.saved(model.weights, from: graph).tensors
                    let text = try dataFlags.load()
                    emitted = try CEmitter.emitLanguageModel(cell: graph, weights: weights, vocabulary: text.vocabulary,
                                                             layers: layers, name: name ?? graph.name)
                } else {
                    let weights = try model.checkpointFlags.weights(model.weights, for: graph).tensors
                    emitted = try CEmitter.emit(graph, weights: weights, name: name ?? graph.name)
                }
            } catch let e as CommandError { throw e } catch {
                throw CommandError("\(model.file): error: \(error)")
            }
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
            let n = emitted.name
            try emitted.header.writeWhole(to: "\(out)/\(n).h")
            try emitted.source.writeWhole(to: "\(out)/\(n).c")
            try emitted.driver.writeWhole(to: "\(out)/\(n)_main.c")
            print("wrote \(out)/\(n).h, \(out)/\(n).c, \(out)/\(n)_main.c (\(emitted.summary))")
            print("build: cd \(out) && \(emitted.compileCommand)")
        }
    }
}
