import Foundation

/// A small FileCheck: matches the directives of a spec against a command's
/// output, in order, the way LLVM's FileCheck does for the subset nasc uses:
///
///   CHECK:        the pattern occurs on some later line
///   CHECK-NEXT:   the pattern occurs on the line right after the previous match
///   CHECK-SAME:   the pattern occurs later on the same line as the previous match
///   CHECK-NOT:    the pattern does not occur between the surrounding matches
///   CHECK-EMPTY:  the next line is empty
///   CHECK-LABEL:  like CHECK, but first splits the output into blocks, so a
///                 failure inside one block cannot consume the next
///
/// A pattern is literal text, except `{{regex}}` parts and variables:
/// `[[H:regex]]` matches the regex and remembers the text as H, a later
/// `[[H]]` matches that text exactly. Runs of spaces and tabs match any run of
/// spaces and tabs.
final class FileCheck {
    enum Kind: String, CaseIterable {
        // Longest first, so "CHECK-NEXT:" is not read as "CHECK:".
        case label = "CHECK-LABEL:", next = "CHECK-NEXT:", same = "CHECK-SAME:", not = "CHECK-NOT:",
             empty = "CHECK-EMPTY:", check = "CHECK:"
    }

    struct Directive {
        var kind: Kind
        var pattern: String
        var line: Int        // line in the spec file
    }

    struct Failure: Error, CustomStringConvertible {
        var line: Int
        var message: String
        var description: String { "line \(line): \(message)" }
    }

    let directives: [Directive]
    private var variables: [String: String] = [:]

