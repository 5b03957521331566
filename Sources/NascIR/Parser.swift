/// Parses the IR's text form into a `Graph`. The grammar is in
/// ir-specs/README.md. The parser checks syntax only; `Verifier` checks
/// meaning (names, attributes, types). Stops at the first syntax error.
public struct Parser {
    private var lexer: Lexer
    private var token: Token

    /// Parses `text`. Throws a `Diagnostic` for the first syntax error.
    public static func parse(_ text: String) throws(Diagnostic) -> Graph {
        try parse(Array(text.utf8))
    }

    public static func parse(_ bytes: [UInt8]) throws(Diagnostic) -> Graph {
        var p = try Parser(bytes)
        return try p.parseFile()
    }

    private init(_ bytes: [UInt8]) throws(Diagnostic) {
        lexer = Lexer(bytes)
        token = Token(kind: .eof, loc: .none)
        token = try lexer.next()
    }

    // MARK: - Token helpers

    private mutating func bump() throws(Diagnostic) { token = try lexer.next() }

    private func describe(_ kind: TokenKind) -> String {
        switch kind {
        case .value(let n): return "'%\(n)'"
        case .graphName(let n): return "'@\(n)'"
        case .identifier(let n): return "'\(n)'"
        case .integer(let v): return "'\(v)'"
        case .number(let v): return "'\(v)'"
        case .punct(let c): return "'\(c)'"
        case .arrow: return "'->'"
        case .eof: return "end of file"
        }
    }

    private func fail(_ expected: String) -> Diagnostic {
        Diagnostic(token.loc, "expected \(expected), found \(describe(token.kind))")
    }

    private func at(_ c: Character) -> Bool { token.kind == .punct(c) }

    private func atKeyword(_ word: String) -> Bool { token.kind == .identifier(word) }

    private mutating func expect(_ c: Character) throws(Diagnostic) {
        guard at(c) else { throw fail("'\(c)'") }
        try bump()
    }

    private mutating func valueName() throws(Diagnostic) -> (String, SourceLoc) {
        guard case .value(let name) = token.kind else { throw fail("a value like '%x'") }
        let loc = token.loc
        try bump()
        return (name, loc)
    }

    private mutating func identifier(_ what: String) throws(Diagnostic) -> (String, SourceLoc) {
        guard case .identifier(let name) = token.kind else { throw fail(what) }
        let loc = token.loc
        try bump()
        return (name, loc)
    }

    /// Parses `item` repeatedly, separated by commas, until `close`.
    private mutating func list(until close: Character, _ item: (inout Parser) throws(Diagnostic) -> Void) throws(Diagnostic) {
        if at(close) { try bump(); return }
        while true {
            try item(&self)
            if at(",") { try bump(); continue }
            try expect(close)
            return
        }
    }

    // MARK: - Grammar

    private mutating func parseFile() throws(Diagnostic) -> Graph {
        let graph = try parseGraph()
        guard token.kind == .eof else { throw fail("end of file after the graph") }
        return graph
    }

    private mutating func parseGraph() throws(Diagnostic) -> Graph {
        let graphLoc = token.loc
        guard atKeyword("graph") else { throw fail("'graph'") }
        try bump()
        guard case .graphName(let name) = token.kind else { throw fail("a graph name like '@child'") }
        try bump()
        var graph = Graph(name: name)
        graph.loc = graphLoc

        try expect("(")
        try list(until: ")") { (p: inout Parser) throws(Diagnostic) in
            let (name, loc) = try p.valueName()
            try p.expect(":")
            graph.inputs.append(GraphInput(name: name, type: try p.parseType(), loc: loc))
        }

        guard token.kind == .arrow else { throw fail("'->' and the graph's outputs") }
        try bump()
        try expect("(")
        try list(until: ")") { (p: inout Parser) throws(Diagnostic) in
            let (label, loc) = try p.identifier("an output label like 'loss'")
            try p.expect(":")
            var out = GraphOutput(label: label, type: try p.parseType(), value: "")
            out.loc = loc
            graph.outputs.append(out)
        }

        try expect("{")
        while !atKeyword("return") {
            if at("}") || token.kind == .eof { throw fail("'return' at the end of the graph") }
            if atKeyword("kernel") {
                try parseKernel(into: &graph)
            } else {
                graph.nodes.append(try parseNode())
            }
        }
        graph.returnLoc = token.loc
        try bump()
        var returned: [(String, SourceLoc)] = []
        if case .value = token.kind {
            returned.append(try valueName())
            while at(",") {
                try bump()
                returned.append(try valueName())
            }
        }
        guard returned.count == graph.outputs.count else {
            throw Diagnostic(graph.returnLoc,
                             "'return' gives \(returned.count) value(s) but the signature declares \(graph.outputs.count) output(s)")
        }
        for (i, (value, loc)) in returned.enumerated() {
            graph.outputs[i].value = value
            graph.outputs[i].valueLoc = loc
        }
        try expect("}")
        return graph
    }

