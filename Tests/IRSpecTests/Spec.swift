import Foundation

/// One file under ir-specs/: IR (or any text) plus directives in `//` comments.
///
///   // RUN: nasc dump-ir %s                  a command whose output is checked
///   // RUN: not nasc verify %s               a command that must fail cleanly (exit 1-127, no crash)
///   // CHECK: ...                            see FileCheck.swift
///   // expected-error {{message part}}       a diagnostic on this line
///   // expected-error@+1 {{message part}}    ... on the next line (@-N: N lines up)
///   // expected-error@+1:19 {{message part}} ... at column 19
///   // ROUNDTRIP: non-canonical              this valid file is not in canonical form
///
/// `%s` is the spec's path. Commands run in bash with `nasc` on PATH and
/// `set -o pipefail`; standard error is merged into the checked output.
struct Spec {
    struct RunLine {
        var command: String
        var expectFailure: Bool
        var line: Int
    }

    struct ExpectedError {
        var line: Int
        var column: Int?
        var message: String
        var specLine: Int
    }

    let path: String
    let text: String
    let runs: [RunLine]
    let expectedErrors: [ExpectedError]
    let fileCheck: FileCheck
    let canonical: Bool

    var isNegative: Bool { runs.contains { $0.expectFailure } }

    init(path: String) throws {
        self.path = path
        text = try String(contentsOfFile: path, encoding: .utf8)
        var runs: [RunLine] = []
        var expected: [ExpectedError] = []
        var canonical = true
        for (i, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            guard let comment = line.range(of: "//") else { continue }
            let body = line[comment.upperBound...].trimmingCharacters(in: .whitespaces)
            if body.hasPrefix("RUN:") {
                var command = body.dropFirst(4).trimmingCharacters(in: .whitespaces)
                let negative = command.hasPrefix("not ")
                if negative { command = String(command.dropFirst(4)) }
                runs.append(RunLine(command: command, expectFailure: negative, line: i + 1))
            } else if body.hasPrefix("ROUNDTRIP: non-canonical") {
                canonical = false
            } else if body.hasPrefix("expected-error") {
                expected.append(try Spec.parseExpectation(body, line: i + 1, path: path))
            }
        }
        self.runs = runs
        expectedErrors = expected
        fileCheck = FileCheck(specText: text)
        self.canonical = canonical
    }

    /// `expected-error`, `expected-error@+2`, `expected-error@-1:7`, then `{{message}}`.
    private static func parseExpectation(_ body: String, line: Int, path: String) throws -> ExpectedError {
        var rest = Substring(body.dropFirst("expected-error".count))
        var target = line
        var column: Int?
        if rest.hasPrefix("@") {
            rest = rest.dropFirst()
            let spec = rest.prefix { !$0.isWhitespace && $0 != "{" }
            rest = rest.dropFirst(spec.count)
            let parts = spec.split(separator: ":", omittingEmptySubsequences: false)
            guard let offset = Int(parts[0].replacingOccurrences(of: "+", with: "")),
                  parts.count <= 2, parts.count == 1 || Int(parts[1]) != nil else {
                throw SpecError("\(path):\(line): bad expected-error location '@\(spec)' (use @+N, @-N or @+N:COL)")
            }
            target += offset
            if parts.count == 2 { column = Int(parts[1]) }
        }
        let trimmed = rest.trimmingCharacters(in: .whitespaces)
        guard trimmed.hasPrefix("{{"), trimmed.hasSuffix("}}"), trimmed.count >= 4 else {
            throw SpecError("\(path):\(line): expected-error needs a message in {{...}}")
        }
        return ExpectedError(line: target, column: column, message: String(trimmed.dropFirst(2).dropLast(2)), specLine: line)
    }

    /// The IR lines of the spec: everything but whole-line comments and blank lines.
    var irText: String {
        text.split(separator: "\n", omittingEmptySubsequences: false)
            .filter { line in
                let t = line.trimmingCharacters(in: .whitespaces)
                return !t.isEmpty && !t.hasPrefix("//")
            }
            .joined(separator: "\n") + "\n"
    }
}

struct SpecError: Error, CustomStringConvertible {
    let description: String
    init(_ message: String) { description = message }
}
