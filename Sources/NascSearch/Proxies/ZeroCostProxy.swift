import NascIR
import NascInterpreter
import NascPasses
import NascRuntime

/// A zero-cost proxy scores an untrained child from one minibatch, with no
/// training at all (Mellor et al. 2021; Abdelfattah et al. 2021): a search
/// can screen many proposals by it and train only the promising ones. Each
/// proxy compiles one graph derived from the child's training graph (the
/// spaces' graphs: %x images, %y labels, outputs loss and logits) and runs
/// it once, at the child's initial weights.
public protocol ZeroCostProxy: Sendable {
    var kind: ProxyKind { get }
    /// The score of `child` at the weights `Initializers` gives it for
    /// `seed`; larger predicts more accurate.
    func score(_ child: Graph, on batch: ProxyBatch, seed: UInt64, threads: Int) throws -> Double
}

/// The proxies nasc computes.
public enum ProxyKind: String, CaseIterable, Sendable {
    /// NASWOT (Mellor et al. 2021): log |det K| of the images' agreement
    /// matrix over every ReLU's on/off code.
    case naswot
    /// SynFlow (Tanaka et al. 2020): sum of |theta * dR/dtheta|, R the sum
    /// of the logits of an all-ones image through |theta|, batch norm at
    /// its initial statistics.
    case synflow
    /// The gradient's norm on one minibatch.
    case gradNorm = "grad-norm"
    /// SNIP (Lee et al. 2019): sum of |theta * dL/dtheta| on one minibatch.
    case snip

    public var proxy: any ZeroCostProxy {
        switch self {
        case .naswot: return NASWOT()
        case .synflow: return SynFlow()
        case .gradNorm, .snip: return GradientProxy(kind: self)
        }
    }
}

/// One minibatch of images as the child's %x and %y take them.
public struct ProxyBatch: Sendable {
    public var images: [Float]
    public var labels: [Int32]
    public var count: Int { labels.count }

    public init(images: [Float], labels: [Int32]) {
        precondition(!labels.isEmpty && images.count % labels.count == 0, "a batch of \(labels.count) labels and \(images.count) pixels")
        self.images = images
        self.labels = labels
    }
}

public struct ProxyError: Error, CustomStringConvertible {
    public var description: String
    init(_ message: String) { description = message }
}

extension ZeroCostProxy {
    /// `graph` compiled for `batch` examples at `child`'s initial weights
    /// (taken by name: derived graphs keep the child's names).
    func compiled(_ graph: Graph, initialOf child: Graph, seed: UInt64, batch: Int, threads: Int,
                  sources: (([String: Tensor]) -> [String: Tensor])? = nil) throws -> CompiledGraph {
        let compiled = try CompiledGraph.compile(graph, maxBatch: batch, settings: ExecutionSettings(threads: threads))
        let initial = Initializers.initializeAll(child, seed: seed)
        try compiled.setSources(matching: sources?(initial) ?? initial)
        return compiled
    }

    /// The child's image input and its label input, by the spaces' names.
    func checkInputs(_ child: Graph) throws {
        guard child.inputs.contains(where: { $0.name == "x" }), child.inputs.contains(where: { $0.name == "y" }),
              child.outputs.contains(where: { $0.label == "loss" }), child.outputs.contains(where: { $0.label == "logits" }) else {
            throw ProxyError("@\(child.name): a proxy scores a classifier's training graph (inputs %x and %y, outputs loss and logits), as nasc search and nasc sample write them")
        }
    }
}
