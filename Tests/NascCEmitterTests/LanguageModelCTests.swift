import Foundation
import NascCEmitter
import NascData
import NascIR
import NascPasses
import NascRuntime
import NascTestSupport
import NascTraining
import XCTest

/// The C step function of a language model: builds warning-free, runs
/// clean under the sanitizers, gives the JIT's logits word after word with
/// the state carried, and its driver prints the perplexity `eval-lm --steps
/// 1` computes; bad text files are errors, not garbage.
final class LanguageModelCTests: XCTestCase {
    /// A Penn Treebank folder in miniature. The vocabulary has words that C
    /// must escape (quotes, a backslash, a trigraph, non-ASCII); the test
    /// text has a word outside it and a blank line.
    func corpus(in dir: String) throws -> PennTreebank {
        let train = """
             the cat sat on the mat <unk> \\ "quoted" what??= café
             the dog ate the cat 's dinner
             a cat and a dog
            """
        let test = " the cat ate a zebra \n\n the café dog sat \"quoted\" \\ \n"
        for (split, text) in [("train", train), ("valid", test), ("test", test)] {
            try text.write(toFile: "\(dir)/ptb.\(split).txt", atomically: true, encoding: .utf8)
        }
        return try PennTreebank.load(directory: dir)
    }

    func testStepFunctionAgreesWithTheJITAndEvalLM() throws {
        let dir = NSTemporaryDirectory() + "nasc-lm-c-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let text = try corpus(in: dir)
        for (label, cellText, layers) in [("lstm", lstmCellText(size: 6), 2), ("elman", elmanCellText(size: 5), 1)] {
            let cell = try Verifier.parseAndVerify(Array(cellText.utf8))
            // A few steps of training, so the weights are not the initial ones.
            var options = LanguageModelTrainer.Options()
            options.batch = 1
            options.steps = 1
            options.layers = layers
            options.initScale = 0.5
            options.verbose = false
            let trainer = try LanguageModelTrainer(cell: cell, vocabulary: text.vocabulary.count, options: options)
            _ = try trainer.trainEpoch(text.train, validation: text.valid)
            let weights = trainer.checkpoint().tensors

            let emitted = try CEmitter.emitLanguageModel(cell: cell, weights: weights, vocabulary: text.vocabulary, layers: layers, name: label)
            for (file, source) in [("\(label).h", emitted.header), ("\(label).c", emitted.source), ("\(label)_main.c", emitted.driver)] {
                try source.write(toFile: "\(dir)/\(file)", atomically: true, encoding: .utf8)
            }
            let files = "\(label).c \(label)_main.c -lm"
            for cc in ["gcc", "clang"] {
                let r = try shell("\(cc) -std=c99 -O2 -Wall -Wextra -Werror \(files) -o \(label)_\(cc)", in: dir)
                XCTAssertEqual(r.status, 0, "\(label), \(cc):\n\(r.err)")
            }
            let san = try shell("clang -std=c99 -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all \(files) -o \(label)_san", in: dir)
            XCTAssertEqual(san.status, 0, san.err)

            // The JIT's step graph, one word at a time, the state carried.
            let model = try DeployableLanguageModel.prepare(cell: cell, weights: weights, vocabulary: text.vocabulary.count, layers: layers)
            let step = try CompiledGraph.compile(model.graph, maxBatch: 1)
            try step.setSources(matching: weights)
            let hidden = model.interface.hidden
            var state = Dictionary(uniqueKeysWithValues: model.state.map { ($0.input, [Float](repeating: 0, count: hidden)) })
            var jit: [[Float]] = []
            for id in text.test {
                let out = try step.run(floats: state, ints: [LanguageModel.tokens: [id]], batch: 1)
                jit.append(out[LanguageModel.logits]!.values)
                for s in model.state { state[s.input] = out[s.output]!.values }
            }

            let logits = try shell("./\(label)_san --logits ptb.test.txt", in: dir)
            XCTAssertEqual(logits.status, 0, logits.err)
            let c = logits.out.split(separator: "\n").map { $0.split(separator: " ").map { Float($0)! } }
            XCTAssertEqual(c.count, text.test.count, "one line of logits per word, <eos> included")
            var worst: Float = 0
            for (row, want) in zip(c, jit) {
                XCTAssertEqual(row.count, text.vocabulary.count)
                let scale = want.reduce(0) { $0 + abs($1) } / Float(want.count)
                for (a, b) in zip(row, want) { worst = max(worst, abs(a - b) / max(abs(b), scale)) }
            }
            print("\(label) language model in C vs the JIT over \(c.count) words: worst relative logit difference \(worst)")
            XCTAssertLessThanOrEqual(worst, 1e-5)

            let run = try shell("./\(label)_san ptb.test.txt", in: dir)
            XCTAssertEqual(run.status, 0, run.err)
            let printed = run.out.split(separator: " ")
            XCTAssertEqual(printed.first, "perplexity", run.out)
            let perplexity = try XCTUnwrap(Double(printed[1]))
            let expected = try trainer.perplexity(text.test)
            XCTAssertEqual(perplexity, expected, accuracy: 1e-4 * expected, "C's perplexity against eval-lm's with one step per batch")
            XCTAssertTrue(run.out.contains("(\(text.test.count - 1) words predicted)"), run.out)

            // Bad files and bad usage: an error with status 1 (2 for usage), no sanitizer report.
            let hostile: [(String, Data, String)] = [
                ("empty.txt", Data(), "no words"),
                ("blank.txt", Data("  \n \n".utf8), "no words"),
                ("latin1.txt", Data(" the cat\n caf\u{e9}".utf8.prefix(12)) + Data([0x63, 0x61, 0x66, 0xe9, 0x0a]), "line 2 is not UTF-8"),
                ("nul.txt", Data(" the\0cat \n".utf8), "line 1 is not UTF-8"),
            ]
            for (name, bytes, message) in hostile {
                try bytes.write(to: URL(fileURLWithPath: "\(dir)/\(name)"))
                let r = try shell("./\(label)_san \(name)", in: dir)
                XCTAssertEqual(r.status, 1, "\(name): \(r.err)")
                XCTAssertTrue(r.err.contains(message), "\(name): \(r.err)")
                XCTAssertFalse(r.err.contains("runtime error") || r.err.contains("AddressSanitizer"), "\(name): \(r.err)")
            }
            XCTAssertEqual(try shell("./\(label)_san missing.txt", in: dir).status, 1)
            XCTAssertEqual(try shell("./\(label)_san", in: dir).status, 2)
            XCTAssertEqual(try shell("./\(label)_san --bogus ptb.test.txt", in: dir).status, 2)
        }
    }

