import NascIR

/// The stages that turn a forward graph (with a loss) into a training step.
/// `nasc dump-ir --after STAGE` prints the graph after any of them.
public enum Stage: String, CaseIterable, Sendable {
    /// The verified forward graph as written.
    case verify
    /// Plus the backward pass: `grad.<param>` outputs.
    case autodiff
    /// Plus batch-norm running statistics and optimizer updates: `next.<name>` outputs.
    case train
    /// Canonicalized, common subexpressions merged, dead code removed.
    case optimize
    /// Ops grouped into kernels.
    case fuse
    /// The fused graph with its memory plan (printed as comments after it).
    case plan
}

/// Settings of a training step.
public struct TrainingOptions: Sendable {
    public var loss = "loss"
    public var optimizer = Optimizer.sgd(momentum: 0.9, nesterov: false)
    public var weightDecay = 0.0
    /// Scale all gradients together so that their global norm is at most
    /// this (nil: no clipping), as recurrent models are trained.
    public var clipNorm: Double? = nil

    public init(loss: String = "loss", optimizer: Optimizer = .sgd(momentum: 0.9, nesterov: false), weightDecay: Double = 0,
                clipNorm: Double? = nil) {
        self.loss = loss
        self.optimizer = optimizer
        self.weightDecay = weightDecay
        self.clipNorm = clipNorm
    }
}

public enum Pipeline {
    /// Runs the stages up to and including `stage` on a verified graph.
    public static func run(_ graph: Graph, upTo stage: Stage, _ options: TrainingOptions = TrainingOptions()) throws(PassError) -> Graph {
        if stage == .verify { return graph }
        let differentiated = try Autodiff.run(graph, loss: options.loss)
        if stage == .autodiff { return differentiated }
        let withStatistics = try RunningStatistics.run(differentiated)
        let training = try OptimizerUpdate.run(withStatistics, optimizer: options.optimizer, weightDecay: options.weightDecay,
                                                  clipNorm: options.clipNorm)
        if stage == .train { return training }
        let optimized = try simplify(training)
        if stage == .optimize { return optimized }
        return try Fusion.run(optimized)
    }

    /// The graph as the backend compiles it: simplified and fused, or as it
    /// is when it is fused already (`nasc opt --passes=...,fuse` output).
    /// The one place, with `run`, that orders the passes.
    public static func forCompiling(_ graph: Graph) throws(PassError) -> Graph {
        graph.nodes.contains { $0.kernel != nil } ? graph : try Fusion.run(try simplify(graph))
    }

    /// canonicalize, cse, dce.
    public static func simplify(_ graph: Graph) throws(PassError) -> Graph {
        try CommonSubexpressions.run(try Canonicalize.run(graph))
    }
}
