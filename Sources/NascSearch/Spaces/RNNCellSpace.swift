/// The NAS-RL recurrent cell space (Zoph & Le 2017, section 3.4): a tree of
/// base N (a power of two, default 8) computes h_t from x_t and h_{t-1}.
/// Each of the N leaves is act(comb(W_i x_t, U_i h_{t-1} + b_i)); each level above
/// combines pairs, act(comb(a, b)), up to the root, which is h_t. Per node
/// the controller picks the combination (add or elem_mult) and the
/// activation (identity, tanh, sigmoid, relu). The memory cell: "cell
/// inject" picks how c_{t-1} joins (a combination and an activation), and
/// the two "cell indices" pick the leaf whose output becomes c_t and the
/// leaf whose output c_{t-1} is injected into:
///
///     leaf_in <- inject_act(inject_comb(leaf_in, c_{t-1}))
///
/// So every decision sequence is a valid cell, and a cell is IR like any
/// child: dumped, verified, gradient-checked, compiled.
///
/// Each leaf's h side has a bias (U_i h_{t-1} + b_i, as TensorFlow's
/// NASCell has), initialized away from zero: without it, a cell whose paths
/// all pass through elem_mult of h (or relu) maps h = 0 to h = 0, and with
/// the state starting at zero such a cell outputs zeros forever and no
/// gradient reaches its weights.
public struct RNNCellSpace: Sendable, Equatable {
    public var base: Int
    public static let combinations = ["add", "mul"]          // add, elem_mult
    public static let activations = ["identity", "tanh", "sigmoid", "relu"]

    public init(base: Int = 8) {
        precondition(base >= 2 && base & (base - 1) == 0, "the tree's base must be a power of two, at least 2")
        self.base = base
    }

    /// Tree nodes, leaves first, then each level up to the root.
    public var nodes: Int { 2 * base - 1 }

    public enum Kind: Sendable, Equatable {
        case combination(node: Int), activation(node: Int)
        case injectCombination, injectActivation, cellOutput, cellInput
    }

    public struct Decision: Sendable, Equatable {
        public var kind: Kind
        public var options: Int
    }

    /// Per node its combination and activation, then the cell inject and
    /// the cell indices.
    public var decisions: [Decision] {
        var out: [Decision] = []
        for n in 0..<nodes {
            out.append(Decision(kind: .combination(node: n), options: 2))
            out.append(Decision(kind: .activation(node: n), options: 4))
        }
        out += [Decision(kind: .injectCombination, options: 2), Decision(kind: .injectActivation, options: 4),
                Decision(kind: .cellOutput, options: base), Decision(kind: .cellInput, options: base)]
        return out
    }

    /// The cell as IR: inputs x (input features), h and c (hidden); outputs h and c.
    public func ir(_ choices: [Int], name: String = "cell", inputSize: Int = 32, hidden: Int = 64) -> String {
        let ds = decisions
        precondition(choices.count == ds.count, "expected \(ds.count) decisions, got \(choices.count)")
        precondition(zip(ds, choices).allSatisfy { 0 <= $1 && $1 < $0.options }, "a decision is out of range")
        func combination(_ n: Int) -> String { Self.combinations[choices[2 * n]] }
        func activation(_ n: Int) -> String { Self.activations[choices[2 * n + 1]] }
        let tail = 2 * nodes
        let (injectComb, injectAct) = (Self.combinations[choices[tail]], Self.activations[choices[tail + 1]])
        let (cellOut, cellIn) = (choices[tail + 2], choices[tail + 3])

        var lines: [String] = []
        func emit(_ s: String) { lines.append("  " + s) }
        func act(_ f: String, _ v: String, _ result: String) { emit("%\(result) = \(f) %\(v)") }
        var level: [String] = []
        for i in 0..<base {
            emit("%W\(i) = param {init = uniform, scale = 0.08} : f32[\(inputSize),\(hidden)]")
            emit("%U\(i) = param {init = uniform, scale = 0.08} : f32[\(hidden),\(hidden)]")
            emit("%b\(i) = param {init = uniform, scale = 0.08} : f32[\(hidden)]")
            emit("%xw\(i) = matmul %x, %W\(i)")
            emit("%hu\(i).raw = matmul %h, %U\(i)")
            emit("%hu\(i) = bias_add %hu\(i).raw, %b\(i)")
            emit("%z\(i) = \(combination(i)) %xw\(i), %hu\(i)")
            act(activation(i), "z\(i)", "a\(i)")
            level.append("a\(i)")
        }
        emit("%c_next = identity %\(level[cellOut])")
        emit("%inj_z = \(injectComb) %\(level[cellIn]), %c")
        act(injectAct, "inj_z", "inj")
        level[cellIn] = "inj"
        var node = base
        while level.count > 1 {
            var next: [String] = []
            for k in stride(from: 0, to: level.count, by: 2) {
                emit("%z\(node) = \(combination(node)) %\(level[k]), %\(level[k + 1])")
                act(activation(node), "z\(node)", "a\(node)")
                next.append("a\(node)")
                node += 1
            }
            level = next
        }
        emit("%h_next = identity %\(level[0])")
        return "graph @\(name)(%x: f32[N,\(inputSize)], %h: f32[N,\(hidden)], %c: f32[N,\(hidden)]) -> (h: f32[N,\(hidden)], c: f32[N,\(hidden)]) {\n"
            + lines.joined(separator: "\n") + "\n  return %h_next, %c_next\n}\n"
    }
}

extension RNNCellSpace: SearchSpace {
    public var kind: SpaceKind { .rnnCell }
    public var decisionOptions: [Int] { decisions.map(\.options) }
    public var controller: ControllerGraph { ControllerGraph(space: self) }
    public var settings: [String: Any] { ["space": "rnn-cell", "base": base] }
    public var summary: String { "cells of base \(base)" }
}
