/// An error located in IR text. Rendered the way compilers do:
///
///     child.nasir:4:26: error: use of undefined value '%w9'
///       %c0 = conv2d %x, %w9 : f32[N,36,28,28]
///                        ^
public struct Diagnostic: Error, Sendable, Equatable, CustomStringConvertible {
    public var loc: SourceLoc
    public var message: String

    public init(_ loc: SourceLoc, _ message: String) {
        self.loc = loc
        self.message = message
    }

    public var description: String { "\(loc.line):\(loc.col): error: \(message)" }

    /// `file:line:col: error: message`, then the source line and a caret under the column.
    public func render(file: String, source: SourceText?) -> String {
        var out = "\(file):\(loc.line):\(loc.col): error: \(message)"
        if let source, let text = source.line(loc.line) {
            out += "\n" + text + "\n" + SourceText.caretPrefix(text, col: loc.col) + "^"
        }
        return out
    }
}

/// A set of diagnostics, as thrown by the parser and the verifier.
public struct DiagnosticError: Error, Sendable, CustomStringConvertible {
    public var diagnostics: [Diagnostic]

    public init(_ diagnostics: [Diagnostic]) { self.diagnostics = diagnostics }

    public var description: String { diagnostics.map(\.description).joined(separator: "\n") }

    public func render(file: String, source: SourceText?) -> String {
        diagnostics.map { $0.render(file: file, source: source) }.joined(separator: "\n")
    }
}

/// The text a graph was parsed from, kept to quote lines in diagnostics.
/// Works on bytes: any input, even invalid UTF-8, has lines and columns.
public struct SourceText: Sendable {
    public let bytes: [UInt8]
    private let lineStarts: [Int]

    public init(_ bytes: [UInt8]) {
        self.bytes = bytes
        var starts = [0]
        for (i, b) in bytes.enumerated() where b == UInt8(ascii: "\n") { starts.append(i + 1) }
        lineStarts = starts
    }

    public init(_ text: String) { self.init(Array(text.utf8)) }

    /// Line `n` (1-based) without its newline, or nil when out of range.
    public func line(_ n: Int) -> String? {
        guard n >= 1, n <= lineStarts.count else { return nil }
        let start = lineStarts[n - 1]
        var end = n < lineStarts.count ? lineStarts[n] - 1 : bytes.count
        if end > start, bytes[end - 1] == UInt8(ascii: "\r") { end -= 1 }
        guard start <= end else { return "" }
        return String(decoding: bytes[start..<end], as: UTF8.self)
    }

    /// Whitespace that puts a caret under byte column `col` of `text`,
    /// keeping tabs so the caret lines up however tabs are shown.
    static func caretPrefix(_ text: String, col: Int) -> String {
        var prefix = ""
        // Columns count bytes; a multi-byte character takes one cell on screen.
        for (i, b) in text.utf8.enumerated() where i < col - 1 && b & 0xC0 != 0x80 {
            prefix.append(b == UInt8(ascii: "\t") ? "\t" : " ")
        }
        return prefix
    }
}
