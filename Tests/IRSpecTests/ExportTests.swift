import Foundation
import NascExport
import NascIR
import XCTest

/// `nasc export-onnx` and `nasc export-pytorch` through the binary, checked
/// by the real runtimes: onnx.checker and ONNX Runtime, and PyTorch loading
/// the module and its weights, each against `nasc eval`'s logits on 200
/// Fashion-MNIST test images (Tests/Python/check_export.py). The Python
/// comes from NASC_TEST_PYTHON, the virtual environment `make test` builds.
final class ExportTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("nasc-export-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    static let root = IRSpecTests.packageRoot.path

    func path(_ name: String) -> String { dir.appendingPathComponent(name).path }

    func nasc(_ arguments: [String], timeout: Double = 300) throws -> MutatedSpecTests.Outcome {
        let r = try MutatedSpecTests.nasc(arguments, timeout: timeout)
        XCTAssertFalse(r.signalled || r.timedOut, "nasc \(arguments.joined(separator: " ")) crashed or hung:\n\(r.output)")
        return r
    }

    func python() throws -> URL {
        guard let python = ProcessInfo.processInfo.environment["NASC_TEST_PYTHON"] else {
            throw XCTSkip("NASC_TEST_PYTHON is not set: `make test` sets it to a virtual environment with onnx, onnxruntime and torch")
        }
        return URL(fileURLWithPath: python)
    }

    /// Trains briefly (or takes the given weights), exports both ways and
    /// checks both exports against nasc's logits.
    func checkExports(_ model: String, name: String, weights: String? = nil) throws {
        let python = try python()
        let checkpoint = weights ?? path("\(name).ckpt")
        if weights == nil {
            let train = try nasc(["train", model, "--epochs", "1", "--limit", "512", "--validation", "100", "--save", checkpoint])
            XCTAssertEqual(train.status, 0, train.output)
        }
        let eval = try nasc(["eval", model, "--weights", checkpoint, "--limit", "200", "--logits", path("\(name).logits.npy"),
                             "--inputs", path("\(name).inputs.npy")])
        XCTAssertEqual(eval.status, 0, eval.output)
        XCTAssertTrue(eval.output.contains("logits: \(path("\(name).logits.npy")) (200 x 10)"), eval.output)

        let onnx = try nasc(["export-onnx", model, "--weights", checkpoint, "--out", path("\(name).onnx")])
        XCTAssertEqual(onnx.status, 0, onnx.output)
        XCTAssertTrue(onnx.output.contains("opset 17"), onnx.output)
        let pytorch = try nasc(["export-pytorch", model, "--weights", checkpoint, "--out", path("\(name).py")])
        XCTAssertEqual(pytorch.status, 0, pytorch.output)
        XCTAssertTrue(FileManager.default.fileExists(atPath: path("\(name).safetensors")), pytorch.output)

        let script = "\(Self.root)/Tests/Python/check_export.py"
        for arguments in [["onnx", path("\(name).onnx")], ["pytorch", path("\(name).py"), path("\(name).safetensors")]] {
            let r = try MutatedSpecTests.run(python, [script] + arguments + [path("\(name).inputs.npy"), path("\(name).logits.npy")], timeout: 300)
            print("\(name) \(arguments[0]):\n\(r.output)")
            XCTAssertEqual(r.status, 0, "\(name) \(arguments[0]) export disagrees with nasc:\n\(r.output)")
        }
    }

    func testReferenceModelsExportAndAgree() throws {
        try checkExports("\(Self.root)/ir-specs/models/small_cnn.nasir", name: "small_cnn", weights: "\(Self.root)/generated/small_cnn.ckpt")
        try checkExports("\(Self.root)/ir-specs/models/reference_cnn.nasir", name: "reference_cnn")
    }

    /// A child of the search space with skips (concat), zero padding to
    /// match resolutions, strides with uneven padding and max pools.
    func testSearchedChildExportsAndAgrees() throws {
        let sample = try nasc(["sample", "--layers", "5", "--pool-every", "2", "--strides", "--seed", "2"])
        XCTAssertEqual(sample.status, 0, sample.output)
        for op in ["concat", "max_pool", "zero_pad", "stride = [2, 2]"] { XCTAssertTrue(sample.output.contains(op), "the child has no \(op)") }
        try sample.output.write(toFile: path("child.nasir"), atomically: true, encoding: .utf8)
        try checkExports(path("child.nasir"), name: "child")
    }

    /// Every op an exported classifier can hold (ir-specs/export/every_op.nasir).
    func testEveryExportableOpAgrees() throws {
        try checkExports("\(Self.root)/ir-specs/export/every_op.nasir", name: "every_op")
        // The check itself fails on one logit moved by 1e-4 of the largest.
        let python = try python()
        let moved = try MutatedSpecTests.run(python, ["-c", "import numpy as n, sys; a = n.load(sys.argv[1]); a[3, 2] += 1e-4 * abs(a).max(); n.save(sys.argv[2], a)",
                                                      path("every_op.logits.npy"), path("moved.npy")], timeout: 60)
        XCTAssertEqual(moved.status, 0, moved.output)
        let r = try MutatedSpecTests.run(python, ["\(Self.root)/Tests/Python/check_export.py", "onnx", path("every_op.onnx"), path("every_op.inputs.npy"), path("moved.npy")],
                                         timeout: 120)
        XCTAssertEqual(r.status, 1, "the check passed logits that differ:\n\(r.output)")
    }

    /// Every op is either in every_op.nasir (and so exported and checked
    /// above) or declared to have no counterpart, never both: a new op must
    /// take one side.
    func testEveryOpIsExportedOrDeclaredUnexportable() throws {
        let text = try String(contentsOfFile: "\(Self.root)/ir-specs/export/every_op.nasir", encoding: .utf8)
        let graph = try Verifier.parseAndVerify(Array(text.utf8))
        // The loss is not exported: DeployableGraph keeps what the logits need.
        let exported = Set(graph.nodes.filter { $0.result != "loss" }.map(\.op))
        XCTAssertEqual(exported.intersection(ExportCoverage.withoutCounterpart).map(\.name), [], "declared unexportable, yet in every_op.nasir")
        XCTAssertEqual(Set(Op.allCases).subtracting(exported).subtracting(ExportCoverage.withoutCounterpart).map(\.name).sorted(), [],
                       "ops neither in ir-specs/export/every_op.nasir nor in ExportCoverage.withoutCounterpart")
        let grouped = graph.nodes.filter { $0.op == .conv2d && ($0.attrs["groups"] != nil || $0.attrs["dilation"] != nil) }
        XCTAssertEqual(grouped.count, 3, "every_op.nasir's depthwise, grouped and dilated convolutions")
    }

    func testWhatCannotBeExportedIsAnErrorNamingIt() throws {
        // A sum over the batch in the forward pass: no exported classifier
        // computes one, so both exports name it, with its line.
        let coupled = path("coupled.nasir")
        try """
            graph @coupled(%x: f32[N,1,28,28], %y: i32[N]) -> (loss: f32[], logits: f32[N,10]) {
              %w = param {init = he_normal} : f32[10,1,28,28]
              %c = conv2d %x, %w {pad = valid} : f32[N,10,1,1]
              %f = flatten %c : f32[N,10]
              %t = reduce_sum %f : f32[]
              %logits = mul %f, %t : f32[N,10]
              %loss = softmax_cross_entropy %logits, %y : f32[]
              return %loss, %logits
            }
            """.write(toFile: coupled, atomically: true, encoding: .utf8)
        let train = try nasc(["train", coupled, "--epochs", "1", "--limit", "128", "--validation", "10", "--save", path("coupled.ckpt")])
        XCTAssertEqual(train.status, 0, train.output)
        for (command, format) in [("export-onnx", "ONNX"), ("export-pytorch", "PyTorch")] {
            let r = try nasc([command, coupled, "--weights", path("coupled.ckpt"), "--out", path("coupled.out")])
            XCTAssertEqual(r.status, 1, r.output)
            XCTAssertTrue(r.output.contains("coupled.nasir: error: \(format) export has no counterpart for op 'reduce_sum' of %t (line 5)"), r.output)
            XCTAssertFalse(FileManager.default.fileExists(atPath: path("coupled.out")))
        }

        let model = "\(Self.root)/ir-specs/models/small_cnn.nasir"
        let checkpoint = "\(Self.root)/generated/small_cnn.ckpt"

        // A checkpoint of another graph, a missing one, flags that make no sense.
        let other = try nasc(["export-onnx", "\(Self.root)/ir-specs/models/reference_cnn.nasir", "--weights", checkpoint, "--out", path("x.onnx")])
        XCTAssertEqual(other.status, 1, other.output)
        XCTAssertTrue(other.output.contains(checkpoint), other.output)
        let missing = try nasc(["export-pytorch", model, "--weights", path("none.ckpt"), "--out", path("x.py")])
        XCTAssertEqual(missing.status, 1, missing.output)
        XCTAssertTrue(missing.output.contains("none.ckpt: error: no such checkpoint"), missing.output)
        let orphan = try nasc(["export-pytorch", model, "--weights-out", path("w.safetensors"), "--out", path("x.py")])
        XCTAssertNotEqual(orphan.status, 0, orphan.output)
        XCTAssertTrue(orphan.output.contains("--weights-out needs --weights"), orphan.output)
        let noFolder = try nasc(["export-onnx", model, "--weights", checkpoint, "--out", "/nonexistent/x.onnx"])
        XCTAssertEqual(noFolder.status, 1, noFolder.output)
        XCTAssertTrue(noFolder.output.contains("no folder '/nonexistent'"), noFolder.output)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("x.onnx")) || FileManager.default.fileExists(atPath: path("x.py")))
    }
}
