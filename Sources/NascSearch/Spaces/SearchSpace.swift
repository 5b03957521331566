import Foundation
import NascIR
import NascPasses

/// The spaces `nasc search --space` explores.
public enum SpaceKind: String, CaseIterable, Sendable {
    /// NAS-RL's macro space of convolutional layers and skips (CNNSpace).
    case cnn
    /// NASNet/ENAS cells of separable convolutions, pools and identities (CellSpace).
    case cells
    /// NAS-RL's recurrent cell, trained as a language model (RNNCellSpace).
    case rnnCell = "rnn-cell"
}

/// A search space as every strategy sees it: a sequence of decisions, each
/// with a number of options, and the controller that emits them. What the
/// decisions build is the space's own business (an image classifier, a
/// recurrent cell); strategies, the store and ASHA only ever handle the
/// decision sequences.
public protocol SearchSpace: Sendable {
    var kind: SpaceKind { get }
    /// The number of options of each decision, in the order they are made.
    var decisionOptions: [Int] { get }
    /// The decision alphabet as the REINFORCE controller's LSTM emits it:
    /// one head per kind of decision, and the tokens fed back.
    var controller: ControllerGraph { get }
    /// Whether `count` decisions make a child: the whole sequence, or (for
    /// a space whose children grow during a search) a prefix of it.
    func makesChild(decisions count: Int) -> Bool
    /// One sequence for every set of choices that builds the same child
    /// (the operands of an add swapped, say), so that equivalent proposals
    /// are recognised before anything trains.
    func canonical(_ choices: [Int]) -> [Int]
    /// What makes two runs' decisions mean the same children (search.json).
    var settings: [String: Any] { get }
    /// The space in a few words, for logs.
    var summary: String { get }
}

extension SearchSpace {
    public func makesChild(decisions count: Int) -> Bool { count == decisionOptions.count }
    public func canonical(_ choices: [Int]) -> [Int] { choices }
    /// The uniform distribution's entropy over children, in nats: where the
    /// controller starts, and what its falling entropy is measured against.
    public var uniformEntropy: Double { decisionOptions.reduce(0) { $0 + log(Double($1)) } }

    /// The message for choices that make no child, nil when they do.
    public func problem(with choices: [Int]) -> String? {
        guard makesChild(decisions: choices.count) else {
            return "\(choices.count) decisions make no child of this space (\(summary): \(decisionOptions.count) decisions)"
        }
        for (i, (c, n)) in zip(choices, decisionOptions).enumerated() where c < 0 || c >= n {
            return "decision \(i + 1) is \(c), but it has \(n) options (0...\(n - 1))"
        }
        return nil
    }
}

/// The images an image space builds children for.
public struct ImageShape: Equatable, Sendable {
    public var channels: Int, size: Int, classes: Int
    public init(channels: Int = 1, size: Int = 28, classes: Int = 10) {
        (self.channels, self.size, self.classes) = (channels, size, classes)
    }
}

/// A space whose children are image classifiers: decisions build an IR
/// graph with image input `%x`, labels `%y`, outputs loss and logits.
public protocol ImageSpace: SearchSpace {
    /// The child as IR text; `width` scales its channel counts (retraining).
    func ir(_ choices: [Int], name: String, image: ImageShape, width: Double) -> String
    /// The first setting that differs from `now`'s, as "FLAG old, not new".
    func difference(from now: any ImageSpace) -> String?
}

extension ImageSpace {
    /// The child as a verified graph: what the search hashes (dedup) and
    /// costs before it trains (GraphStatistics: parameters, FLOPs per
    /// image, what --max-mflops screens by).
    public func graph(_ choices: [Int], name: String, image: ImageShape, width: Double = 1) throws -> Graph {
        try Verifier.parseAndVerify(Array(ir(choices, name: name, image: image, width: width).utf8))
    }
}

/// Reads an image space back from the settings it recorded (search.json or
/// the store); folders from before `space` was recorded hold CNN searches.
public func imageSpace(json: [String: Any]) -> (any ImageSpace)? {
    let named = json["space"] as? String
    guard let kind = named.map(SpaceKind.init(rawValue:)) ?? .cnn else { return nil }
    switch kind {
    case .cnn: return CNNSpace(json: json)
    case .cells: return CellSpace(json: json)
    case .rnnCell: return nil
    }
}
