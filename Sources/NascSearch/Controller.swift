import NascIR

/// The NAS-RL controller as an IR graph: a 2-layer LSTM (35 hidden units,
/// weights uniform in ±0.08) unrolled over the search space's decisions.
/// Step t reads the embedding of the previous choice (a start token at
/// t = 0) and its head turns the top hidden state into logits over the
/// decision's options. A skip decision j -> i uses the paper's anchor-point
/// attention: logit = v · tanh(W_prev a_j + W_curr a_i), where a_k is the
/// hidden state at layer k's anchor (its last non-skip decision), against a
/// fixed 0 for "no skip", so P(skip) = sigmoid(logit).
///
/// Inputs: `%tok<t>: i32[N]` (the token fed at step t), `%act<t>: i32[N]`
/// (the choice taken at t), `%adv<t>: f32[N]` (each row's advantage at step
/// t: the child's advantage, or 0 past the end of a shorter child). Outputs:
/// `loss` = mean over rows of Σ_t adv_t × (−log p_t(choice)) (REINFORCE), and
/// `p<t>`, the probabilities at each step. One row per sampled child.
public struct ControllerGraph {
    public static let hidden = 35
    public let space: CNNSpace
    public let decisions: [CNNSpace.Decision]

    public init(space: CNNSpace) {
        self.space = space
        decisions = space.decisions
    }

    /// Token ids: 0 is the start token; each decision kind has its own range.
    public static func tokenBase(_ kind: CNNSpace.Kind) -> Int {
        switch kind {
        case .height: return 1
        case .width: return 5
        case .filters: return 9
        case .stride: return 13
        case .skip: return 16
        }
    }
    public static let vocabulary = 18

    /// The token fed after choosing `choice` at decision `d`.
    public static func token(_ d: CNNSpace.Decision, _ choice: Int) -> Int { tokenBase(d.kind) + choice }

    /// The step whose hidden state is layer k's anchor.
    func anchorStep(_ layer: Int) -> Int {
        decisions.lastIndex { $0.layer == layer && !{ if case .skip = $0.kind { return true }; return false }($0) }!
    }

    public var text: String {
        let H = ControllerGraph.hidden, T = decisions.count
        var lines: [String] = []
        func emit(_ s: String) { lines.append("  " + s) }
        func param(_ name: String, _ shape: String) { emit("%\(name) = param {init = uniform, scale = 0.08} : f32[\(shape)]") }
        param("emb", "\(ControllerGraph.vocabulary),\(H)")
        for l in 1...2 {
            param("W\(l)", "\(H),\(4 * H)")
            param("U\(l)", "\(H),\(4 * H)")
            param("b\(l)", "\(4 * H)")
        }
        for (kind, n) in [("height", 4), ("width", 4), ("filters", 4), ("stride", 3)] where kind != "stride" || space.strides {
            param("head_\(kind)", "\(H),\(n)")
            param("headb_\(kind)", "\(n)")
        }
        if space.layers > 1 {
            param("Wprev", "\(H),\(H)")
            param("Wcurr", "\(H),\(H)")
            param("vatt", "\(H),1")
        }
        emit("%zero_state = const {value = 0.0} : f32[N,\(H)]")
        emit("%zero_logit = const {value = 0.0} : f32[N,1]")
        var h = ["zero_state", "zero_state"], c = ["zero_state", "zero_state"]
        var losses: [String] = []
        var outputs: [String] = []
        for t in 0..<T {
            emit("%x\(t) = embedding %emb, %tok\(t)")
            var input = "x\(t)"
            for l in 0..<2 {
                let p = "t\(t)l\(l + 1)"
                emit("%\(p)_xw = matmul %\(input), %W\(l + 1)")
                emit("%\(p)_hu = matmul %\(h[l]), %U\(l + 1)")
                emit("%\(p)_s = add %\(p)_xw, %\(p)_hu")
                emit("%\(p)_z = bias_add %\(p)_s, %b\(l + 1)")
                for (k, gate) in ["i", "f", "o", "g"].enumerated() {
                    emit("%\(p)_\(gate)z = slice %\(p)_z {axis = 1, start = \(k * H), size = \(H)}")
                    emit("%\(p)_\(gate) = \(gate == "g" ? "tanh" : "sigmoid") %\(p)_\(gate)z")
                }
                emit("%\(p)_fc = mul %\(p)_f, %\(c[l])")
                emit("%\(p)_ig = mul %\(p)_i, %\(p)_g")
                emit("%\(p)_c = add %\(p)_fc, %\(p)_ig")
                emit("%\(p)_tc = tanh %\(p)_c")
                emit("%\(p)_h = mul %\(p)_o, %\(p)_tc")
                h[l] = "\(p)_h"
                c[l] = "\(p)_c"
                input = h[l]
            }
            let d = decisions[t]
            let logits = "logits\(t)"
            switch d.kind {
            case .skip(let from, let to):
                let aj = "t\(anchorStep(from))l2_h", ai = "t\(anchorStep(to))l2_h"
                emit("%att\(t)_p = matmul %\(aj), %Wprev")
                emit("%att\(t)_c = matmul %\(ai), %Wcurr")
                emit("%att\(t)_s = add %att\(t)_p, %att\(t)_c")
                emit("%att\(t)_t = tanh %att\(t)_s")
                emit("%att\(t)_v = matmul %att\(t)_t, %vatt")
                emit("%\(logits) = concat %zero_logit, %att\(t)_v")
            default:
                let kind = "\(d.kind)"
                emit("%\(logits)_m = matmul %\(h[1]), %head_\(kind)")
                emit("%\(logits) = bias_add %\(logits)_m, %headb_\(kind)")
            }
            emit("%p\(t) = softmax %\(logits)")
            emit("%nll\(t) = weighted_softmax_cross_entropy %\(logits), %act\(t), %adv\(t)")
            losses.append("nll\(t)")
            outputs.append("p\(t)")
        }
        var total = losses[0]
        for (k, l) in losses.dropFirst().enumerated() {
            emit("%loss_sum\(k) = add %\(total), %\(l)")
            total = "loss_sum\(k)"
        }
        emit("%loss = identity %\(total)")
        let inputs = (0..<T).map { "%tok\($0): i32[N], %act\($0): i32[N], %adv\($0): f32[N]" }.joined(separator: ", ")
        let outs = "loss: f32[], " + outputs.enumerated().map { "\($1): f32[N,\(decisions[$0].options)]" }.joined(separator: ", ")
        return "graph @controller(\(inputs)) -> (\(outs)) {\n" + lines.joined(separator: "\n") + "\n  return %loss, " + outputs.map { "%" + $0 }.joined(separator: ", ") + "\n}\n"
    }
}
