import ArgumentParser
import Foundation
import NascCEmitter
import NascIR
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

            Example:
              nasc emit-c ir-specs/models/reference_cnn.nasir --weights cnn.ckpt --out cnn --name cnn
            """)

    @OptionGroup var model: TrainedModel

    @Option(help: "Output folder.")
    var out: String

    @Option(help: "Name of the files and the C symbols (default: the graph's name).")
    var name: String?

    func run() throws {
        try reportingErrors {
            let (graph, weights) = try model.load()
            let emitted: EmittedC
            do { emitted = try CEmitter.emit(graph, weights: weights, name: name ?? graph.name) } catch {
                throw CommandError("\(model.file): error: \(error)")
            }
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
            let n = emitted.name
            try emitted.header.write(toFile: "\(out)/\(n).h", atomically: true, encoding: .utf8)
            try emitted.source.write(toFile: "\(out)/\(n).c", atomically: true, encoding: .utf8)
            try emitted.driver.write(toFile: "\(out)/\(n)_main.c", atomically: true, encoding: .utf8)
            print("wrote \(out)/\(n).h, \(out)/\(n).c, \(out)/\(n)_main.c (input \(emitted.inputSize) floats, output \(emitted.outputSize), static memory \(emitted.arenaBytes) bytes)")
            print("build: cd \(out) && \(emitted.compileCommand)")
        }
    }
}
