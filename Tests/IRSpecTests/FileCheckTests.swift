import XCTest

/// The checker must be able to fail: each directive is tested on output that
/// satisfies it and on output that does not.
final class FileCheckTests: XCTestCase {
    private func passes(_ directives: String, _ output: String) -> Bool {
        (try? FileCheck(specText: directives).check(output)) != nil
    }

    func testCheckFindsLaterLines() {
        XCTAssertTrue(passes("// CHECK: b\n// CHECK: d", "a\nb\nc\nd"))
        XCTAssertFalse(passes("// CHECK: d\n// CHECK: b", "a\nb\nc\nd"), "order matters")
        XCTAssertFalse(passes("// CHECK: z", "a\nb"))
    }

    func testCheckNextNeedsTheVeryNextLine() {
        XCTAssertTrue(passes("// CHECK: a\n// CHECK-NEXT: b", "a\nb\nc"))
        XCTAssertFalse(passes("// CHECK: a\n// CHECK-NEXT: c", "a\nb\nc"))
    }

    func testCheckNotBetweenMatches() {
        XCTAssertTrue(passes("// CHECK: a\n// CHECK-NOT: x\n// CHECK: c", "a\nb\nc\nx"))
        XCTAssertFalse(passes("// CHECK: a\n// CHECK-NOT: b\n// CHECK: c", "a\nb\nc"))
        XCTAssertFalse(passes("// CHECK-NOT: error", "all good\nerror: bad"))
    }

    func testCheckSameAndEmpty() {
        XCTAssertTrue(passes("// CHECK: a\n// CHECK-SAME: c", "a b c"))
        XCTAssertFalse(passes("// CHECK: a\n// CHECK-SAME: z", "a b c\nz"))
        XCTAssertTrue(passes("// CHECK: a\n// CHECK-EMPTY:", "a\n\nb"))
        XCTAssertFalse(passes("// CHECK: a\n// CHECK-EMPTY:", "a\nb"))
    }

    func testLabelsConfineFailuresToTheirBlock() {
        let directives = "// CHECK-LABEL: graph @a\n// CHECK: relu\n// CHECK-LABEL: graph @b\n// CHECK: tanh"
        XCTAssertTrue(passes(directives, "graph @a\nrelu\ngraph @b\ntanh"))
        XCTAssertFalse(passes(directives, "graph @a\ntanh\ngraph @b\nrelu"), "relu must be inside @a's block")
    }

    func testRegexAndVariables() {
        XCTAssertTrue(passes("// CHECK: hash {{[0-9a-f]{4}}}", "hash 0a9f"))
        XCTAssertFalse(passes("// CHECK: hash {{[0-9a-f]{4}$}}", "hash 0a9g"))
        XCTAssertTrue(passes("// CHECK: x=[[V:[0-9]+]]\n// CHECK: y=[[V]]", "x=42\ny=42"))
        XCTAssertFalse(passes("// CHECK: x=[[V:[0-9]+]]\n// CHECK: y=[[V]]", "x=42\ny=43"))
        XCTAssertFalse(passes("// CHECK: [[UNDEFINED]]", "anything"))
    }

    func testWhitespaceRunsAreLoose() {
        XCTAssertTrue(passes("// CHECK: a b", "a    b"))
        XCTAssertTrue(passes("// CHECK: (1 ops)", "x (1 ops) y"), "literal text is escaped")
    }
}
