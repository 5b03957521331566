import Foundation
import NascIR
import NascPasses
import NascRuntime
import NascSearch
import XCTest

/// The NASNet/ENAS cell space: every decision sequence builds a network
/// that verifies and trains, the cells are what their decisions say, and
/// equivalent cells are one child.
final class CellSpaceTests: XCTestCase {
    let image = ImageShape(channels: 1, size: 28, classes: 10)

    /// The property test: random decisions of several spaces, on two image
    /// geometries, always make a verifying graph whose training step builds
    /// (autodiff, fusion, memory plan) and whose output is the classifier's.
    func testEveryDecisionSequenceMakesAVerifyingNetwork() throws {
        var rng = SeededGenerator(seed: 11)
        for space in [CellSpace(), CellSpace(blocks: 1, cellsPerStage: 0, channels: 2), CellSpace(blocks: 3, cellsPerStage: 1, channels: 5),
                      CellSpace(blocks: 7, cellsPerStage: 2, channels: 3)] {
            XCTAssertEqual(space.decisionOptions.count, 2 * 4 * space.blocks)
            for (k, shape) in [image, ImageShape(channels: 3, size: 9, classes: 4)].enumerated() {
                for trial in 0..<25 {
                    let choices = space.decisionOptions.map { rng.index($0) }
                    let graph = try space.graph(choices, name: "c", image: shape)
                    XCTAssertEqual(graph.outputs.map(\.type.description), ["f32[]", "f32[N,\(shape.classes)]"])
                    if trial < 3 && k == 1 {
                        XCTAssertNoThrow(try Pipeline.run(graph, upTo: .plan), "\(space) \(choices)")
                    }
                }
            }
        }
    }

    /// The decisions land where they say: block inputs and operations,
    /// loose ends concatenated, stride 2 only on a reduction cell's inputs,
    /// channels doubling at each reduction, the previous-previous input
    /// reduced after a reduction.
    func testCellsAreWhatTheirDecisionsSay() throws {
        let space = CellSpace(blocks: 2, cellsPerStage: 1, channels: 4)
        // Normal: b0 = sep3(in1) + identity(in0); b1 = max3(b0) + dil5(in1). Loose end: b1.
        // Reduction: b0 = avg3(in0) + sep5(in1); b1 = identity(in0) + max3(in1). Loose ends: b0, b1.
        let ops = CellOp.allCases
        func op(_ o: CellOp) -> Int { ops.firstIndex(of: o)! }
        let choices = [1, 0, op(.sep3), op(.identity), 2, 1, op(.max3), op(.dil5),
                       0, 1, op(.avg3), op(.sep5), 0, 1, op(.identity), op(.max3)]
        XCTAssertEqual(space.cell(.normal, choices).map(\.inputs.0), [1, 2])  // as chosen; the canonical order shows in `ir`
        XCTAssertEqual(CellSpace.looseEnds(space.cell(.normal, choices)), [3])
        XCTAssertEqual(CellSpace.looseEnds(space.cell(.reduction, choices)), [2, 3])
        let text = space.ir(choices, name: "c", image: image, width: 1)
        let graph = try Verifier.parseAndVerify(Array(text.utf8))
        func type(_ name: String) -> String? { graph.nodes.first { $0.result == name }?.type?.description }
        // Stem to 3C; cell 1 normal at 28x28 with C = 4; its output is its one loose end.
        XCTAssertEqual(type("stem"), "f32[N,12,28,28]")
        XCTAssertEqual(type("cell1.b0"), "f32[N,4,28,28]")
        XCTAssertTrue(text.contains("%cell1.b0 = add %cell1.in0, %cell1.b0.1"), text)  // identity(in0) first in canonical order
        XCTAssertTrue(text.contains("%cell1.b1.0.dw = conv2d %cell1.b1.0.r, %cell1.b1.0.dw.w {stride = [1, 1], pad = same, groups = 4, dilation = [2, 2]}"), text)
        XCTAssertTrue(text.contains("%cell1.b1.1 = max_pool %cell1.b0 {window = [3, 3], stride = [1, 1], pad = same}"), text)
        XCTAssertNil(type("cell1"), "one loose end: no concat")
        // Sep conv applied twice: ReLU-dw-pw-BN, ReLU-dw-pw-BN.
        XCTAssertNotNil(type("cell1.b0.1.1.dw"))
        XCTAssertNotNil(type("cell1.b0.1.dw"))
        // Cell 2 reduces to 14x14 with C = 8: stride 2 on its inputs, 1 on blocks; two loose ends.
        XCTAssertEqual(type("cell2.b0"), "f32[N,8,14,14]")
        XCTAssertTrue(text.contains("%cell2.b0.0 = avg_pool %cell2.in0 {window = [3, 3], stride = [2, 2], pad = same}"), text)
        XCTAssertTrue(text.contains("%cell2.b1.0.c = conv2d %cell2.b1.0.r, %cell2.b1.0.c.w {stride = [2, 2], pad = same}"), text)  // strided identity
        XCTAssertEqual(type("cell2"), "f32[N,16,14,14]")
        // Cell 3 (normal) reads cell 1 (28x28) through a strided 1x1 convolution.
        XCTAssertEqual(type("cell3.in0"), "f32[N,8,14,14]")
        XCTAssertNil(type("cell6"), "5 cells: 1 normal per stage, 2 reductions")
        XCTAssertEqual(type("cell5.b1"), "f32[N,16,7,7]")
        XCTAssertEqual(type("pool"), "f32[N,16]")
        // Widening for retraining scales C.
        let wide = try space.graph(choices, name: "w", image: image, width: 2)
        XCTAssertEqual(wide.nodes.first { $0.result == "cell1.b0" }?.type?.description, "f32[N,8,28,28]")
    }

