import Foundation
import XCTest

/// Runs every spec under ir-specs/ through the built `nasc`, and checks that
/// every valid IR file there round-trips through `nasc dump-ir` byte for byte.
///
/// One spec: NASC_SPEC=ir-specs/verify/cycle.nasir swift test --filter IRSpecTests
final class IRSpecTests: XCTestCase {
    static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The directory holding the `nasc` built alongside this test bundle.
    static var nascDirectory: URL {
        if let bin = ProcessInfo.processInfo.environment["NASC_BIN"] {
            return URL(fileURLWithPath: bin).deletingLastPathComponent()
        }
        return Bundle.main.bundleURL
    }

    var runner: SpecRunner { SpecRunner(nascDirectory: Self.nascDirectory, packageRoot: Self.packageRoot) }

    /// Every .nasir file under ir-specs/, sorted, as paths relative to the package root.
    static func irFiles() -> [String] {
        if let one = ProcessInfo.processInfo.environment["NASC_SPEC"] { return [one] }
        let root = packageRoot.appendingPathComponent("ir-specs")
        let walker = FileManager.default.enumerator(atPath: root.path)
        var files: [String] = []
        while let path = walker?.nextObject() as? String {
            if path.hasSuffix(".nasir") { files.append("ir-specs/" + path) }
        }
        return files.sorted()
    }

    func testNascIsBuilt() {
        let nasc = Self.nascDirectory.appendingPathComponent("nasc").path
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: nasc), "no nasc binary at \(nasc)")
    }

    func testSpecs() throws {
        var failures: [String] = []
        var ran = 0
        for path in Self.irFiles() {
            let spec = try Spec(path: path)
            if spec.runs.isEmpty && path.hasPrefix("ir-specs/models/") { continue }
            ran += 1
            let problems = runner.run(spec)
            if !problems.isEmpty {
                failures.append("FAIL \(path)\n  " + problems.joined(separator: "\n").replacingOccurrences(of: "\n", with: "\n  "))
            }
        }
        print("ir-specs: \(ran - failures.count) of \(ran) specs passed")
        XCTAssertGreaterThan(ran, 0, "no specs found under ir-specs/")
        XCTAssert(failures.isEmpty, "\(failures.count) spec(s) failed:\n" + failures.joined(separator: "\n\n"))
    }

    /// Every valid IR file prints back as itself (minus its comment lines);
    /// files marked `ROUNDTRIP: non-canonical` must reach a fixed point instead.
    func testValidSpecsRoundTripByteForByte() throws {
        var failures: [String] = []
        var checked = 0
        for path in Self.irFiles() {
            let spec = try Spec(path: path)
            guard !spec.isNegative else { continue }
            let first = try runner.shell("nasc dump-ir %s", specPath: path)
            guard first.status == 0 else {
                failures.append("FAIL \(path): nasc dump-ir failed\n\(first.output)")
                continue
            }
            checked += 1
            if spec.canonical {
                if first.output != spec.irText {
                    failures.append("FAIL \(path): dump-ir output differs from the file\n"
                                    + LineDiff.unified(expected: spec.irText, actual: first.output))
                }
            } else {
                let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("nasc-roundtrip-\(UUID()).nasir")
                try first.output.write(to: tmp, atomically: true, encoding: .utf8)
                defer { try? FileManager.default.removeItem(at: tmp) }
                let second = try runner.shell("nasc dump-ir %s", specPath: tmp.path)
                if second.output != first.output {
                    failures.append("FAIL \(path): printing the canonical form again changes it\n"
                                    + LineDiff.unified(expected: first.output, actual: second.output))
                }
            }
        }
        print("round trip: \(checked - failures.count) of \(checked) valid IR files print back unchanged")
        XCTAssertGreaterThan(checked, 0)
        XCTAssert(failures.isEmpty, failures.joined(separator: "\n\n"))
    }

    /// A spec that verifies must compile: `nasc compile` either succeeds or
    /// refuses with a message and status 1, never a crash, never an internal error.
    func testEveryValidSpecCompiles() throws {
        var failures: [String] = []
        var compiled = 0
        for path in Self.irFiles() {
            let spec = try Spec(path: path)
            guard !spec.isNegative else { continue }
            let outcome = try runner.shell("nasc compile %s --batch 2", specPath: path)
            if outcome.status == 0 {
                compiled += 1
            } else {
                failures.append("FAIL \(path): nasc compile exited \(outcome.status)\n\(outcome.output)")
            }
        }
        print("compile: \(compiled) of \(compiled + failures.count) valid specs compile")
        XCTAssertGreaterThan(compiled, 0)
        XCTAssert(failures.isEmpty, failures.joined(separator: "\n\n"))
    }

    /// The runner itself must fail bad specs: wrong expectations, missing
    /// errors, crashes, and specs that check nothing.
    func testRunnerRejectsBrokenSpecs() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nasc-spec-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let graph = "graph @g(%x: f32[N,4]) -> (y: f32[N,4]) {\n  %y = relu %q\n  return %y\n}\n"
        let cases: [(String, String, String)] = [
            ("wrong_message", "// RUN: not nasc verify %s\n// expected-error@+2 {{something else}}\n" + graph, "no error at line 4"),
            ("wrong_line", "// RUN: not nasc verify %s\n// expected-error@+1 {{undefined value}}\n" + graph, "unexpected error"),
            ("should_fail", "// RUN: nasc verify %s\n// CHECK: ok\n" + graph, "failed with status 1"),
            ("crash", "// RUN: not bash -c 'kill -SEGV $$'\n// CHECK: x\n", "crashed"),
            ("checks_nothing", "// RUN: nasc verify %s\n" + graph, "would check nothing"),
            ("no_run", "// CHECK: x\n" + graph, "no RUN"),
        ]
        for (name, text, expected) in cases {
            let path = dir.appendingPathComponent(name + ".nasir").path
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            let problems = runner.run(try Spec(path: path)).joined(separator: "\n")
            XCTAssertTrue(problems.contains(expected), "\(name): \(problems)")
        }
    }
}
