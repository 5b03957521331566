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

    /// One decision as the controller sees it: the head whose logits choose
    /// it (or an attention over two earlier steps' hidden states, for a CNN
    /// skip), and the token fed to the next step for each option.
    public struct Step: Sendable, Equatable {
        public var head: String
        public var options: Int
        public var tokenBase: Int
        /// Attention between these steps' hidden states instead of a head.
        public var attention: (from: Int, to: Int)?

        public static func == (a: Step, b: Step) -> Bool {
            a.head == b.head && a.options == b.options && a.tokenBase == b.tokenBase
                && a.attention?.from == b.attention?.from && a.attention?.to == b.attention?.to
        }
    }

    public let steps: [Step]
    /// The heads, in the order their parameters are declared.
    public let heads: [(name: String, options: Int)]
    /// Token ids: 0 is the start token, then each head's range.
    public let vocabulary: Int

    /// The controller of the NAS-RL CNN space.
    public init(space: CNNSpace) {
        let decisions = space.decisions
        func isSkip(_ d: CNNSpace.Decision) -> Bool { if case .skip = d.kind { return true }; return false }
        // The step whose hidden state is layer k's anchor: its last non-skip decision.
        func anchor(_ layer: Int) -> Int { decisions.lastIndex { $0.layer == layer && !isSkip($0) }! }
        let bases = ["height": 1, "width": 5, "filters": 9, "stride": 13, "skip": 16]
        steps = decisions.map { d in
            if case .skip(let from, let to) = d.kind {
                return Step(head: "skip", options: 2, tokenBase: bases["skip"]!, attention: (anchor(from), anchor(to)))
            }
            let head = "\(d.kind)"
            return Step(head: head, options: d.options, tokenBase: bases[head]!, attention: nil)
        }
        heads = [("height", 4), ("width", 4), ("filters", 4), ("stride", 3)].filter { $0.0 != "stride" || space.strides }
        vocabulary = 18
    }

    /// A controller with one head per kind of decision: step t is decided
    /// by the head named `decisions[t].head`, which has that many options
    /// (every decision of one head must have the same number). Heads and
    /// their token ranges are laid out in the order they first appear.
    public init(decisions: [(head: String, options: Int)]) {
        var heads: [(name: String, options: Int)] = [], base: [String: Int] = [:], next = 1
        steps = decisions.map { d in
            if base[d.head] == nil {
                base[d.head] = next
                next += d.options
                heads.append((d.head, d.options))
            }
            precondition(heads.first { $0.name == d.head }!.options == d.options, "head \(d.head) has decisions of different sizes")
            return Step(head: d.head, options: d.options, tokenBase: base[d.head]!, attention: nil)
        }
        self.heads = heads
        vocabulary = next
    }

    /// The controller of the NAS-RL recurrent cell space: one head per kind
    /// of decision (combination, activation, the cell inject's two, the two
    /// cell indices).
    public init(space: RNNCellSpace) {
        func head(_ kind: RNNCellSpace.Kind) -> String {
            switch kind {
            case .combination: return "combination"
            case .activation: return "activation"
            case .injectCombination: return "inject_combination"
            case .injectActivation: return "inject_activation"
            case .cellOutput: return "cell_output"
            case .cellInput: return "cell_input"
            }
        }
        self.init(decisions: space.decisions.map { (head($0.kind), $0.options) })
    }

    /// The token fed after choosing `choice` at step `t`.
    public func token(_ t: Int, _ choice: Int) -> Int { steps[t].tokenBase + choice }

    public var text: String {
        let H = ControllerGraph.hidden, T = steps.count
        var lines: [String] = []
        func emit(_ s: String) { lines.append("  " + s) }
        func param(_ name: String, _ shape: String) { emit("%\(name) = param {init = uniform, scale = 0.08} : f32[\(shape)]") }
        param("emb", "\(vocabulary),\(H)")
        for l in 1...2 {
            param("W\(l)", "\(H),\(4 * H)")
            param("U\(l)", "\(H),\(4 * H)")
            param("b\(l)", "\(4 * H)")
        }
        for (kind, n) in heads {
            param("head_\(kind)", "\(H),\(n)")
            param("headb_\(kind)", "\(n)")
        }
        if steps.contains(where: { $0.attention != nil }) {
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
            let d = steps[t]
            let logits = "logits\(t)"
            switch d.attention {
            case .some(let (from, to)):
                let aj = "t\(from)l2_h", ai = "t\(to)l2_h"
                emit("%att\(t)_p = matmul %\(aj), %Wprev")
                emit("%att\(t)_c = matmul %\(ai), %Wcurr")
                emit("%att\(t)_s = add %att\(t)_p, %att\(t)_c")
                emit("%att\(t)_t = tanh %att\(t)_s")
                emit("%att\(t)_v = matmul %att\(t)_t, %vatt")
                emit("%\(logits) = concat %zero_logit, %att\(t)_v")
            case .none:
                emit("%\(logits)_m = matmul %\(h[1]), %head_\(d.head)")
                emit("%\(logits) = bias_add %\(logits)_m, %headb_\(d.head)")
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
        let outs = "loss: f32[], " + outputs.enumerated().map { "\($1): f32[N,\(steps[$0].options)]" }.joined(separator: ", ")
        return "graph @controller(\(inputs)) -> (\(outs)) {\n" + lines.joined(separator: "\n") + "\n  return %loss, " + outputs.map { "%" + $0 }.joined(separator: ", ") + "\n}\n"
    }
}
