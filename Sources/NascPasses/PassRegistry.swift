import NascIR

/// Every graph-to-graph pass by the name `nasc opt --passes=` uses.
public enum PassRegistry {
    public typealias Pass = (Graph, TrainingOptions) throws(PassError) -> Graph

    public static let passes: [(name: String, summary: String, run: Pass)] = [
        ("autodiff", "add the backward pass: grad.<param> outputs", { g, o throws(PassError) in try Autodiff.run(g, loss: o.loss) }),
        ("running-stats", "update batch-norm running statistics: next.<state> outputs", { g, _ throws(PassError) in try RunningStatistics.run(g) }),
        ("optimizer", "turn grad.<param> outputs into optimizer updates: next.<name> outputs", { g, o throws(PassError) in
            try OptimizerUpdate.run(g, optimizer: o.optimizer, weightDecay: o.weightDecay) }),
        ("canonicalize", "drop identities, fold constants", { g, _ throws(PassError) in try Canonicalize.run(g) }),
        ("cse", "merge identical computations", { g, _ throws(PassError) in try CommonSubexpressions.run(g) }),
        ("dce", "remove nodes no output needs", { g, _ throws(PassError) in try GraphBuilder(try DeadCodeElimination.run(g)).finish(pass: "dce") }),
        ("fuse", "group ops into kernels", { g, _ throws(PassError) in try Fusion.run(g) }),
    ]

    public static func pass(named name: String) -> Pass? { passes.first { $0.name == name }?.run }
}