    /// `kernel @name { node... }`: nodes the fusion pass grouped into one kernel.
    private mutating func parseKernel(into graph: inout Graph) throws(Diagnostic) {
        try bump()
        guard case .graphName(let name) = token.kind else { throw fail("a kernel name like '@k0'") }
        let loc = token.loc
        try bump()
        try expect("{")
        var count = 0
        while !at("}") {
            if token.kind == .eof || atKeyword("return") || atKeyword("kernel") {
                throw fail("'}' to close kernel @\(name)")
            }
            var node = try parseNode()
            node.kernel = name
            node.kernelLoc = loc
            graph.nodes.append(node)
            count += 1
        }
        guard count > 0 else { throw Diagnostic(loc, "kernel @\(name) is empty") }
        try bump()
    }

    private mutating func parseNode() throws(Diagnostic) -> Node {
        let (result, loc) = try valueName()
        try expect("=")
        let (opName, opLoc) = try identifier("an op name")
        guard let op = Op(rawValue: opName) else {
            throw Diagnostic(opLoc, "unknown op '\(opName)'" + Suggest.didYouMean(opName, Op.allCases.map(\.name)))
        }
        var node = Node(result: result, op: op)
        node.loc = loc
        node.opLoc = opLoc

        if case .value = token.kind {
            while true {
                let (operand, operandLoc) = try valueName()
                node.operands.append(operand)
                node.operandLocs.append(operandLoc)
                guard at(",") else { break }
                try bump()
            }
        }
        if at("{") {
            try bump()
            var attrs = Attributes()
            try list(until: "}") { (p: inout Parser) throws(Diagnostic) in
                let (name, nameLoc) = try p.identifier("an attribute name")
                if attrs[name] != nil { throw Diagnostic(nameLoc, "attribute '\(name)' is given twice") }
                try p.expect("=")
                attrs[name] = try p.parseAttrValue()
                node.attrLocs[name] = nameLoc
            }
            node.attrs = attrs
        }
        if at(":") {
            try bump()
            node.typeLoc = token.loc
            node.type = try parseType()
        }
        return node
    }

    private mutating func parseAttrValue() throws(Diagnostic) -> AttrValue {
        switch token.kind {
        case .integer(let v):
            try bump()
            return .int(v)
        case .number(let v):
            try bump()
            return .float(v)
        case .identifier("true"):
            try bump()
            return .bool(true)
        case .identifier("false"):
            try bump()
            return .bool(false)
        case .identifier(let s):
            try bump()
            return .symbol(s)
        case .punct("["):
            try bump()
            var values: [Int] = []
            try list(until: "]") { (p: inout Parser) throws(Diagnostic) in
                guard case .integer(let v) = p.token.kind else { throw p.fail("an integer") }
                values.append(v)
                try p.bump()
            }
            return .ints(values)
        default:
            throw fail("an attribute value")
        }
    }

    /// `f32[N,36,28,28]`, `i32[N]`, `f32[]`.
    private mutating func parseType() throws(Diagnostic) -> TensorType {
        let (name, loc) = try identifier("a type like 'f32[N,10]'")
        guard let dtype = DType(rawValue: name) else {
            throw Diagnostic(loc, "unknown element type '\(name)' (expected f32 or i32)")
        }
        try expect("[")
        var dims: [Dim] = []
        try list(until: "]") { (p: inout Parser) throws(Diagnostic) in
            switch p.token.kind {
            case .identifier("N"):
                dims.append(.batch)
            case .integer(let v):
                guard v >= 1 else { throw Diagnostic(p.token.loc, "dimension must be at least 1, found \(v)") }
                guard v <= Limits.maxDim else {
                    throw Diagnostic(p.token.loc, "dimension \(v) exceeds the limit of \(Limits.maxDim)")
                }
                dims.append(.fixed(v))
            default:
                throw p.fail("a dimension (an integer or N)")
            }
            try p.bump()
        }
        return TensorType(dtype, dims)
    }
}

/// "did you mean" suggestions for misspelled names.
enum Suggest {
    static func didYouMean(_ word: String, _ candidates: [String]) -> String {
        let scored = candidates.map { ($0, distance(word, $0)) }.filter { $0.1 <= max(2, word.count / 3) }
        guard let best = scored.min(by: { $0.1 < $1.1 }) else { return "" }
        return "; did you mean '\(best.0)'?"
    }

    /// Levenshtein distance; inputs here are short names.
    static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a.utf8.prefix(64)), b = Array(b.utf8.prefix(64))
        var row = Array(0...b.count)
        for i in 1...max(a.count, 1) where i <= a.count {
            var prev = row[0]
            row[0] = i
            for j in 1...max(b.count, 1) where j <= b.count {
                let cur = row[j]
                row[j] = min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] == b[j - 1] ? 0 : 1))
                prev = cur
            }
        }
        return row[b.count]
    }
}
