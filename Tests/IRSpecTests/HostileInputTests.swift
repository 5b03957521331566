import Foundation
import NascIR
import XCTest

/// Inputs a hostile user or a fuzzer can produce, each of which once crashed
/// nasc (an allocation abort, an overflow trap, a silent acceptance): every
/// one must now end with status 1-127 and a message that names the file,
/// flag or size at fault. Runs the built binary, one process per case.
final class HostileInputTests: XCTestCase {
    static let root = IRSpecTests.packageRoot.path
    var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("nasc-hostile-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    func path(_ name: String) -> String { dir.appendingPathComponent(name).path }

    func write(_ name: String, _ bytes: Data) throws -> String {
        let p = path(name)
        try FileManager.default.createDirectory(atPath: (p as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try bytes.write(to: URL(fileURLWithPath: p))
        return p
    }

    /// Runs nasc and asserts a clean refusal: status 1-127, every `expected` text in its output.
    @discardableResult
    func refuses(_ arguments: [String], _ expected: [String], environment: [String: String] = [:],
                 file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let r = try MutatedSpecTests.nasc(arguments, timeout: 120, environment: environment)
        let what = "nasc \(arguments.joined(separator: " "))"
        XCTAssertFalse(r.signalled || r.timedOut, "\(what) crashed or hung:\n\(r.output.prefix(2000))", file: file, line: line)
        XCTAssert((1...127).contains(r.status), "\(what) exited \(r.status):\n\(r.output.prefix(2000))", file: file, line: line)
        for text in expected {
            XCTAssert(r.output.contains(text), "\(what): no '\(text)' in\n\(r.output.prefix(2000))", file: file, line: line)
        }
        return r.output
    }

    // MARK: - Tiny datasets in IDX format

    static func idxImages(_ n: Int, _ h: Int, _ w: Int, seed: UInt8 = 0) -> Data {
        var d = Data([0, 0, 8, 3])
        for v in [n, h, w] { d.append(contentsOf: [UInt8(v >> 24 & 255), UInt8(v >> 16 & 255), UInt8(v >> 8 & 255), UInt8(v & 255)]) }
        d.append(contentsOf: (0..<(n * h * w)).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ Int(seed)) })
        return d
    }

    static func idxLabels(_ n: Int) -> Data {
        var d = Data([0, 0, 8, 1, UInt8(n >> 24 & 255), UInt8(n >> 16 & 255), UInt8(n >> 8 & 255), UInt8(n & 255)])
        d.append(contentsOf: (0..<n).map { UInt8($0 % 10) })
        return d
    }

    /// A dataset folder in Fashion-MNIST's layout; `images` replaces the training images.
    func dataset(_ name: String, images: Data? = nil, h: Int = 28, w: Int = 28) throws -> String {
        _ = try write("\(name)/train-images-idx3-ubyte", images ?? Self.idxImages(64, h, w))
        _ = try write("\(name)/train-labels-idx1-ubyte", Self.idxLabels(64))
        _ = try write("\(name)/t10k-images-idx3-ubyte", Self.idxImages(16, h, w, seed: 3))
        _ = try write("\(name)/t10k-labels-idx1-ubyte", Self.idxLabels(16))
        return path(name)
    }

    let model = "\(HostileInputTests.root)/ir-specs/models/small_cnn.nasir"

    // MARK: - Memory

    func testGraphsAndBatchesThatCannotFitAreRefusedBeforeAllocating() throws {
        let big = try write("big.nasir", Data("graph @g(%x: f32[N,46340,46340]) -> (y: f32[N,46340,46340]) {\n  %y = relu %x\n  return %y\n}\n".utf8))
        XCTAssertEqual(try MutatedSpecTests.nasc(["verify", big], timeout: 30).status, 0)
        try refuses(["compile", big], ["memory", "TiB", "--batch", "NASC_MEMORY_LIMIT"])
        try refuses(["run", big], ["memory", "GiB"])
        let data = try dataset("ok")
        try refuses(["train", model, "--data", data, "--validation", "8", "--batch", "100000000"], ["@small_cnn at batch 100000000", "memory"])
        try refuses(["eval", model, "--data", data, "--weights", "\(Self.root)/generated/small_cnn.ckpt", "--batch", "100000000"], ["memory"])
        try refuses(["search", "--data", data, "--validation-images", "8", "--batch", "200000", "--out", path("run")],
                    ["smallest child", "--batch 200000", "memory"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("run")), "a refused search wrote its folder")
        try refuses(["train", model, "--data", data, "--validation", "8", "--epochs", "1"], ["memory", "set by NASC_MEMORY_LIMIT"],
                    environment: ["NASC_MEMORY_LIMIT": "1M"])
    }

    /// --minutes: a budget smaller than one epoch trains one and says so;
    /// with --resume it is refused (the schedule's count is the first run's).
    func testATimeBudgetTrainsWhatFitsAndIsRefusedWithResume() throws {
        let data = try dataset("budget")
        let r = try MutatedSpecTests.nasc(["train", model, "--data", data, "--validation", "8", "--minutes", "0.0001", "--threads", "1"], timeout: 120)
        XCTAssertEqual(r.status, 0, r.output)
        XCTAssertTrue(r.output.contains("so 1 epoch(s) fit; the schedule spans 1 (to resume this run: --epochs 1)"), r.output)
        XCTAssertTrue(r.output.contains("epoch 1/1: train loss"), r.output)
        XCTAssertTrue(r.output.contains("test accuracy"), r.output)
        try refuses(["train", model, "--data", data, "--validation", "8", "--minutes", "5", "--resume", path("none.ckpt")], ["--minutes with --resume", "--epochs"])
        try refuses(["train", model, "--data", data, "--minutes", "0"], ["--minutes"])
    }

    // MARK: - Files

    func testIDXHeadersThatOverflowOrLieAreErrorsNamingTheFile() throws {
        let overflow = Data([0, 0, 8, 3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1])
        let d1 = try dataset("overflow", images: overflow)
        try refuses(["train", model, "--data", d1], ["\(d1)/train-images-idx3-ubyte: error:"])
        let d2 = try dataset("empty", images: Self.idxImages(0, 28, 28))
        try refuses(["train", model, "--data", d2], ["train-images-idx3-ubyte: error: holds no images"])
        let d3 = try dataset("zero", images: Self.idxImages(64, 0, 0))
        try refuses(["train", model, "--data", d3], ["train-images-idx3-ubyte: error:", "0x0"])
        let d4 = try dataset("narrow", h: 7, w: 112)
        try refuses(["train", model, "--data", d4, "--validation", "8"], ["train-images-idx3-ubyte: error:", "7x112", "28x28"])
        try refuses(["eval", model, "--data", d4, "--weights", "\(Self.root)/generated/small_cnn.ckpt"], ["t10k-images-idx3-ubyte: error:", "7x112"])
    }

    /// A small gzip file whose content is far larger than its header says
    /// is refused once the content passes the declared size, not inflated whole.
    func testAGzipBombStopsAtTheSizeItsHeaderDeclares() throws {
        let d = try dataset("bomb")
        var content = Self.idxImages(10, 28, 28)
        content.append(Data(count: 64 << 20))
        let raw = try write("bomb/train-images-idx3-ubyte", content)
        let gzip = Process()
        gzip.executableURL = URL(fileURLWithPath: "/bin/gzip")
        gzip.arguments = ["-f", raw]
        try gzip.run()
        gzip.waitUntilExit()
        XCTAssertEqual(gzip.terminationStatus, 0)
        try refuses(["train", model, "--data", d], ["train-images-idx3-ubyte.gz: error: inflates to more than the 7856 bytes its header declares"])
    }

    // MARK: - Checkpoints

    /// The shipped checkpoint with its JSON header edited and its checksum made valid again.
    func checkpoint(_ name: String, edit: (inout [String: Any], inout Data) -> Void) throws -> String {
        let bytes = try Data(contentsOf: URL(fileURLWithPath: "\(Self.root)/generated/small_cnn.ckpt"))
        let headerLength = Int(bytes[12]) | Int(bytes[13]) << 8 | Int(bytes[14]) << 16 | Int(bytes[15]) << 24
        var header = try JSONSerialization.jsonObject(with: bytes[16..<(16 + headerLength)]) as! [String: Any]
        var body = Data(bytes[(16 + headerLength)..<(bytes.count - 32)])
        edit(&header, &body)
        let json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        var file = Data(bytes[0..<12])
        withUnsafeBytes(of: UInt32(json.count).littleEndian) { file.append(contentsOf: $0) }
        file.append(json)
        file.append(body)
        var sha = SHA256()
        sha.update([UInt8](file))
        file.append(contentsOf: sha.finalize())
        return try write(name, file)
    }

    func testCheckpointsWithImpossibleShapesOrForAnotherGraphAreRefused() throws {
        let huge = try checkpoint("huge.ckpt") { header, _ in
            var tensors = header["tensors"] as! [[String: Any]]
            tensors[0]["shape"] = [1 << 62, 4]
            header["tensors"] = tensors
        }
        let data = try dataset("ok")
        try refuses(["eval", model, "--data", data, "--weights", huge], ["huge.ckpt: error:", "shape"])
        try refuses(["train", model, "--data", data, "--validation", "8", "--resume", huge], ["huge.ckpt: error:"])
        try refuses(["emit-c", model, "--weights", huge, "--out", path("c")], ["huge.ckpt: error:"])

        // Max pool swapped for average pool: every shape matches, the graph does not.
        let text = try String(contentsOfFile: model, encoding: .utf8).replacingOccurrences(of: "max_pool", with: "avg_pool")
        let other = try write("avg.nasir", Data(text.utf8))
        try refuses(["eval", other, "--data", data, "--weights", "\(Self.root)/generated/small_cnn.ckpt"],
                    ["small_cnn.ckpt: error:", "--allow-other-graph"])
        try refuses(["emit-c", other, "--weights", "\(Self.root)/generated/small_cnn.ckpt", "--out", path("c")], ["--allow-other-graph"])
        let allowed = try MutatedSpecTests.nasc(["eval", other, "--data", data, "--weights", "\(Self.root)/generated/small_cnn.ckpt", "--allow-other-graph"], timeout: 120)
        XCTAssertEqual(allowed.status, 0, allowed.output)
    }

    func testEmitCRefusesNonFiniteWeights() throws {
        for (name, value) in [("nan", Float.nan), ("inf", Float.infinity)] {
            let bad = try checkpoint("\(name).ckpt") { header, body in
                let w1 = (header["tensors"] as! [[String: Any]]).first { $0["name"] as? String == "w1" }!
                let at = w1["offset"] as! Int + 4 * 5
                withUnsafeBytes(of: value.bitPattern.littleEndian) { body.replaceSubrange(at..<(at + 4), with: $0) }
            }
            try refuses(["emit-c", model, "--weights", bad, "--out", path("c-\(name)")], ["'%w1' holds", "element 5", "finite"])
            XCTAssertFalse(FileManager.default.fileExists(atPath: path("c-\(name)/small_cnn.c")), "C written for \(name) weights")
        }
    }

    // MARK: - Flags

    func testNumericFlagsAreValidatedWithTheirRange() throws {
        let data = try dataset("ok")
        let cases: [([String], [String])] = [
            (["train", model, "--limit=-1"], ["--limit", "at least 1", "-1"]),
            (["train", model, "--limit", "0"], ["--limit", "at least 1"]),
            (["train", model, "--epochs", "0"], ["--epochs", "from 1 to"]),
            (["train", model, "--lr", "nan"], ["--lr", "finite", "nan"]),
            (["train", model, "--momentum", "1"], ["--momentum", "less than 1"]),
            (["train", model, "--threads", "0"], ["--threads", "from 1 to 256"]),
            (["eval", model, "--weights", "x.ckpt", "--batch", "0"], ["--batch", "at least 1"]),
            (["search", "--threads", "0"], ["--threads", "from 1 to 256"]),
            (["search", "--threads=-1"], ["--threads", "-1"]),
            (["search", "--lr", "nan"], ["--lr", "finite"]),
            (["search", "--controller-lr", "inf"], ["--controller-lr", "finite"]),
            (["search", "--children", "0"], ["--children"]),
            (["search", "--layers", "25"], ["--layers", "from 1 to 24"]),
            (["search", "--objectives", "accuracy,speed"], ["--objectives", "unknown objective 'speed'", "latency"]),
            (["search", "--objectives", "latency"], ["--objectives", "include accuracy"]),
            (["search", "--strategy", "nsga2"], ["--strategy nsga2", "--objectives accuracy,latency"]),
            (["search", "--target-latency-ms", "1", "--target-mflops", "2"], ["--target-mflops and --target-latency-ms"]),
            (["search", "--target-latency-ms", "nan"], ["--target-latency-ms", "finite"]),
            (["search", "--filters", "8,x"], ["--filters", "'8,x'"]),
            (["search", "--filters", "8"], ["--filters", "2 to 16"]),
            (["search", "--space", "cells", "--filters", "8,16"], ["--filters shapes the cnn space"]),
            (["search", "--space", "rnn-cell", "--objectives", "accuracy,latency"], ["rnn-cell has one objective"]),
            (["latency", model, "--target", "gpu"], ["--target", "gpu"]),
            (["retrain", "x", "--batch", "-5"], ["--batch"]),
            (["retrain", "x", "--width", "0"], ["--width"]),
            (["train", model, "--label-smoothing", "1"], ["--label-smoothing"]),
            (["train", model, "--crop-padding", "-1"], ["--crop-padding"]),
            (["bench", "--steps", "0"], ["--steps"]),
            (["gradcheck", model, "--step", "inf"], ["--step", "finite"]),
            (["run", model, "--steps", "0"], ["--steps"]),
            (["compile", model, "--batch", "0"], ["--batch"]),
            (["dump-ir", model, "--batch", "-1"], ["--batch"]),
            (["train", model, "--data", data, "--validation", "1000000"], ["--validation 1000000", "has 64", "at most 63"]),
            (["search", "--data", data, "--validation-images", "64"], ["--validation-images 64", "at most 63"]),
        ]
        for (arguments, expected) in cases { try refuses(arguments, expected) }
    }

    // MARK: - Run folders

    func testRunFoldersThatAreNotSearchesAreErrorsNamingTheFile() throws {
        let data = try dataset("ok")
        var garbage = Data("this is no database".utf8)
        garbage.append(Data(count: 4096))
        _ = try write("run/trials.db", garbage)
        try refuses(["retrain", path("run"), "--data", data], ["not a search run folder"])
        _ = try write("run/search.json", Data(#"{"layers": 4}"#.utf8))
        try refuses(["retrain", path("run"), "--data", data], ["run/trials.db: error:", "not a database"])
        try refuses(["search", "--data", data, "--validation-images", "8", "--out", path("run")], ["run/trials.db: error:"])
        let file = try write("plain", Data("x".utf8))
        try refuses(["search", "--data", data, "--validation-images", "8", "--out", file], ["--out names a file"])
    }

    /// A search killed with SIGKILL leaves no lock behind; a live one makes
    /// a second search on its folder refuse, naming its pid.
    func testTheRunFolderLockDiesWithItsSearch() throws {
        let data = try dataset("ok")
        let run = path("locked")
        let first = Process()
        first.executableURL = IRSpecTests.nascDirectory.appendingPathComponent("nasc")
        first.arguments = ["search", "--data", data, "--validation-images", "8", "--children", "1000", "--out", run]
        first.standardOutput = FileHandle.nullDevice
        first.standardError = FileHandle.nullDevice
        try first.run()
        defer { if first.isRunning { kill(first.processIdentifier, SIGKILL) } }
        let deadline = Date().addingTimeInterval(60)
        while !((try? String(contentsOfFile: run + "/search.lock", encoding: .utf8))?.contains("pid") ?? false) && Date() < deadline {
            usleep(50_000)
        }
        try refuses(["search", "--data", data, "--validation-images", "8", "--children", "1", "--out", run],
                    ["another nasc search is running on this folder (pid \(first.processIdentifier)"])
        kill(first.processIdentifier, SIGKILL)
        first.waitUntilExit()
        let again = try MutatedSpecTests.nasc(["search", "--data", data, "--validation-images", "8", "--children", "1", "--out", run], timeout: 120)
        XCTAssertEqual(again.status, 0, again.output)
    }

    // MARK: - Valid specs

    /// The three valid specs that once failed to compile: the pipeline needs
    /// to take them as written, or say why it cannot.
    func testSpecsThatOnceFailedToCompileNowRunAStep() throws {
        for spec in ["autodiff/pools_and_padding", "parse/derived_ops", "parse/weighted_loss_grad"] {
            let r = try MutatedSpecTests.nasc(["compile", "\(Self.root)/ir-specs/\(spec).nasir", "--batch", "2", "--steps", "1"], timeout: 120)
            XCTAssertEqual(r.status, 0, "\(spec):\n\(r.output)")
        }
        try refuses(["compile", "\(Self.root)/ir-specs/parse/weighted_loss_grad.nasir", "--after", "train"],
                    ["autodiff adds output 'grad.w', which @weighted_loss already has", "--after verify"])
    }
}
