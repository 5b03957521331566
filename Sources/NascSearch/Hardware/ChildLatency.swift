import Dispatch
import NascIR
import NascPasses
import NascRuntime

/// A child's inference latency as deployed on one core: its inference graph
/// (batch norm on running statistics) JIT-compiled for batch 1 on one
/// thread, run on one image; the median of `runs` timed runs after
/// `warmUp` untimed ones. Measured by the worker that trained the child,
/// right after training, beside whatever else the machine runs: a figure
/// to rank children by, noisier than a benchmark on an idle machine. With
/// the `emittedC` target, the same for the child's emitted C (EmittedCLatency).
public enum ChildLatency {
    public static let warmUp = 3
    public static let runs = 25

    /// Milliseconds per image, as the JIT runs it or as emitted C.
    public static func measure(_ graph: Graph, weights: [String: Tensor], target: LatencyTarget = .jit, image: [Float], label: Int32,
                               runs: Int = ChildLatency.runs) throws -> Double {
        switch target {
        case .jit: return try jit(graph, weights: weights, image: image, label: label, runs: runs)
        case .emittedC: return try EmittedCLatency.measure(graph, weights: weights, image: image, warmUp: warmUp, runs: runs)
        }
    }

    static func jit(_ graph: Graph, weights: [String: Tensor], image: [Float], label: Int32, runs: Int) throws -> Double {
        let compiled = try CompiledGraph.compile(try InferenceGraph.run(graph), maxBatch: 1, settings: ExecutionSettings(threads: 1))
        try compiled.setSources(matching: weights)
        var times: [Double] = []
        for k in 0..<(warmUp + runs) {
            let start = DispatchTime.now().uptimeNanoseconds
            _ = try compiled.run(floats: ["x": image], ints: ["y": [label]], batch: 1, reading: ["logits"])
            if k >= warmUp { times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6) }
        }
        return times.sorted()[times.count / 2]
    }
}
