import NascIR

/// A trained language model ready to leave nasc as a step function: one
/// word and the recurrent state in, the next word's logits and the new state
/// out. It is the unrolled model of `LanguageModel` at one row and one time
/// step, in inference mode (dropout is the identity), with the logits as an
/// output and the loss gone; the weights are the training checkpoint's, as
/// the step graph's parameters carry the same names.
public struct DeployableLanguageModel: Sendable {
    public var graph: Graph
    public var weights: [String: Tensor]
    public var interface: LanguageModel.CellInterface
    public var layers: Int
    public var vocabulary: Int
    /// The state, in the order a flat state vector holds it: per layer, h
    /// then c (cells with a memory). Each is `interface.hidden` floats.
    public var state: [(input: String, output: String)]

    public static func prepare(cell: Graph, weights: [String: Tensor], vocabulary: Int, layers: Int) throws(PassError) -> DeployableLanguageModel {
        let io = try LanguageModel.interface(of: cell)
        var g = try InferenceGraph.run(try LanguageModel.unroll(cell, LanguageModel.Shape(vocabulary: vocabulary, batch: 1, steps: 1, layers: layers)))
        g.outputs.removeAll { $0.label == "loss" }
        guard let logits = g.nodes.first(where: { $0.result == LanguageModel.logits }) else {
            throw PassError("internal: the unrolled model of @\(cell.name) has no %\(LanguageModel.logits)")
        }
        g.outputs.insert(GraphOutput(label: LanguageModel.logits, type: logits.type!, value: logits.result), at: 0)
        g = try Pipeline.simplify(try DeadCodeElimination.run(g))
        let state: [(input: String, output: String)] = (0..<layers).flatMap { l in
            (io.hasMemory ? ["h", "c"] : ["h"]).map { (LanguageModel.stateInput($0, layer: l), LanguageModel.stateOutput($0, layer: l)) }
        }
        // The token and every state input stay, even one no op reads (a cell
        // that ignores its memory), so the state's layout does not depend on
        // the cell; the targets and the dropout seed go.
        let kept = Set([LanguageModel.tokens] + state.map(\.input))
        g.inputs.removeAll { !kept.contains($0.name) }
        try DeployableGraph.checkWeights(weights, of: g)
        return DeployableLanguageModel(graph: g, weights: weights, interface: io, layers: layers, vocabulary: vocabulary, state: state)
    }
}