    /// Swapping the two (input, operation) pairs of a block builds the same
    /// child: the same canonical decisions, IR and structural hash. Other
    /// changes make another child.
    func testTheCanonicalFormDedupsSwappedOperands() throws {
        let space = CellSpace(blocks: 3, cellsPerStage: 1, channels: 4)
        var rng = SeededGenerator(seed: 3)
        for _ in 0..<20 {
            let choices = space.decisionOptions.map { rng.index($0) }
            var swapped = choices
            for block in stride(from: 0, to: choices.count, by: 4) where rng.index(2) == 1 {
                swapped.swapAt(block, block + 1)
                swapped.swapAt(block + 2, block + 3)
            }
            XCTAssertEqual(space.canonical(swapped), space.canonical(choices))
            XCTAssertEqual(space.canonical(space.canonical(choices)), space.canonical(choices))
            let a = try space.graph(choices, name: "c", image: image), b = try space.graph(swapped, name: "c", image: image)
            XCTAssertEqual(StructuralHash.hash(a), StructuralHash.hash(b))
            // Another operation somewhere is another child (unless both ops of that block become equal pairs).
            var other = choices
            other[2] = (other[2] + 1) % CellOp.allCases.count
            if space.canonical(other) != space.canonical(choices) {
                XCTAssertNotEqual(StructuralHash.hash(try space.graph(other, name: "c", image: image)), StructuralHash.hash(a))
            }
        }
    }

    /// The controller emits both cells: one step per decision with the
    /// right number of options, its graph verifies, and what it samples is
    /// always in range.
    func testTheControllerEmitsBothCells() throws {
        let space = CellSpace(blocks: 4, cellsPerStage: 1, channels: 4)
        let controller = try ReinforceController(space: space, seed: 2, maxBatch: 4)
        XCTAssertEqual(controller.graph.steps.map(\.options), space.decisionOptions)
        XCTAssertEqual(controller.graph.heads.map(\.name), ["input0", "op", "input1", "input2", "input3"])
        for child in try controller.propose(8) {
            XCTAssertNil(space.problem(with: child))
        }
    }

    /// Settings round-trip through search.json, and continuing a run with
    /// other cell settings names the flag.
    func testSettingsRoundTripAndDifferencesNameTheFlag() {
        let space = CellSpace(blocks: 4, cellsPerStage: 2, channels: 12)
        let shape = ChildShape(space: space, channels: 1, size: 28, classes: 10)
        XCTAssertEqual(ChildShape(json: shape.json), shape)
        XCTAssertEqual(ChildShape(json: shape.json)?.space as? CellSpace, space)
        let other = ChildShape(space: CellSpace(blocks: 4, cellsPerStage: 3, channels: 12), channels: 1, size: 28, classes: 10)
        XCTAssertEqual(shape.difference(from: other), "--cells 2, not 3")
        XCTAssertEqual(shape.difference(from: ChildShape(space: CNNSpace(layers: 2), channels: 1, size: 28, classes: 10)), "--space cells, not cnn")
        XCTAssertNil(ChildShape(json: ["space": "no-such-space", "layers": 2]))
        // The stem's stride: recorded, compared, absent in runs from before it (1), refused if not 1 or 2.
        let strided = ChildShape(space: CellSpace(blocks: 4, cellsPerStage: 2, channels: 12, stemStride: 2), channels: 1, size: 28, classes: 10)
        XCTAssertEqual((ChildShape(json: strided.json)?.space as? CellSpace)?.stemStride, 2)
        XCTAssertEqual(strided.difference(from: shape), "--stem-stride 2, not 1")
        var old = shape.json, odd = strided.json
        old["stem_stride"] = nil
        odd["stem_stride"] = 3
        XCTAssertEqual((ChildShape(json: old)?.space as? CellSpace)?.stemStride, 1)
        XCTAssertNil(ChildShape(json: odd))
    }

    /// A strided stem puts every cell at half the resolution: 14x14, 7x7
    /// and 4x4 for a 28x28 image, with the same parameters.
    func testAStridedStemHalvesEveryPlane() throws {
        let choices = CellSpace(blocks: 2).decisionOptions.map { $0 - 1 }
        func graph(_ stride: Int) throws -> Graph {
            try CellSpace(blocks: 2, cellsPerStage: 1, channels: 4, stemStride: stride).graph(choices, name: "c", image: image)
        }
        let (plain, strided) = (try graph(1), try graph(2))
        func type(_ g: Graph, _ name: String) -> String? { g.nodes.first { $0.result == name }?.type?.description }
        XCTAssertEqual(type(plain, "stem"), "f32[N,12,28,28]")
        XCTAssertEqual(type(strided, "stem"), "f32[N,12,14,14]")
        XCTAssertEqual(type(strided, "cell1.b1"), "f32[N,4,14,14]")
        XCTAssertEqual(type(strided, "cell5.b1"), "f32[N,16,4,4]")
        XCTAssertEqual(plain.nodes.filter { $0.op == .param }.map(\.type), strided.nodes.filter { $0.op == .param }.map(\.type))
    }
}