    /// Refused before any C is written: a checkpoint of another vocabulary
    /// or layer count, and a graph that is not a cell.
    func testMismatchedWeightsAreRefusedByName() throws {
        let cell = try Verifier.parseAndVerify(Array(lstmCellText(size: 4).utf8))
        var options = LanguageModelTrainer.Options()
        options.layers = 1
        options.verbose = false
        let weights = try LanguageModelTrainer(cell: cell, vocabulary: 7, options: options).checkpoint().tensors
        let words = (0..<7).map { "w\($0)" }
        XCTAssertThrowsError(try CEmitter.emitLanguageModel(cell: cell, weights: weights, vocabulary: words + ["extra"], layers: 1, name: "lm")) {
            XCTAssertTrue("\($0)".contains("%embedding"), "\($0)")
        }
        XCTAssertThrowsError(try CEmitter.emitLanguageModel(cell: cell, weights: weights, vocabulary: words, layers: 2, name: "lm")) {
            XCTAssertTrue("\($0)".contains("%l1."), "\($0)")
        }
        XCTAssertThrowsError(try CEmitter.emitLanguageModel(cell: cell, weights: weights, vocabulary: words, layers: 1, name: "2lm")) {
            XCTAssertTrue("\($0)".contains("not a C identifier"), "\($0)")
        }
        XCTAssertNoThrow(try CEmitter.emitLanguageModel(cell: cell, weights: weights, vocabulary: words, layers: 1, name: "lm"))
    }
}
