import NascIR
import XCTest

final class ParserTests: XCTestCase {
    func testParsesHeaderNodesAndReturn() throws {
        let g = try Parser.parse("""
            graph @g(%x: f32[N,4], %y: i32[N]) -> (loss: f32[]) {
              %w = param {init = glorot_uniform} : f32[4,3]
              %l = matmul %x, %w
              %loss = softmax_cross_entropy %l, %y : f32[]
              return %loss
            }
            """)
        XCTAssertEqual(g.name, "g")
        XCTAssertEqual(g.inputs.map(\.name), ["x", "y"])
        XCTAssertEqual(g.inputs[0].type, .f32(.batch, .fixed(4)))
        XCTAssertEqual(g.inputs[1].type, .i32(.batch))
        XCTAssertEqual(g.nodes.map(\.op), [.param, .matmul, .softmaxCrossEntropy])
        XCTAssertEqual(g.nodes[1].operands, ["x", "w"])
        XCTAssertNil(g.nodes[1].type, "the parser does not infer types")
        XCTAssertEqual(g.outputs.map(\.label), ["loss"])
        XCTAssertEqual(g.outputs[0].value, "loss")
        XCTAssertEqual(g.nodes[1].operandLocs, [SourceLoc(line: 3, col: 15), SourceLoc(line: 3, col: 19)])
    }

    func testNumbersAndAttributeValues() throws {
        let g = try Parser.parse("""
            graph @g() -> () {
              %a = const {value = -2.5e-3} : f32[]
              %b = param {init = uniform, scale = 8e-2} : f32[2]
              %c = concat %b, %b {axis = 0}
              %d = matmul %c, %c {transpose_a = true}
              return
            }
            """)
        XCTAssertEqual(g.nodes[0].attrs["value"], .float(-0.0025))
        XCTAssertEqual(g.nodes[1].attrs["scale"], .float(0.08))
        XCTAssertEqual(g.nodes[1].attrs["init"], .symbol("uniform"))
        XCTAssertEqual(g.nodes[2].attrs["axis"], .int(0))
        XCTAssertEqual(g.nodes[3].attrs["transpose_a"], .bool(true))
    }

    func testPrintParseRoundTripIsExactForEveryValidFile() throws {
        let graphs = Fixtures.validGraphs()
        XCTAssertGreaterThan(graphs.count, 10)
        for (path, graph) in graphs {
            let text = Printer.print(graph.sorted())
            let again = try Verifier.parseAndVerify(Array(text.utf8))
            XCTAssertEqual(again, graph.sorted(), path)
            XCTAssertEqual(Printer.print(again), text, path)
        }
    }

    func testFloatAttributesRoundTripExactly() throws {
        var rng = SeededRandom(seed: 7)
        for _ in 0..<2000 {
            let v = Double(bitPattern: rng.next() & 0x7FEF_FFFF_FFFF_FFFF) * (Bool.random(using: &rng) ? 1 : -1)
            guard v.isFinite else { continue }
            let text = "graph @g() -> (k: f32[]) {\n  %k = const {value = \(AttrValue.float(v))} : f32[]\n  return %k\n}\n"
            let g = try Parser.parse(text)
            XCTAssertEqual(g.nodes[0].attrs["value"]?.floatValue?.bitPattern, v.bitPattern, "\(v)")
        }
    }

    func testSyntaxErrorsCarryLocations() {
        let cases: [(String, SourceLoc, String)] = [
            ("graph @g( -> () {}", SourceLoc(line: 1, col: 11), "expected a value like '%x', found '->'"),
            ("graph g() -> () {}", SourceLoc(line: 1, col: 7), "expected a graph name like '@child', found 'g'"),
            ("graph @g() -> () {\n  %a = relu\n}", SourceLoc(line: 3, col: 1), "expected 'return' at the end of the graph"),
            ("graph @g() -> () {\n  %a = relu %\n}", SourceLoc(line: 2, col: 13), "expected a name after '%'"),
            ("graph @g(%x: f32[N,2x]) -> () {}", SourceLoc(line: 1, col: 21), "unexpected character 'x' after a number"),
            ("graph @g(%x: f32[N,M]) -> () {}", SourceLoc(line: 1, col: 20), "expected a dimension (an integer or N), found 'M'"),
            ("graph @g() -> () {\n  %a = const {value = [1.5]} : f32[]\n  return\n}", SourceLoc(line: 2, col: 24), "expected an integer, found '1.5'"),
        ]
        for (text, loc, message) in cases {
            XCTAssertThrowsError(try Parser.parse(text), text) { error in
                guard let d = error as? Diagnostic else { return XCTFail("not a Diagnostic: \(error)") }
                XCTAssertEqual(d.loc, loc, text)
                XCTAssertTrue(d.message.hasPrefix(message), "\(d.message) for \(text)")
            }
        }
    }

    func testRenderQuotesTheLineWithACaret() {
        let source = SourceText("graph @g() -> () {\n\t%a = bogus %x\n}")
        let d = Diagnostic(SourceLoc(line: 2, col: 7), "unknown op 'bogus'")
        XCTAssertEqual(d.render(file: "f.nasir", source: source),
                       "f.nasir:2:7: error: unknown op 'bogus'\n\t%a = bogus %x\n\t     ^")
    }

    func testInvalidUTF8IsAnErrorNotACrash() {
        let bytes: [UInt8] = Array("graph @g() -> () {\n  %a = ".utf8) + [0xFF, 0xFE] + Array(" relu\n}".utf8)
        XCTAssertThrowsError(try Parser.parse(bytes)) { error in
            XCTAssertEqual((error as? Diagnostic)?.message, "unexpected character byte 0xff")
        }
    }
}
