import Foundation
import XCTest

/// The fuzz targets themselves (Sources/NascFuzz) on their seeds, through the
/// replaying build of `nasc-fuzz`: every seed returns, so `make fuzz` starts
/// from inputs that pass, and the harness code is exercised on every test run.
final class FuzzTargetTests: XCTestCase {
    func run(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let p = Process()
        p.executableURL = IRSpecTests.nascDirectory.appendingPathComponent("nasc-fuzz")
        p.arguments = arguments
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    func testEveryTargetReturnsOnItsSeeds() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nasc-fuzz-seeds-\(UUID())")
        defer { try? FileManager.default.removeItem(at: dir) }
        XCTAssertEqual(try run(["seeds", dir.path]).status, 0)
        for target in ["idx", "cifar", "ptb", "checkpoint"] {
            let files = try FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent(target).path)
            XCTAssertFalse(files.isEmpty, "no seeds for \(target)")
            let r = try run([target] + files.map { dir.appendingPathComponent(target).appendingPathComponent($0).path })
            XCTAssertEqual(r.status, 0, "\(target): \(r.output)")
        }
        let specs = IRSpecTests.irFiles().map { IRSpecTests.packageRoot.appendingPathComponent($0).path }
        for target in ["ir", "compile"] {
            let r = try run([target] + specs)
            XCTAssertEqual(r.status, 0, "\(target): \(r.output)")
            XCTAssertEqual(r.output.components(separatedBy: ": ok").count - 1, specs.count, r.output)
        }
        XCTAssertEqual(try run(["no-such-target", "x"]).status, 2)
    }
}
