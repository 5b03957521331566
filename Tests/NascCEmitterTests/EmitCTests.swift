import Foundation
import NascCEmitter
import NascData
import NascIR
import NascInterpreter
import NascLLVM
import NascRuntime
import NascPasses
import NascTestSupport
import NascTraining
import XCTest

/// The emitted C: builds warning-free under gcc and clang, runs clean under
/// ASan and UBSan, agrees with the JIT's inference, and generated/ is up to
/// date with the emitter.
final class EmitCTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    static let fashion = "/usr/share/datasets/fashion-mnist"

    func load(_ path: String) throws -> Graph { try Verifier.parseAndVerify(Array(try String(contentsOfFile: path, encoding: .utf8).utf8)) }

    /// The generated/ folder is what the emitter writes today from the committed weights.
    func testGeneratedIsUpToDate() throws {
        let graph = try load("\(Self.root)/ir-specs/models/small_cnn.nasir")
        let weights = try Checkpoint.read("\(Self.root)/generated/small_cnn.ckpt")
        let emitted = try CEmitter.emit(graph, weights: weights.tensors, name: "small_cnn")
        for (file, text) in [("small_cnn.h", emitted.header), ("small_cnn.c", emitted.source), ("small_cnn_main.c", emitted.driver)] {
            let committed = try String(contentsOfFile: "\(Self.root)/generated/\(file)", encoding: .utf8)
            XCTAssertTrue(committed == text, "generated/\(file) is out of date: run `make generated`")
        }
    }

    /// Compiles generated/ with both compilers and strict warnings, under the
    /// sanitizers, and checks its logits and classes against the JIT on real
    /// test images.
    func testEmittedCBuildsCleanAndAgreesWithTheJIT() throws {
        guard FileManager.default.fileExists(atPath: Self.fashion) else { throw XCTSkip("dataset-fashion-mnist is not installed") }
        let dir = NSTemporaryDirectory() + "nasc-c-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for f in ["small_cnn.h", "small_cnn.c", "small_cnn_main.c"] {
            try FileManager.default.copyItem(atPath: "\(Self.root)/generated/\(f)", toPath: "\(dir)/\(f)")
        }
        let strict = "-std=c99 -Wall -Wextra -Werror small_cnn.c small_cnn_main.c -lm"
        // -O3 -march=native is the build emit-c suggests: inlining the matrix
        // product with constant sizes must not bring warnings either.
        for (cc, flags, out) in [("gcc", "-O2", "model_gcc"), ("clang", "-O2", "model_clang"), ("gcc", "-O3 -march=native", "model_gcc3")] {
            let r = try shell("\(cc) \(flags) \(strict) -o \(out)", in: dir)
            XCTAssertEqual(r.status, 0, "\(cc) failed:\n\(r.err)")
        }
        let sanitized = try shell("clang -std=c99 -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all small_cnn.c small_cnn_main.c -lm -o model_san", in: dir)
        XCTAssertEqual(sanitized.status, 0, sanitized.err)

        // 200 test images as raw float32 (the driver's second format) and as IDX.
        let test = try IDX.load(images: "\(Self.fashion)/t10k-images-idx3-ubyte.gz", labels: "\(Self.fashion)/t10k-labels-idx1-ubyte.gz").subset(0..<200)
        var raw = Data()
        for v in test.pixels { withUnsafeBytes(of: v.bitPattern.littleEndian) { raw.append(contentsOf: $0) } }
        try raw.write(to: URL(fileURLWithPath: "\(dir)/images.f32"))

        let c = try shell("./model_gcc --logits --raw images.f32", in: dir)
        XCTAssertEqual(c.status, 0, c.err)
        let cLogits = c.out.split(separator: "\n").map { $0.split(separator: " ").map { Double($0)! } }
        XCTAssertEqual(cLogits.count, 200)
        // The vectorized build sums in the same order: the same logits, to the printed digit.
        let vectorized = try shell("./model_gcc3 --logits --raw images.f32", in: dir)
        XCTAssertEqual(vectorized.status, 0, vectorized.err)
        XCTAssertTrue(vectorized.out == c.out, "-O3 -march=native changes the logits")
        let asan = try shell("./model_san --raw images.f32", in: dir)
        XCTAssertEqual(asan.status, 0, "sanitizers:\n\(asan.err)")
        XCTAssertFalse(asan.err.contains("runtime error"), asan.err)

        // The same images as IDX give the same classes; hostile files are
        // errors with status 1 under the sanitizers, never garbage or UB.
        var idx = Data([0, 0, 8, 3, 0, 0, 0, 200, 0, 0, 0, 28, 0, 0, 0, 28])
        idx.append(contentsOf: test.pixels.map { UInt8(($0 * 255).rounded()) })
        try idx.write(to: URL(fileURLWithPath: "\(dir)/images.idx"))
        let fromIDX = try shell("./model_san images.idx", in: dir)
        XCTAssertEqual(fromIDX.status, 0, fromIDX.err)
        XCTAssertEqual(fromIDX.out.split(separator: "\n").count, 200)
        let hostile: [(String, Data, String)] = [
            ("raw_without_flag.f32", raw, "not an IDX image file"),
            ("huge_dims.idx", Data([0, 0, 8, 3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), "the model takes 1x28x28"),
            ("short.idx", Data([0, 0, 8, 3, 0, 0]), "too short for an IDX header"),
            ("truncated.idx", idx.prefix(16 + 784 * 3 + 5), "truncated"),
            ("trailing.idx", idx + Data([1, 2, 3]), "beyond the 200 images"),
        ]
        for (name, bytes, message) in hostile {
            try bytes.write(to: URL(fileURLWithPath: "\(dir)/\(name)"))
            let r = try shell("./model_san \(name)", in: dir)
            XCTAssertEqual(r.status, 1, "\(name): \(r.err)")
            XCTAssertTrue(r.err.contains(message), "\(name): \(r.err)")
            XCTAssertFalse(r.err.contains("runtime error"), "\(name): \(r.err)")
        }
        let partial = try shell("./model_san --raw truncated.idx", in: dir)
        XCTAssertEqual(partial.status, 1, partial.err)
        XCTAssertTrue(partial.err.contains("not a whole image"), partial.err)

        // The JIT's inference graph on the same images and weights.
        let graph = try load("\(Self.root)/ir-specs/models/small_cnn.nasir")
        let weights = try Checkpoint.read("\(Self.root)/generated/small_cnn.ckpt")
        let inference = try CompiledGraph.compile(try InferenceGraph.run(graph), maxBatch: 200)
        try inference.setSources(matching: weights.tensors)
        let jit = try inference.run(["x": Tensor(shape: [200, 1, 28, 28], data: test.pixels.map(Double.init)),
                                     "y": Tensor(.i32, shape: [200], data: test.labels.map(Double.init))])["logits"]!
        var worst = 0.0, sameClass = 0
        for i in 0..<200 {
            let row = Array(jit.data[(i * 10)..<((i + 1) * 10)])
            let scale = row.reduce(0) { $0 + abs($1) } / 10
            for k in 0..<10 { worst = max(worst, abs(cLogits[i][k] - row[k]) / max(abs(row[k]), scale)) }
            if cLogits[i].indices.max(by: { cLogits[i][$0] < cLogits[i][$1] }) == row.indices.max(by: { row[$0] < row[$1] }) { sameClass += 1 }
        }
        print("emitted C vs JIT on 200 Fashion-MNIST test images: worst relative logit difference \(worst), \(sameClass)/200 same class")
        XCTAssertLessThanOrEqual(worst, 1e-5)
        XCTAssertEqual(sameClass, 200)
    }

    /// Every elementwise op of the table, printed from its formula as C,
    /// agrees with the interpreter (the formulas' definition) on inputs on
    /// both sides of zero.
    func testEveryElementwiseOpInCAgreesWithTheInterpreter() throws {
        let graph = try Verifier.parseAndVerify(Array("""
            graph @acts(%x: f32[N,12]) -> (logits: f32[N,12]) {
              %two = const {value = 2.0} : f32[]
              %one = const {value = 1.0} : f32[]
              %a = leaky_relu %x {slope = 0.2}
              %b = silu %x
              %c = sigmoid %x
              %d = tanh %x
              %e = relu %x
              %sq = mul %x, %x
              %pos = add %sq, %one
              %r = sqrt %pos
              %f = div %a, %r
              %g = sub %b, %c
              %h = neg %d
              %i = add %e, %f
              %j = mul %g, %two
              %k = add %h, %i
              %l = identity %k
              %logits = add %j, %l
              return %logits
            }
            """.utf8))
        let computed = Set(graph.nodes.map(\.op)).filter { $0.elementwise != nil && $0.elementwise!.gradient.isDifferentiated }
        let forward = Set(Op.allCases.filter { $0.elementwise.map(\.gradient.isDifferentiated) ?? false })
        XCTAssertEqual(forward.subtracting(computed).map(\.name), [], "elementwise ops this test does not emit")
        let values = (0..<(8 * 12)).map { Double($0 % 13) * 0.45 - 2.7 }
        try checkEmittedC(graph, weights: [:], name: "acts", input: Tensor(shape: [8, 12], data: values), relative: true)
    }

    /// Every other op an inference graph can hold, depthwise, grouped and
    /// dilated convolutions (strided, with uneven padding; batch norm folded
    /// into the depthwise one) among them, in C
    /// agrees with the interpreter; with the elementwise test above, every
    /// op is emitted or in `CEmitter.withoutC` (the embedding: LanguageModelCTests).
    func testEveryInferenceOpInCAgreesWithTheInterpreter() throws {
        let graph = try Verifier.parseAndVerify(Array("""
            graph @layers(%x: f32[N,4,9,8]) -> (logits: f32[N,10]) {
              %wd = param {init = he_normal} : f32[4,1,3,3]
              %d = conv2d %x, %wd {groups = 4, dilation = [2, 2]}
              %g = param {init = uniform, scale = 2.0} : f32[4]
              %b = param {init = uniform, scale = 1.0} : f32[4]
              %m = state {init = uniform, scale = 0.5} : f32[4]
              %v = state {init = constant, value = 1.5} : f32[4]
              %bn = batch_norm %d, %g, %b, %m, %v {mode = infer}
              %r = relu %bn
              %wg = param {init = he_normal} : f32[6,2,3,3]
              %c0 = conv2d %r, %wg {stride = [2, 2], groups = 2, dilation = [1, 2]}
              %bias = param {init = uniform, scale = 0.5} : f32[6]
              %c = bias_add %c0, %bias
              %mp = max_pool %c {window = [2, 2], stride = [1, 1], pad = same}
              %ap = avg_pool %c {window = [3, 3], pad = same}
              %cat = concat %mp, %ap
              %zp = zero_pad %cat {pads = [1, 0, 0, 1]}
              %cr = crop %zp {pads = [1, 0, 0, 1]}
              %sl = slice %cr {axis = 1, start = 2, size = 8}
              %gp = global_avg_pool %sl
              %fl = flatten %sl
              %rs = reshape %fl : f32[N,8,20]
              %fl2 = flatten %rs
              %wm = param {init = glorot_uniform} : f32[160,10]
              %mm = matmul %fl2, %wm
              %wt = param {init = glorot_uniform} : f32[10,8]
              %mt = matmul %gp, %wt {transpose_b = true}
              %s = add %mm, %mt
              %half = const {value = 0.5} : f32[]
              %sh = mul %s, %half
              %logits = softmax %sh
              return %logits
            }
            """.utf8))
        let elementwise = Set(Op.allCases.filter { $0.elementwise.map(\.gradient.isDifferentiated) ?? false })
        let covered = Set(graph.nodes.map(\.op)).union(elementwise).union([.embedding])
        XCTAssertEqual(covered.intersection(CEmitter.withoutC).map(\.name), [], "declared without C, yet emitted here")
        XCTAssertEqual(Set(Op.allCases).subtracting(covered).subtracting(CEmitter.withoutC).map(\.name).sorted(), [],
                       "ops neither emitted by these tests nor in CEmitter.withoutC")

        let values: [Double] = (0..<864).map { i in Double((i * 7) % 19) * 0.21 - 1.9 }  // 3 images of 4x9x8
        try checkEmittedC(graph, weights: Initializers.initializeAll(graph, seed: 3), name: "layers",
                          input: Tensor(shape: [3, 4, 9, 8], data: values), relative: false)
    }

    /// Emits `graph` as C, builds it with strict warnings, runs it on
    /// `input` (as float32, the driver's raw format) and compares its logits
    /// with the interpreter's to 1e-5 (relative to the larger of 1 and the
    /// value with `relative`).
    func checkEmittedC(_ graph: Graph, weights: [String: Tensor], name: String, input: Tensor, relative: Bool,
                       file: StaticString = #filePath, line: UInt = #line) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nasc-\(name)-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let emitted = try CEmitter.emit(graph, weights: weights, name: name)
        for (suffix, text) in [(".h", emitted.header), (".c", emitted.source), ("_main.c", emitted.driver)] {
            try text.write(toFile: "\(dir)/\(name)\(suffix)", atomically: true, encoding: .utf8)
        }
        let build = try shell("cc -std=c99 -O2 -Wall -Wextra -Werror \(name).c \(name)_main.c -lm -o \(name)", in: dir)
        XCTAssertEqual(build.status, 0, build.err, file: file, line: line)
        var raw = Data()
        for v in input.data { withUnsafeBytes(of: Float(v).bitPattern.littleEndian) { raw.append(contentsOf: $0) } }
        try raw.write(to: URL(fileURLWithPath: "\(dir)/x.f32"))
        let run = try shell("./\(name) --logits --raw x.f32", in: dir)
        XCTAssertEqual(run.status, 0, run.err, file: file, line: line)
        let c = run.out.split(separator: "\n").flatMap { $0.split(separator: " ").map { Double($0)! } }
        let rounded = Tensor(shape: input.shape, data: input.data.map { Double(Float($0)) })
        let reference = try Interpreter(graph).run(inputs: ["x": rounded], sources: weights).output("logits")!
        XCTAssertEqual(c.count, reference.count, file: file, line: line)
        for (i, (got, want)) in zip(c, reference.data).enumerated() {
            let bound: Double = relative ? 1e-5 * max(1, abs(want)) : 1e-5
            XCTAssertEqual(got, want, accuracy: bound, "element \(i)", file: file, line: line)
        }
    }
}
