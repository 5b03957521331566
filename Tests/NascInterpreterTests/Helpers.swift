import NascIR
import NascInterpreter
import XCTest

/// Parses and verifies IR text, failing the test with the rendered diagnostics.
func graph(_ text: String, file: StaticString = #filePath, line: UInt = #line) throws -> Graph {
    do {
        return try Verifier.parseAndVerify(Array(text.utf8))
    } catch {
        XCTFail("test graph does not verify:\n\(error.render(file: "<test>", source: SourceText(Array(text.utf8))))\n\(text)", file: file, line: line)
        throw error
    }
}

/// Runs a graph once on the given inputs and parameters.
func evaluate(_ g: Graph, _ inputs: [String: Tensor], _ sources: [String: Tensor] = [:]) throws -> Interpreter.Result {
    try Interpreter(g).run(inputs: inputs, sources: sources)
}

func assertClose(_ a: [Double], _ b: [Double], tolerance: Double = 1e-9, _ message: String = "",
                 file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(a.count, b.count, "element counts differ \(message)", file: file, line: line)
    for (i, (x, y)) in zip(a, b).enumerated() where abs(x - y) > tolerance * max(1, abs(x), abs(y)) {
        XCTFail("element \(i): \(x) vs \(y) \(message)", file: file, line: line)
        return
    }
}
