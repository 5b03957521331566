import ArgumentParser
import Foundation
import NascData
import NascIR
import NascInterpreter
import NascLLVM
import NascPasses
import NascRuntime

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure compile latency, training throughput and memory on a suite of NAS-RL children.",
        discussion: """
            For each child of the suite (1 to 12 layers of conv + batch norm + \
            ReLU with mixed kernel shapes, filters and skip connections, on \
            28x28x1 images): the time from IR to a compiled training step \
            with an empty kernel cache (cold: linking what the kernel \
            library holds, see nasc cache --help; and with no library), with \
            the kernels of the children before it in the cache (as in a search: kernels that \
            differ only in shape are shared), and with all its own (warm), the \
            median training-step throughput over --steps steps (SGD with \
            momentum, batch --batch) and its GFLOP/s (every op of forward, \
            backward and update; compare OpenBLAS's own sgemm rate, measured \
            first), and the memory the step needs (arena, workspace, \
            parameters and optimizer state, as planned; and resident: the \
            peak of the process's resident memory over compiling and \
            running the step, less what was resident before).

            Given IR files, it measures those children instead of the \
            suite (each a training graph with an image input %x and labels \
            %y, as nasc sample and nasc search write them), named after \
            their files: children the suite does not contain, so that a \
            speed-up is checked beyond the eight it was tuned on.

            Tests/Benchmarks/peer.py runs this and the same children in \
            PyTorch side by side and prints the ratios; see docs/performance.md.

            Examples:
              nasc bench
              nasc sample --layers 8 --pool-every 2 --seed 5 > s5.nasir && nasc bench s5.nasir
              nasc bench --steps 10 --threads 2 --json bench.json --children-dir /tmp/children
            """)

    @Argument(help: "IR files of children to measure instead of the built-in suite.")
    var files: [String] = []

    @Option(help: "Batch size.")
    var batch = 128

    @Option(help: "Timed training steps per child (after one warm-up step).")
    var steps = 5

    @OptionGroup var threadFlags: ThreadFlags
    var threads: Int { threadFlags.threads }

    @Option(help: "Only these children (comma-separated names, e.g. c1,c3).")
    var only: String?

    @Flag(help: "After each child, list its kernels by time spent in them.")
    var profile = false

    @Option(help: "With --profile: how many lines to list (kernels fusing the same ops are one line).")
    var profileLines = 12

    @Option(help: "Write the results as JSON to this file.")
    var json: String?

    @Option(help: "Write each child's IR and initial parameters (raw little-endian f32, in param order) to this folder.")
    var childrenDir: String?

    func validate() throws {
        try FlagCheck.int(steps, "--steps", 1...100_000)
        try FlagCheck.int(batch, "--batch", 1...FlagCheck.largeCount)
    }

    /// The children to measure: the files given, else the built-in suite.
    func children() throws -> [(name: String, text: String, forward: Graph)] {
        guard !files.isEmpty else {
            return try BenchmarkSuite.children.map { name, layers in
                let text = BenchmarkSuite.ir(name, layers)
                return (name, text, try Verifier.parseAndVerify(Array(text.utf8)))
            }
        }
        var names = Set<String>()
        return try files.map { path in
            let name = ((path as NSString).lastPathComponent as NSString).deletingPathExtension
            guard names.insert(name).inserted else {
                throw CommandError("\(path): error: another file given is also named '\(name)'; children are named after their files")
            }
            let (forward, text) = try IRInput.loadWithText(path)
            for (input, rank) in [("x", 4), ("y", 1)] where forward.inputs.first(where: { $0.name == input })?.type.dims.count != rank {
                throw CommandError("\(path): error: nasc bench trains a CNN child: it needs an input %\(input) of rank \(rank) (%x images N,C,H,W; %y labels N)")
            }
            return (name, text, forward)
        }
    }

    func run() throws {
        try reportingErrors { try measure() }
    }

    func measure() throws {
        let settings = ExecutionSettings(threads: threads)
        let chosen = only.map { Set($0.split(separator: ",").map(String.init)) }
        let all = try children()
        if let unknown = chosen?.subtracting(all.map(\.name)).sorted(), !unknown.isEmpty {
            throw CommandError("error: --only names no child called \(unknown.joined(separator: ", ")) (children: \(all.map(\.name).joined(separator: ", ")))")
        }
        let children = all.filter { chosen?.contains($0.name) ?? true }
        let nameWidth = max(7, (children.map(\.name.count).max() ?? 0) + 2)
        var rows: [[String: Any]] = []
        // Kernel caches as a user's first run has them: empty, in memory and
        // on disk (a fresh folder each, so nothing is read from disk).
        // `sequence` then fills as a search's would: every earlier child's kernels.
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("nasc-bench-kernels-\(getpid())")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let library = KernelCache.defaultLibrary()
        let sequence = KernelCache(directory: scratch.appendingPathComponent("sequence"), library: library)
        let peak = BLASPeak.sgemm(threads: threads)
        print(String(format: "OpenBLAS sgemm 1024x1024x1024 on %d thread(s): %.0f GFLOP/s (the step's GFLOP/s below count every op of forward, backward and update)", threads, peak))
        let libraryKernels = library.map { (try? KernelLibrary.kernels(in: $0)) ?? 0 } ?? 0
        print(library.map { "kernel library: \($0.path), \(libraryKernels) kernels (cold compiles link from it; 'no library' compiles every kernel)" }
              ?? "no kernel library (make release builds one; see nasc cache --help): cold compiles compile every kernel")
        print("child".padding(toLength: nameWidth, withPad: " ", startingAt: 0) + "layers  MFLOP/img  compile cold  no library  after earlier  warm     step (median)  images/s  GFLOP/s  memory")
        for (name, text, forward) in children {
            let layers = forward.nodes.filter { $0.op == .conv2d }.count
            let sources = Initializers.initializeAll(forward, seed: 0)
            if let dir = childrenDir {
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
                try text.writeWhole(to: "\(dir)/\(name).nasir")
                var bytes = Data()
                for n in forward.nodes where n.op == .param {
                    for v in sources[n.result]!.data { withUnsafeBytes(of: Float(v).bitPattern.littleEndian) { bytes.append(contentsOf: $0) } }
                }
                try bytes.writeWhole(to: "\(dir)/\(name).params")
            }
            let options = TrainingOptions(optimizer: .sgd(momentum: 0.9, nesterov: false))
            var start = Date()
            do {
                _ = try CompiledGraph.compile(try Pipeline.run(forward, upTo: .train, options), maxBatch: batch, settings: settings,
                                              cache: KernelCache(directory: scratch.appendingPathComponent(name + "-alone")))
            } catch {
                throw CommandError("\(name): error: its training step does not compile: \(error)")
            }
            let coldAlone = Date().timeIntervalSince(start)
            let cache = KernelCache(directory: scratch.appendingPathComponent(name), library: library)
            // Resident memory from here to the last step: the compiled step,
            // its arena, workspaces, weights and optimizer state as touched.
            let peakReset = ResidentMemory.resetPeak()
            let residentBefore = ResidentMemory.current() ?? 0
            start = Date()
            let compiled = try CompiledGraph.compile(try Pipeline.run(forward, upTo: .train, options), maxBatch: batch, settings: settings, cache: cache)
            let cold = Date().timeIntervalSince(start)
            start = Date()
            _ = try CompiledGraph.compile(try Pipeline.run(forward, upTo: .train, options), maxBatch: batch, settings: settings, cache: cache)
            let warm = Date().timeIntervalSince(start)
            start = Date()
            _ = try CompiledGraph.compile(try Pipeline.run(forward, upTo: .train, options), maxBatch: batch, settings: settings, cache: sequence)
            let afterEarlier = Date().timeIntervalSince(start)
            try compiled.setSources(sources)
            var inputs = RandomInputs.make(forward, batch: batch, seed: 1)
            inputs["lr"] = .scalar(0.01)
            // As a trainer runs it: f32 inputs, and only the loss read back.
            let (floats, ints, _) = try compiled.kernelInputs(inputs)
            var times: [Double] = []
            for i in 0...steps {
                if i == 1 && profile { compiled.startProfiling() }
                let t = Date()
                _ = try compiled.run(floats: floats, ints: ints, batch: batch, reading: [options.loss])
                if i > 0 { times.append(Date().timeIntervalSince(t)) }
            }
            times.sort()
            let resident = peakReset ? max((ResidentMemory.peak() ?? 0) - residentBefore, 0) : nil
            let median = times[times.count / 2]
            let paramBytes = compiled.graph.nodes.filter { $0.op == .param || $0.op == .state }
                .reduce(0) { $0 + MemoryPlan.bytes($1.type!, batch: 1) }
            let memory = compiled.plan.peakBytes + compiled.workspaceBytes + paramBytes
            let mflops = Double(GraphStatistics(forward).flopsPerExample) / 1e6
            let step = GraphStatistics(compiled.graph)
            let gflops = Double(step.flopsPerExample * batch + step.flopsPerStep) / median / 1e9
            let compiles = String(format: "%11.1f ms%9.1f ms%12.1f ms%7.1f ms", cold * 1000, coldAlone * 1000, afterEarlier * 1000, warm * 1000)
            let speed = String(format: "%12.1f ms%10.0f%9.1f", median * 1000, Double(batch) / median, gflops)
            let held = resident.map { " (resident " + MemoryPlan.human($0) + ")" } ?? ""
            print(name.padding(toLength: nameWidth, withPad: " ", startingAt: 0) + String(layers).leftPad(6) + String(format: "%11.1f", mflops)
                  + compiles + speed + "  " + MemoryPlan.human(memory) + held)
            rows.append(["name": name, "layers": layers, "mflops_per_image": mflops, "compile_cold_s": cold, "compile_cold_no_library_s": coldAlone, "compile_after_earlier_s": afterEarlier, "compile_warm_s": warm,
                         "step_median_s": median, "images_per_s": Double(batch) / median, "gflops_per_s": gflops, "memory_bytes": memory, "resident_bytes": resident ?? -1,
                         "kernels": compiled.timings.kernels, "distinct_kernels": compiled.timings.distinctKernels])
            if profile, let seconds = compiled.kernelSeconds { printProfile(compiled, seconds) }
        }
        if let json {
            let data = try JSONSerialization.data(withJSONObject: ["batch": batch, "threads": threads, "library_kernels": libraryKernels, "sgemm_gflops_per_s": peak, "children": rows], options: [.prettyPrinted, .sortedKeys])
            try data.writeWhole(to: json)
        }
    }

    /// The kernels that take the most time, with the ops they fuse.
    func printProfile(_ compiled: CompiledGraph, _ seconds: [Double]) {
        printKernelProfile(compiled, seconds, steps: steps, lines: profileLines)
    }
}

/// The kernels that took the most time, per step. Kernels fusing the same
/// ops are one line (the time steps of an unrolled model, the layers of a
/// deep child), with how many there are.
func printKernelProfile(_ compiled: CompiledGraph, _ seconds: [Double], steps: Int, lines: Int = 12) {
    let total = seconds.reduce(0, +)
    // Kernels that fuse the same ops into a value of the same type do the same work.
    var groups: [String: (seconds: Double, count: Int, first: String)] = [:]
    for (k, kernel) in compiled.kernels.enumerated() {
        let ops = kernel.ops.joined(separator: " ") + " -> " + kernel.result
        let g = groups[ops] ?? (0, 0, kernel.name)
        groups[ops] = (g.seconds + seconds[k], g.count + 1, g.first)
    }
    print("  kernel       count   ms/step   share  ops")
    for (ops, g) in groups.sorted(by: { $0.value.seconds > $1.value.seconds }).prefix(lines) {
        print("  " + g.first.padding(toLength: 9, withPad: " ", startingAt: 0) + String(format: "%8d %9.2f  %5.1f%%  ", g.count, g.seconds * 1000 / Double(max(steps, 1)), 100 * g.seconds / max(total, 1e-12)) + ops)
    }
}
