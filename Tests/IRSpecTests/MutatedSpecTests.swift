import Foundation
import NascIR
import XCTest

/// Property: any graph that verifies survives the whole pipeline. Every valid
/// spec is mutated at random, in ways that keep it plausible (another op of
/// the same family, other strides, windows, pads, dims, constants, result
/// types left to inference); each mutant that still verifies goes through
/// autodiff, fuse, plan, JIT compilation and one training step at batch 1
/// (`nasc compile --batch 1 --steps 1`), in its own process, and must either
/// succeed or fail with status 1-127 and a message: never a signal, never a
/// hang. Seeded; a failure names the seed and case, and writes the mutant.
///
/// More cases: NASC_PROPERTY_CASES=2000 NASC_PROPERTY_SEED=7 swift test --filter MutatedSpec
final class MutatedSpecTests: XCTestCase {
    static let families: [[String]] = [
        ["relu", "tanh", "sigmoid", "identity", "neg", "sqrt", "leaky_relu", "silu"],
        ["add", "sub", "mul", "div"],
        ["max_pool", "avg_pool"],
        ["softmax_cross_entropy", "reduce_sum"],
    ]
    static let sources: Set<String> = ["param", "state", "const"]

    typealias Rng = SeededGenerator

    /// The body line's op name, or nil for lines that define nothing.
    static func op(of line: String) -> String? {
        guard let eq = line.range(of: " = "), line.trimmingCharacters(in: .whitespaces).hasPrefix("%") else { return nil }
        return line[eq.upperBound...].split(separator: " ").first.map(String.init)
    }

    /// Result types of computed values left out, to be inferred, so that
    /// shape changes propagate.
    static func stripResultTypes(_ text: String) -> String {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        for i in lines.indices {
            if let op = op(of: lines[i]), !sources.contains(op), let colon = lines[i].range(of: " : ", options: .backwards) {
                lines[i] = String(lines[i][..<colon.lowerBound])
            }
        }
        return lines.joined(separator: "\n")
    }

    static func mutate(_ text: String, _ rng: inout Rng) -> String {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let body = lines.indices.filter { op(of: lines[$0]) != nil }
        guard !body.isEmpty else { return text }
        for _ in 0..<(1 + rng.int(4)) {
            let i = rng.pick(body)
            var line = lines[i]
            switch rng.int(7) {
            case 0:  // another op of the same family
                if let op = op(of: line), let family = families.first(where: { $0.contains(op) }) {
                    line = line.replacingOccurrences(of: " \(op) ", with: " \(rng.pick(family)) ")
                }
            case 1:  // an integer inside an attribute block or a type
                let digits = line.indices.filter { line[$0].isNumber && (line.index(after: $0) == line.endIndex || !line[line.index(after: $0)].isNumber) }
                if let at = digits.isEmpty ? nil : rng.pick(digits) {
                    line.replaceSubrange(at...at, with: String(rng.pick([0, 1, 2, 3, 5, 7])))
                }
            case 2:
                line = line.replacingOccurrences(of: rng.int(2) == 0 ? "same" : "valid", with: rng.int(2) == 0 ? "valid" : "same")
            case 3:
                line = line.replacingOccurrences(of: "mode = train", with: "mode = infer")
            case 4:  // another constant
                if op(of: line) == "const", let v = line.range(of: "value = ") {
                    let end = line[v.upperBound...].firstIndex(of: "}") ?? line.endIndex
                    line.replaceSubrange(v.upperBound..<end, with: rng.pick(["0.0", "-1.0", "1e-30", "1e30", "3.0"]))
                }
            case 5:  // an operand replaced by another value defined earlier
                let earlier = body.filter { $0 < i }.compactMap { lines[$0].trimmingCharacters(in: .whitespaces).split(separator: " ").first }
                if let other = earlier.isEmpty ? nil : rng.pick(earlier), let percent = line.range(of: " %", options: .backwards) {
                    let end = line[percent.upperBound...].firstIndex(where: { $0 == "," || $0 == " " }) ?? line.endIndex
                    line.replaceSubrange(line.index(before: percent.upperBound)..<end, with: String(other))
                }
            default:  // a stride or window of 1-3 on both axes
                for key in ["stride = [", "window = ["] where rng.int(2) == 0 {
                    if let r = line.range(of: key), let close = line[r.upperBound...].firstIndex(of: "]") {
                        let (a, b) = (1 + rng.int(3), 1 + rng.int(3))
                        line.replaceSubrange(r.upperBound..<close, with: "\(a), \(b)")
                    }
                }
            }
            lines[i] = line
        }
        return lines.joined(separator: "\n")
    }

