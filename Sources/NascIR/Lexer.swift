/// Tokens of the IR text. See ir-specs/README.md for the grammar.
enum TokenKind: Equatable {
    case value(String)        // %name
    case graphName(String)    // @name
    case identifier(String)   // graph, relu, f32, N, true, same, ...
    case integer(Int)
    case number(Double)       // a literal with '.' or an exponent
    case punct(Character)     // ( ) { } [ ] , : =
    case arrow                // ->
    case eof
}

struct Token {
    var kind: TokenKind
    var loc: SourceLoc
}

/// Splits IR text into tokens. Never fails: bad characters become a
/// diagnostic at their position. `//` starts a comment to the end of the line.
struct Lexer {
    private let bytes: [UInt8]
    private var pos = 0
    private var line = 1
    private var lineStart = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    private var loc: SourceLoc { SourceLoc(line: line, col: pos - lineStart + 1) }

    private func peek(_ offset: Int = 0) -> UInt8? {
        pos + offset < bytes.count ? bytes[pos + offset] : nil
    }

    private mutating func advance() {
        if bytes[pos] == UInt8(ascii: "\n") {
            line += 1
            lineStart = pos + 1
        }
        pos += 1
    }

    static func isIdentStart(_ b: UInt8) -> Bool {
        (b >= 0x61 && b <= 0x7A) || (b >= 0x41 && b <= 0x5A) || b == UInt8(ascii: "_")
    }

    static func isIdentChar(_ b: UInt8) -> Bool {
        isIdentStart(b) || isDigit(b) || b == UInt8(ascii: ".")
    }

    static func isDigit(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x39 }

    private mutating func skipTrivia() {
        while let b = peek() {
            if b == UInt8(ascii: " ") || b == UInt8(ascii: "\t") || b == UInt8(ascii: "\n") || b == UInt8(ascii: "\r") {
                advance()
            } else if b == UInt8(ascii: "/"), peek(1) == UInt8(ascii: "/") {
                while let c = peek(), c != UInt8(ascii: "\n") { advance() }
            } else {
                return
            }
        }
    }

    private mutating func word() -> String {
        let start = pos
        while let b = peek(), Lexer.isIdentChar(b) { advance() }
        return String(decoding: bytes[start..<pos], as: UTF8.self)
    }

    mutating func next() throws(Diagnostic) -> Token {
        skipTrivia()
        let at = loc
        guard let b = peek() else { return Token(kind: .eof, loc: at) }
        switch b {
        case UInt8(ascii: "%"), UInt8(ascii: "@"):
            advance()
            let name = word()
            let sigil = b == UInt8(ascii: "%") ? "%" : "@"
            if name.isEmpty { throw Diagnostic(at, "expected a name after '\(sigil)'") }
            return Token(kind: b == UInt8(ascii: "%") ? .value(name) : .graphName(name), loc: at)
        case UInt8(ascii: "-") where peek(1) == UInt8(ascii: ">"):
            advance(); advance()
            return Token(kind: .arrow, loc: at)
        case UInt8(ascii: "-"), UInt8(ascii: "+"):
            guard let d = peek(1), Lexer.isDigit(d) || d == UInt8(ascii: ".") else {
                throw Diagnostic(at, "unexpected character '\(Character(Unicode.Scalar(b)))'")
            }
            return try number(at)
        case _ where Lexer.isDigit(b) || b == UInt8(ascii: "."):
            return try number(at)
        case _ where Lexer.isIdentStart(b):
            return Token(kind: .identifier(word()), loc: at)
        case UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: "{"), UInt8(ascii: "}"),
             UInt8(ascii: "["), UInt8(ascii: "]"), UInt8(ascii: ","), UInt8(ascii: ":"), UInt8(ascii: "="):
            advance()
            return Token(kind: .punct(Character(Unicode.Scalar(b))), loc: at)
        default:
            let shown = b >= 0x20 && b < 0x7F ? "'\(Character(Unicode.Scalar(b)))'" : "byte 0x" + String(b, radix: 16)
            throw Diagnostic(at, "unexpected character \(shown)")
        }
    }

    /// `-12`, `3`, `0.5`, `1e-05`, `-2.5E+3`. Integers must fit in `Int`;
    /// other numbers must be finite.
    private mutating func number(_ at: SourceLoc) throws(Diagnostic) -> Token {
        let start = pos
        var isFloat = false
        if peek() == UInt8(ascii: "-") || peek() == UInt8(ascii: "+") { advance() }
        while let b = peek(), Lexer.isDigit(b) { advance() }
        if peek() == UInt8(ascii: ".") {
            isFloat = true
            advance()
            while let b = peek(), Lexer.isDigit(b) { advance() }
        }
        if let e = peek(), e == UInt8(ascii: "e") || e == UInt8(ascii: "E") {
            isFloat = true
            advance()
            if peek() == UInt8(ascii: "-") || peek() == UInt8(ascii: "+") { advance() }
            guard let d = peek(), Lexer.isDigit(d) else { throw Diagnostic(loc, "expected digits in the exponent") }
            while let b = peek(), Lexer.isDigit(b) { advance() }
        }
        if let b = peek(), Lexer.isIdentStart(b) {
            throw Diagnostic(loc, "unexpected character '\(Character(Unicode.Scalar(b)))' after a number")
        }
        let text = String(decoding: bytes[start..<pos], as: UTF8.self)
        if isFloat {
            guard let v = Double(text), v.isFinite else { throw Diagnostic(at, "'\(text)' is not a finite number") }
            return Token(kind: .number(v), loc: at)
        }
        guard let v = Int(text) else { throw Diagnostic(at, "integer '\(text)' is too large") }
        return Token(kind: .integer(v), loc: at)
    }
}
