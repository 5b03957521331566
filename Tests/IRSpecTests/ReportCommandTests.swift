import Foundation
import XCTest

/// `nasc report` and `nasc dot` through the binary: what they write, and
/// the errors for what is not a run or a graph.
final class ReportCommandTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("nasc-report-cli-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    func testReportRefusesWhatIsNotASearch() throws {
        let empty = dir.appendingPathComponent("empty").path
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        let r = try MutatedSpecTests.nasc(["report", empty, "--out", dir.appendingPathComponent("r.html").path], timeout: 60)
        XCTAssertEqual(r.status, 1, r.output)
        XCTAssertTrue(r.output.contains("\(empty): error: not a search run folder"), r.output)
        let missing = try MutatedSpecTests.nasc(["report", "/nonexistent/run"], timeout: 60)
        XCTAssertEqual(missing.status, 1, missing.output)
        XCTAssertTrue(missing.output.contains("/nonexistent/run: error"), missing.output)
    }

    /// A cell search's folder (cells and perplexities) is named as such by
    /// the commands that read CNN searches, never misread or crashed on;
    /// `nasc status` shows its best cell's perplexity.
    func testCNNCommandsNameACellSearch() throws {
        let data = dir.appendingPathComponent("ptb").path
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        let words = (0..<40).map { "w\($0 % 13)" }
        let line = " " + words.joined(separator: " ") + " \n"
        for split in ["train", "valid", "test"] {
            try String(repeating: line, count: 30).write(toFile: "\(data)/ptb.\(split).txt", atomically: true, encoding: .utf8)
        }
        let run = dir.appendingPathComponent("cells").path
        let short = try MutatedSpecTests.nasc(["search-cells", "--children", "2", "--train-words", "100", "--data", data, "--out", run], timeout: 60)
        XCTAssertEqual(short.status, 1, short.output)
        XCTAssertTrue(short.output.contains("the proxy's training text has 100 words, too few for one batch of 20 rows of 36 words (720): raise --train-words"), short.output)
        let search = try MutatedSpecTests.nasc(["search-cells", "--children", "2", "--base", "2", "--hidden", "4", "--final-hidden", "4",
                                                 "--train-words", "1000", "--validation-words", "1000", "--data", data, "--out", run], timeout: 300)
        XCTAssertEqual(search.status, 0, search.output)
        XCTAssertTrue(FileManager.default.fileExists(atPath: run + "/best.nasir"), search.output)
        // `search --space rnn-cell` is the same search: it continues the run.
        let more = try MutatedSpecTests.nasc(["search", "--space", "rnn-cell", "--children", "3", "--base", "2", "--hidden", "4", "--final-hidden", "4",
                                               "--train-words", "1000", "--validation-words", "1000", "--text", data, "--out", run], timeout: 300)
        XCTAssertEqual(more.status, 0, more.output)
        XCTAssertTrue(more.output.contains("resuming: 2 cells already trained") && more.output.contains("cell 3/3"), more.output)
        let status = try MutatedSpecTests.nasc(["status", run], timeout: 60)
        XCTAssertEqual(status.status, 0, status.output)
        XCTAssertTrue(status.output.contains("validation perplexity"), status.output)
        for command in [["report", run, "--out", dir.appendingPathComponent("r.html").path], ["retrain", run], ["worker", run]] {
            let r = try MutatedSpecTests.nasc(command, timeout: 60)
            XCTAssertEqual(r.status, 1, "\(command[0]): \(r.output)")
            XCTAssertTrue(r.output.contains("\(run): error: a recurrent cell search (nasc search --space rnn-cell): `nasc \(command[0])` reads image searches"), r.output)
        }
    }

    func testDotWritesGraphvizAndRefusesBadInput() throws {
        let model = IRSpecTests.packageRoot.appendingPathComponent("ir-specs/models/reference_cnn.nasir").path
        let text = try MutatedSpecTests.nasc(["dot", model, "--after", "plan", "--batch", "4"], timeout: 120)
        XCTAssertEqual(text.status, 0, text.output)
        XCTAssertTrue(text.output.hasPrefix("digraph \"@reference_cnn\"") && text.output.contains("subgraph cluster_"), String(text.output.prefix(300)))
        if FileManager.default.isExecutableFile(atPath: "/usr/bin/dot") {
            let out = dir.appendingPathComponent("cnn.svg").path
            let svg = try MutatedSpecTests.nasc(["dot", model, "--after", "fuse", "--svg", "--out", out], timeout: 120)
            XCTAssertEqual(svg.status, 0, svg.output)
            XCTAssertTrue(try String(contentsOfFile: out, encoding: .utf8).contains("<svg"))
        }
        let bad = dir.appendingPathComponent("bad.nasir").path
        try "graph @g(%x: f32[N,4]) -> (y: f32[N,4]) {\n  %y = relu %z : f32[N,4]\n  return %y\n}\n".write(toFile: bad, atomically: true, encoding: .utf8)
        let refused = try MutatedSpecTests.nasc(["dot", bad], timeout: 60)
        XCTAssertEqual(refused.status, 1, refused.output)
        XCTAssertTrue(refused.output.contains("bad.nasir:2:"), refused.output)
    }
}