    struct Outcome { var status: Int32; var signalled: Bool; var timedOut: Bool; var output: String }

    /// Runs the built nasc directly (no shell), killing it after `timeout` seconds.
    static func nasc(_ arguments: [String], timeout: Double, environment: [String: String] = [:]) throws -> Outcome {
        try run(IRSpecTests.nascDirectory.appendingPathComponent("nasc"), arguments, timeout: timeout, environment: environment)
    }

    /// Runs a program (no shell), stopping it after `timeout` seconds:
    /// SIGTERM (which the long commands take as "stop at the next safe
    /// point"), then SIGKILL ten seconds later.
    static func run(_ executable: URL, _ arguments: [String], timeout: Double, environment: [String: String] = [:]) throws -> Outcome {
        let p = Process()
        p.executableURL = executable
        p.arguments = arguments
        p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        p.standardInput = FileHandle.nullDevice
        try p.run()
        var timedOut = false
        let timer = DispatchWorkItem { if p.isRunning { timedOut = true; p.terminate() } }
        let killer = DispatchWorkItem { if p.isRunning { kill(p.processIdentifier, SIGKILL) } }
        DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: timer)
        DispatchQueue.global().asyncAfter(deadline: .now() + timeout + 10, execute: killer)
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        timer.cancel()
        killer.cancel()
        return Outcome(status: p.terminationStatus, signalled: p.terminationReason == .uncaughtSignal,
                       timedOut: timedOut, output: String(decoding: data, as: UTF8.self))
    }

    func testMutatedSpecsCompileAndRunOrFailCleanly() throws {
        let env = ProcessInfo.processInfo.environment
        let wanted = Int(env["NASC_PROPERTY_CASES"] ?? "") ?? 80
        let seed = UInt64(env["NASC_PROPERTY_SEED"] ?? "") ?? 1
        let bases = try IRSpecTests.irFiles().compactMap { path -> (String, String)? in
            let spec = try Spec(path: path)
            return spec.isNegative ? nil : (path, spec.irText)
        }
        XCTAssertFalse(bases.isEmpty)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nasc-mutants-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var rng = Rng(seed: seed)
        var (verified, succeeded, refused, attempts) = (0, 0, 0, 0)
        var failures: [String] = []
        while verified < wanted && attempts < wanted * 30 {
            attempts += 1
            let (path, text) = rng.pick(bases)
            let stripped = Self.stripResultTypes(text)
            let mutant = Self.mutate(stripped, &rng)
            guard mutant != stripped else { continue }
            let file = dir.appendingPathComponent("case\(attempts).nasir")
            try mutant.write(to: file, atomically: true, encoding: .utf8)
            guard try Self.nasc(["verify", file.path], timeout: 30).status == 0 else { continue }
            verified += 1
            let r = try Self.nasc(["compile", file.path, "--batch", "1", "--steps", "1"], timeout: 120,
                                  environment: ["NASC_MEMORY_LIMIT": "2G"])
            if r.signalled || r.timedOut || r.status >= 128 || (r.status != 0 && !r.output.contains("error")) {
                let kept = FileManager.default.temporaryDirectory.appendingPathComponent("nasc-mutant-seed\(seed)-case\(attempts).nasir")
                try? mutant.write(to: kept, atomically: true, encoding: .utf8)
                failures.append("seed \(seed) case \(attempts) (from \(path), kept at \(kept.path)): "
                                + "\(r.timedOut ? "timed out" : r.signalled ? "signal \(r.status)" : "status \(r.status)")\n\(r.output.suffix(1500))")
            } else if r.status == 0 {
                succeeded += 1
            } else {
                refused += 1
            }
        }
        print("mutated specs: \(attempts) mutants, \(verified) verified: \(succeeded) compiled and ran a step, \(refused) refused with a message, \(failures.count) crashed or hung")
        XCTAssertGreaterThanOrEqual(verified, wanted / 2, "too few mutants verified to test anything")
        XCTAssert(failures.isEmpty, failures.joined(separator: "\n\n"))
    }
}

extension SeededGenerator {
    mutating func int(_ n: Int) -> Int { index(max(n, 1)) }
    mutating func pick<T>(_ xs: [T]) -> T { xs[index(xs.count)] }
}
