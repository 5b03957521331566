import Foundation
import XCTest

/// The README's five-minute tour, command by command, on a tiny dataset:
/// what a new user runs first must work on a fresh clone.
final class TourTests: XCTestCase {
    func testTheReadmeTourRuns() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nasc-tour-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let data = dir.appendingPathComponent("data").path
        try WorkerTests.writeQuadrants(to: dir.appendingPathComponent("data"))
        let tour = dir.appendingPathComponent("tour").path
        let child = IRSpecTests.packageRoot.appendingPathComponent("ir-specs/models/nasrl_child.nasir").path
        let small = ["--data", data, "--batch", "16", "--threads", "1"]
        let steps: [([String], String)] = [
            (["verify", child], "ok (31 ops, 11 parameters"),
            (["dump-ir", child, "--stats"], "fuse "),
            (["search", "--children", "4", "--layers", "1", "--train-images", "96", "--validation-images", "64", "--out", tour] + small,
             "best child: \(tour)/best.nasir"),
            (["status", tour], "4 of 4 children done"),
            (["report", tour, "--out", "\(tour)/report.html"], "report: \(tour)/report.html"),
            (["retrain", tour, "--epochs", "2", "--validation", "64", "--save", "\(tour)/best.ckpt"] + small, "test accuracy"),
            (["emit-c", "\(tour)/best.nasir", "--weights", "\(tour)/best.ckpt", "--out", "\(tour)/c"], ""),
            (["export-onnx", "\(tour)/best.nasir", "--weights", "\(tour)/best.ckpt", "--out", "\(tour)/best.onnx"], ""),
        ]
        for (arguments, expected) in steps {
            let r = try MutatedSpecTests.nasc(arguments, timeout: 300)
            XCTAssertEqual(r.status, 0, "nasc \(arguments.joined(separator: " ")):\n\(r.output)")
            XCTAssertTrue(expected.isEmpty || r.output.contains(expected), "nasc \(arguments[0]): no '\(expected)' in\n\(r.output)")
        }
        for file in ["report.html", "best.ckpt", "c/best.c", "c/best.h", "best.onnx"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: "\(tour)/\(file)"), "the tour writes \(file)")
        }
    }
}