    /// Reads the directives from a spec's text (`// CHECK...:` anywhere on a line).
    init(specText: String) {
        var found: [Directive] = []
        for (i, line) in specText.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            guard let comment = line.range(of: "//") else { continue }
            let body = line[comment.upperBound...].trimmingCharacters(in: .whitespaces)
            for kind in Kind.allCases where body.hasPrefix(kind.rawValue) {
                let pattern = body.dropFirst(kind.rawValue.count).trimmingCharacters(in: .whitespaces)
                found.append(Directive(kind: kind, pattern: pattern, line: i + 1))
                break
            }
        }
        directives = found
    }

    var isEmpty: Bool { directives.isEmpty }

    /// Checks `output`; throws the first failure with context from the output.
    func check(_ output: String) throws {
        let lines = output.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        // Split on labels first: each label must match, in order.
        var labelLines: [Int] = []
        var searchFrom = 0
        for d in directives where d.kind == .label {
            guard let (line, _) = try find(d, in: lines, from: searchFrom, to: lines.count) else {
                throw Failure(line: d.line, message: "CHECK-LABEL: '\(d.pattern)' not found" + context(lines, searchFrom))
            }
            labelLines.append(line)
            searchFrom = line + 1
        }
        // Then the directives of each block, within the block's lines.
        var block = 0
        var blockEnd = labelLines.first ?? lines.count
        var position = (line: 0, col: 0)   // just after the previous match
        var pendingNots: [Directive] = []
        var matchedAny = false

        func checkNots(upTo end: Int) throws {
            for d in pendingNots {
                if let (line, _) = try find(d, in: lines, from: position.line, to: end, col: position.col) {
                    throw Failure(line: d.line, message: "CHECK-NOT: '\(d.pattern)' found on output line \(line + 1): \(lines[line])")
                }
            }
            pendingNots = []
        }

        for d in directives {
            switch d.kind {
            case .not:
                pendingNots.append(d)
            case .label:
                try checkNots(upTo: labelLines[block])
                position = (labelLines[block] + 1, 0)
                block += 1
                blockEnd = block < labelLines.count ? labelLines[block] : lines.count
                matchedAny = true
            case .check:
                guard let (line, end) = try find(d, in: lines, from: position.line, to: blockEnd, col: position.col) else {
                    throw Failure(line: d.line, message: "CHECK: '\(d.pattern)' not found" + context(lines, position.line))
                }
                try checkNots(upTo: line + 1)
                position = (line + 1, 0)
                _ = end
                matchedAny = true
            case .next, .empty:
                guard matchedAny else { throw Failure(line: d.line, message: "\(d.kind.rawValue) needs a CHECK before it") }
                let line = position.line
                guard line < blockEnd else {
                    throw Failure(line: d.line, message: "\(d.kind.rawValue) '\(d.pattern)': no line after the previous match")
                }
                if d.kind == .empty {
                    guard lines[line].isEmpty else {
                        throw Failure(line: d.line, message: "CHECK-EMPTY: output line \(line + 1) is not empty: \(lines[line])")
                    }
                } else {
                    guard try find(d, in: lines, from: line, to: line + 1) != nil else {
                        throw Failure(line: d.line, message: "CHECK-NEXT: '\(d.pattern)' does not match output line \(line + 1): \(lines[line])")
                    }
                }
                try checkNots(upTo: line + 1)
                position = (line + 1, 0)
            case .same:
                guard matchedAny, position.line > 0 else { throw Failure(line: d.line, message: "CHECK-SAME needs a match before it") }
                let line = position.line - 1
                guard try find(d, in: lines, from: line, to: line + 1) != nil else {
                    throw Failure(line: d.line, message: "CHECK-SAME: '\(d.pattern)' not on output line \(line + 1): \(lines[line])")
                }
            }
        }
        try checkNots(upTo: lines.count)
    }

    /// First line in [from, to) matching the directive's pattern.
    private func find(_ d: Directive, in lines: [String], from: Int, to: Int, col: Int = 0) throws -> (Int, Int)? {
        let regex: NSRegularExpression
        let defined: [String]
        do {
            let (pattern, names) = try expand(d.pattern)
            regex = try NSRegularExpression(pattern: pattern)
            defined = names
        } catch let failure as Failure {
            throw Failure(line: d.line, message: failure.message)
        } catch {
            throw Failure(line: d.line, message: "bad {{regex}} in pattern '\(d.pattern)'")
        }
        var i = from
        while i < min(to, lines.count) {
            let text = lines[i]
            let range = NSRange(text.startIndex..., in: text)
            if let m = regex.firstMatch(in: text, range: range) {
                for name in defined {
                    if let r = Range(m.range(withName: name), in: text) { variables[name] = String(text[r]) }
                }
                return (i, m.range.upperBound)
            }
            i += 1
        }
        return nil
    }

    /// The pattern as a regex: literal text escaped, `{{...}}` kept as regex,
    /// `[[X:re]]` a named group, `[[X]]` the remembered text; also returns the
    /// names the pattern defines.
    private func expand(_ pattern: String) throws -> (String, [String]) {
        var out = ""
        var names: [String] = []
        var rest = Substring(pattern)
        while let open = rest.range(of: #"\{\{|\[\["#, options: .regularExpression) {
            out += FileCheck.literal(rest[..<open.lowerBound])
            let isRegex = rest[open] == "{{"
            let afterOpen = rest[open.upperBound...]
            guard var close = afterOpen.range(of: isRegex ? "}}" : "]]") else {
                out += FileCheck.literal(rest[open.lowerBound...])
                return (out, names)
            }
            // `{{a{16}}}` closes at the last brace of the run, so the regex keeps its `}`.
            while isRegex, close.upperBound < afterOpen.endIndex, afterOpen[close.upperBound] == "}" {
                close = afterOpen.index(after: close.lowerBound)..<afterOpen.index(after: close.upperBound)
            }
            let inner = afterOpen[..<close.lowerBound]
            if isRegex {
                out += "(?:" + inner + ")"
            } else if let colon = inner.firstIndex(of: ":") {
                let name = String(inner[..<colon])
                out += "(?<\(name)>" + inner[inner.index(after: colon)...] + ")"
                names.append(name)
            } else {
                guard let value = variables[String(inner)] else {
                    throw Failure(line: 0, message: "variable [[\(inner)]] is used before it is defined")
                }
                out += NSRegularExpression.escapedPattern(for: value)
            }
            rest = afterOpen[close.upperBound...]
        }
        return (out + FileCheck.literal(rest), names)
    }

    private static func literal(_ text: Substring) -> String {
        text.split(separator: " ", omittingEmptySubsequences: false)
            .map { NSRegularExpression.escapedPattern(for: String($0)) }
            .joined(separator: "[ \\t]+")
    }

    private func context(_ lines: [String], _ from: Int) -> String {
        let shown = lines[min(from, lines.count)...].prefix(12)
        let body = shown.isEmpty ? "(no more output)" : shown.joined(separator: "\n")
        return "\nsearched the output from line \(from + 1):\n" + body
    }
}
