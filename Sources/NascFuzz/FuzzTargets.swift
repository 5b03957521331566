import Foundation
import NascData
import NascInterpreter
import NascIR
import NascLLVM
import NascRuntime
import NascPasses
import NascTraining

/// What each fuzz target feeds its input to. Every target must return for
/// any bytes: a thrown error is a clean refusal; a trap, a sanitizer report,
/// a hang or a memory blow-up is a bug. Readers that take paths get the
/// bytes through a scratch file.
enum FuzzTargets {
    static let names = ["ir", "compile", "idx", "cifar", "ptb", "checkpoint"]

    /// The target by name; nil for an unknown one.
    static func target(_ name: String) -> (([UInt8]) -> Void)? {
        switch name {
        case "ir": return ir
        case "compile": return compile
        case "idx": return idx
        case "cifar": return cifar
        case "ptb": return ptb
        case "checkpoint": return checkpoint
        default: return nil
        }
    }

    /// Allocations are checked against a small limit, so an input asking
    /// for gigabytes is refused like any other bad input.
    static func limitMemory() { setenv(MemoryLimit.variable, "512M", 1) }

    static let scratch: String = {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nasc-fuzz-\(getpid())").path
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }()

    static func file(_ name: String, _ bytes: [UInt8]) -> String {
        let path = scratch + "/" + name
        _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
        return path
    }

    /// Parse and verify; an accepted graph must print, re-parse to the same text, and hash.
    static func ir(_ bytes: [UInt8]) {
        guard let graph = try? Verifier.parseAndVerify(bytes) else { return }
        let text = Printer.print(graph)
        guard let again = try? Verifier.parseAndVerify(Array(text.utf8)) else { fatalError("printed graph does not parse:\n\(text)") }
        guard Printer.print(again) == text else { fatalError("printing is not a fixed point:\n\(text)") }
        _ = StructuralHash.hash(graph)
    }

    /// The whole pipeline on graphs that verify: passes, plan, JIT, one step at batch 1.
    static func compile(_ bytes: [UInt8]) {
        guard bytes.count <= 8192, let forward = try? Verifier.parseAndVerify(bytes) else { return }
        let isStep = forward.outputs.contains { $0.label.hasPrefix("grad.") || $0.label.hasPrefix("next.") }
        let hasLoss = forward.outputs.contains { $0.label == "loss" }
        guard let graph = try? Pipeline.run(forward, upTo: hasLoss && !isStep ? .train : .verify),
              let compiled = try? CompiledGraph.compile(graph, maxBatch: 1) else { return }
        var inputs = RandomInputs.make(compiled.graph, batch: 1, seed: 0)
        if inputs["lr"] != nil { inputs["lr"] = .scalar(0.01) }
        try? compiled.setSources(Initializers.initializeAll(compiled.graph, seed: 0))
        _ = try? compiled.run(inputs)
    }

    static func idx(_ bytes: [UInt8]) {
        let path = file("images-idx3-ubyte", bytes)
        _ = try? IDX.read(path, rank: 3)
        _ = try? IDX.read(path, rank: 1)
        _ = try? IDX.load(images: path, labels: file("labels-idx1-ubyte", Array(bytes.prefix(64))))
    }

    static func cifar(_ bytes: [UInt8]) {
        guard var d = try? CIFAR10.read(file("data_batch.bin", bytes)) else { return }
        CIFAR10.augment(&d.pixels, count: min(d.count, 4), seed: 1)
    }

    /// The input split at 0xFF bytes into the train, valid and test texts.
    static func ptb(_ bytes: [UInt8]) {
        let parts = bytes.split(separator: 0xFF, maxSplits: 2, omittingEmptySubsequences: false).map(Array.init)
        for (k, name) in ["train", "valid", "test"].enumerated() { _ = file("ptb.\(name).txt", k < parts.count ? parts[k] : []) }
        guard let data = try? PennTreebank.load(directory: scratch) else { return }
        let size = Int(bytes.first ?? 1)
        _ = PennTreebank.batches(data.train, batch: 1 + size % 5, steps: 1 + size % 7)
    }

    /// A checkpoint whose checksum is made valid, so the fuzzer explores the
    /// header and tensors behind it; read, then checked against a graph.
    static func checkpoint(_ bytes: [UInt8]) {
        var content = Array(bytes.dropLast(min(32, bytes.count)))
        var sha = SHA256()
        sha.update(content)
        content += sha.finalize()
        guard let c = try? Checkpoint.read(file("fuzz.ckpt", content)) else { return }
        try? c.check(against: checkpointGraph, path: "fuzz.ckpt")
        try? c.checkGraph(checkpointGraph, path: "fuzz.ckpt", allowOther: false)
    }

    static let checkpointGraph = try! Verifier.parseAndVerify(Array("""
        graph @g(%x: f32[N,4], %y: i32[N]) -> (loss: f32[], logits: f32[N,3]) {
          %w = param {init = he_normal} : f32[4,3]
          %b = param {init = zeros} : f32[3]
          %z = matmul %x, %w : f32[N,3]
          %logits = bias_add %z, %b : f32[N,3]
          %loss = softmax_cross_entropy %logits, %y : f32[]
          return %loss, %logits
        }
        """.utf8))

    /// Small valid inputs for the targets that do not read IR (the IR
    /// targets start from ir-specs/): written by `nasc-fuzz seeds DIR`.
    static func seeds() -> [String: [(String, [UInt8])]] {
        func be32(_ v: Int) -> [UInt8] { [UInt8(v >> 24 & 255), UInt8(v >> 16 & 255), UInt8(v >> 8 & 255), UInt8(v & 255)] }
        let images = [0, 0, 8, 3] + be32(2) + be32(3) + be32(3) + (0..<18).map { UInt8($0 * 13) }
        let labels = [0, 0, 8, 1] + be32(3) + [0, 1, 9]
        let record = [3] + (0..<3072).map { UInt8(truncatingIfNeeded: $0) }
        let text = Array("the cat sat\n<unk> on the mat\n".utf8) + [0xFF] + Array("the mat\n".utf8) + [0xFF] + Array("the cat\n".utf8)
        var ckpt = Data("NASCCKPT".utf8)
        let header = Data(#"{"epoch":0,"graph":"g","hash":"0","step":0,"tensors":[{"name":"b","offset":48,"shape":[3]},{"name":"w","offset":0,"shape":[4,3]}]}"#.utf8)
        withUnsafeBytes(of: UInt32(1).littleEndian) { ckpt.append(contentsOf: $0) }
        withUnsafeBytes(of: UInt32(header.count).littleEndian) { ckpt.append(contentsOf: $0) }
        ckpt.append(header)
        for i in 0..<15 { withUnsafeBytes(of: Float(i).bitPattern.littleEndian) { ckpt.append(contentsOf: $0) } }
        ckpt.append(Data(count: 32))  // the checksum the target recomputes
        return ["idx": [("images", images), ("labels", labels)], "cifar": [("one_record", record + record)],
                "ptb": [("three_texts", text)], "checkpoint": [("small", [UInt8](ckpt))]]
    }
}
