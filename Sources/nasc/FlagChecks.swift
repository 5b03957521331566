import ArgumentParser
import NascIR
import NascTraining

/// Range checks for numeric flags. Every message names the flag, its valid
/// range and the value given, so `nasc train --limit -1` says what to type.
enum FlagCheck {
    /// The largest batch, step or image count a flag takes: sizes beyond it
    /// overflow 32-bit indexing long before they fit in memory.
    static let largeCount = Int(Int32.max)

    static func int(_ value: Int, _ flag: String, _ range: ClosedRange<Int>) throws {
        guard range.contains(value) else {
            let valid = range.upperBound >= largeCount ? "at least \(range.lowerBound)" : "from \(range.lowerBound) to \(range.upperBound)"
            throw ValidationError("\(flag) must be an integer \(valid), got \(value)")
        }
    }

    static func int(_ value: Int?, _ flag: String, _ range: ClosedRange<Int>) throws {
        if let value { try int(value, flag, range) }
    }

    /// A finite number in the given interval (open at an end where told).
    static func real(_ value: Double, _ flag: String, above low: Double? = nil, atLeast min: Double? = nil,
                     below high: Double? = nil, atMost max: Double? = nil) throws {
        var parts: [String] = []
        if let low { parts.append("greater than \(low)") }
        if let min { parts.append("at least \(min)") }
        if let high { parts.append("less than \(high)") }
        if let max { parts.append("at most \(max)") }
        let ok = value.isFinite && low.map { value > $0 } ?? true && min.map { value >= $0 } ?? true
            && high.map { value < $0 } ?? true && max.map { value <= $0 } ?? true
        guard ok else {
            throw ValidationError("\(flag) must be a finite number\(parts.isEmpty ? "" : " " + parts.joined(separator: " and ")), got \(value)")
        }
    }
}

/// `--threads`, for every command that runs compiled kernels.
struct ThreadFlags: ParsableArguments {
    @Option(help: "Threads, for batch chunks of kernels and for OpenBLAS (1 to 256).")
    var threads = 2

    func validate() throws { try FlagCheck.int(threads, "--threads", 1...256) }
}

/// `--allow-other-graph`, for every command that loads a checkpoint into a graph.
struct CheckpointFlags: ParsableArguments {
    @Flag(help: "Use a checkpoint saved from another graph whose parameter shapes match (refused by default: the weights would compute something else).")
    var allowOtherGraph = false

    /// A checkpoint's weights for `graph`: every tensor the graph reads, of
    /// its shape, from this graph unless --allow-other-graph; a CommandError
    /// naming the file otherwise.
    func weights(_ path: String, for graph: NascIR.Graph) throws -> Checkpoint {
        let checkpoint = try saved(path, from: graph)
        do { try checkpoint.check(against: graph, path: path) } catch { throw CommandError("\(error)") }
        return checkpoint
    }

    /// A checkpoint saved from `graph` (or any graph with --allow-other-graph),
    /// whatever model it was part of: a language model's, from its cell.
    func saved(_ path: String, from graph: NascIR.Graph) throws -> Checkpoint {
        do {
            let checkpoint = try Checkpoint.read(path)
            try checkpoint.checkGraph(graph, path: path, allowOther: allowOtherGraph)
            return checkpoint
        } catch { throw CommandError("\(error)") }
    }
}

/// The architecture and trained weights of every command that ships a
/// trained model (emit-c, export-onnx).
struct TrainedModel: ParsableArguments {
    @Argument(help: "The architecture.")
    var file: String

    @Option(help: "A checkpoint from nasc train --save.")
    var weights: String

    @OptionGroup var checkpointFlags: CheckpointFlags

    /// The graph and the checkpoint's tensors for it; a CommandError naming the file otherwise.
    func load() throws -> (graph: NascIR.Graph, weights: [String: Tensor]) {
        let graph = try IRInput.load(file)
        return (graph, try checkpointFlags.weights(weights, for: graph).tensors)
    }
}
