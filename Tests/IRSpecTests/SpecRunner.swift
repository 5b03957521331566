import Foundation

/// Runs specs through the built `nasc` binary and reports what went wrong in
/// words a reviewer can act on.
struct SpecRunner {
    let nascDirectory: URL
    let packageRoot: URL

    struct Outcome {
        var output: String
        var status: Int32
        var crashed: Bool
    }

    /// Runs one shell command line from a RUN directive.
    func shell(_ command: String, specPath: String) throws -> Outcome {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        let line = command.replacingOccurrences(of: "%s", with: shellQuote(specPath))
        process.arguments = ["-c", "set -o pipefail; { \(line) ; } 2>&1"]
        var env = ProcessInfo.processInfo.environment
        env["PATH"] = nascDirectory.path + ":" + (env["PATH"] ?? "/usr/bin:/bin")
        process.environment = env
        process.currentDirectoryURL = packageRoot
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let crashed = process.terminationReason == .uncaughtSignal || process.terminationStatus >= 128
        return Outcome(output: String(decoding: data, as: UTF8.self), status: process.terminationStatus, crashed: crashed)
    }

    /// Runs a spec; returns a list of problems (empty when it passes).
    func run(_ spec: Spec) -> [String] {
        guard !spec.runs.isEmpty else { return ["no RUN: line"] }
        if spec.fileCheck.isEmpty && spec.expectedErrors.isEmpty {
            return ["no CHECK or expected-error lines: the spec would check nothing"]
        }
        var output = ""
        for run in spec.runs {
            let outcome: Outcome
            do {
                outcome = try shell(run.command, specPath: spec.path)
            } catch {
                return ["RUN at line \(run.line) could not start: \(error)"]
            }
            output += outcome.output
            if outcome.crashed {
                return ["RUN at line \(run.line) crashed (status \(outcome.status)): \(run.command)\n\(outcome.output)"]
            }
            if run.expectFailure && outcome.status == 0 {
                return ["RUN at line \(run.line) succeeded but 'not' expects it to fail: \(run.command)\n\(outcome.output)"]
            }
            if !run.expectFailure && outcome.status != 0 {
                return ["RUN at line \(run.line) failed with status \(outcome.status): \(run.command)\n\(outcome.output)"]
            }
        }
        var problems: [String] = []
        do {
            try spec.fileCheck.check(output)
        } catch {
            problems.append("\(error)")
        }
        problems += checkDiagnostics(spec, output)
        return problems
    }

    /// Matches `file:line:col: error: message` lines against expected-error directives, both ways.
    private func checkDiagnostics(_ spec: Spec, _ output: String) -> [String] {
        guard !spec.expectedErrors.isEmpty else { return [] }
        let regex = try! NSRegularExpression(pattern: #"^(.*?):(\d+):(\d+): error: (.*)$"#)
        var actual: [(line: Int, col: Int, message: String)] = []
        for text in output.split(separator: "\n").map(String.init) {
            let range = NSRange(text.startIndex..., in: text)
            guard let m = regex.firstMatch(in: text, range: range) else { continue }
            func group(_ i: Int) -> String { String(text[Range(m.range(at: i), in: text)!]) }
            guard group(1).hasSuffix(URL(fileURLWithPath: spec.path).lastPathComponent) else { continue }
            actual.append((Int(group(2))!, Int(group(3))!, group(4)))
        }
        var problems: [String] = []
        var unmatched = actual
        for e in spec.expectedErrors {
            if let i = unmatched.firstIndex(where: {
                $0.line == e.line && (e.column == nil || $0.col == e.column) && $0.message.contains(e.message)
            }) {
                unmatched.remove(at: i)
            } else {
                let at = e.column.map { "line \(e.line), column \($0)" } ?? "line \(e.line)"
                problems.append("expected-error at spec line \(e.specLine): no error at \(at) containing '\(e.message)'")
            }
        }
        for u in unmatched {
            problems.append("unexpected error at line \(u.line), column \(u.col): \(u.message)")
        }
        if !problems.isEmpty { problems.append("the command printed:\n" + output) }
        return problems
    }

    private func shellQuote(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'" }
}

/// A plain line diff (longest common subsequence), for round-trip failures.
enum LineDiff {
    static func unified(expected: String, actual: String) -> String {
        let a = expected.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let b = actual.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        var lcs = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
        for i in stride(from: a.count - 1, through: 0, by: -1) {
            for j in stride(from: b.count - 1, through: 0, by: -1) {
                lcs[i][j] = a[i] == b[j] ? lcs[i + 1][j + 1] + 1 : max(lcs[i + 1][j], lcs[i][j + 1])
            }
        }
        var out: [String] = ["--- spec (expected)", "+++ nasc dump-ir (actual)"]
        var (i, j) = (0, 0)
        while i < a.count || j < b.count {
            if i < a.count, j < b.count, a[i] == b[j] {
                i += 1; j += 1
            } else if j < b.count, i == a.count || lcs[i][j + 1] >= lcs[i + 1][j] {
                out.append("+" + b[j] + "    (output line \(j + 1))"); j += 1
            } else {
                out.append("-" + a[i]); i += 1
            }
        }
        return out.joined(separator: "\n")
    }
}
