import NascIR
import XCTest

/// `Graph.topologicalOrder` returns a graph already in order as it is, without
/// scheduling; these are the graphs that must not take that shortcut.
final class TopologicalOrderTests: XCTestCase {
    private func order(_ body: String) throws -> [String] {
        let g = try Parser.parse("graph @g(%x: f32[4]) -> (y: f32[4]) {\n\(body)\n  return %y\n}")
        return g.topologicalOrder().map { g.nodes[$0].result }
    }

    func testNodesInOrderKeepTheirOrder() throws {
        XCTAssertEqual(try order("""
              %b = tanh %x : f32[4]
              %a = relu %x : f32[4]
              kernel @k0 {
                %c = add %a, %b : f32[4]
                %y = neg %c : f32[4]
              }
            """), ["b", "a", "c", "y"])
    }

    func testAUseBeforeItsDefinitionIsMoved() throws {
        XCTAssertEqual(try order("""
              %y = neg %a : f32[4]
              %a = relu %x : f32[4]
            """), ["a", "y"])
    }

    func testAUseBeforeItsDefinitionInsideAKernelIsMoved() throws {
        XCTAssertEqual(try order("""
              kernel @k0 {
                %y = neg %a : f32[4]
                %a = relu %x : f32[4]
              }
            """), ["a", "y"])
    }

    func testAKernelInTwoBlocksIsBroughtTogether() throws {
        XCTAssertEqual(try order("""
              kernel @k0 {
                %a = relu %x : f32[4]
              }
              %b = tanh %x : f32[4]
              kernel @k0 {
                %c = neg %a : f32[4]
              }
              %y = add %b, %c : f32[4]
            """), ["a", "c", "b", "y"])
    }

    func testANodeReadingItselfIsLeftOut() throws {
        XCTAssertEqual(try order("""
              %a = relu %a : f32[4]
              %y = neg %x : f32[4]
            """), ["y"])
    }
}
