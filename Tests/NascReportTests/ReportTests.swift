import Foundation
import NascData
import NascIR
import NascPasses
import NascReport
import NascSearch
import NascTestSupport
import XCTest

/// `nasc report` and `nasc dot`: pages for runs of every size and state,
/// rendered by a real browser (headless Chromium, which `make test`
/// installs), and drawings of graphs at every stage.
final class ReportTests: XCTestCase {
    func directory() throws -> String {
        let d = NSTemporaryDirectory() + "nasc-report-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: d) }
        return d
    }

    static let settings: [String: Any] = ["layers": 2, "pool_every": 1, "channels": 1, "size": 8, "classes": 4, "strategy": "evolution", "children": 1000]

    /// A run of `count` made-up children: some failed, some with NaN rewards.
    static func syntheticRun(_ count: Int, name: String = "synthetic") -> RunData {
        var rng = SeededGenerator(seed: 3)
        let space = CNNSpace(layers: 2, poolEvery: 1)
        let trials = (0..<count).map { i -> TrialStore.Trial in
            let accuracy = 0.5 + rng.unit() * 0.4
            let failed = i % 17 == 5, nan = i % 23 == 7
            return TrialStore.Trial(id: i + 1, strategy: "evolution", decisions: space.decisions.map { rng.index($0.options) }, hash: String(format: "%016x", i * 7919),
                                    reward: failed ? 0 : nan ? .nan : pow(accuracy, 3), validationAccuracy: failed ? 0 : accuracy,
                                    parameters: 1000 + i * 13 % 5000, flops: 100_000 + i * 7919 % 900_000, compileSeconds: 0.1, trainSeconds: 1 + rng.unit(),
                                    status: failed ? "crashed" : "ok", error: failed ? "tried 2 time(s), its worker died each time; the last: killed by signal 11 (SIGSEGV)" : "",
                                    job: i + 1, worker: "vm:\(100 + i % 2)", created: String(format: "2026-11-30 10:%02d:%02d", i / 60 % 60, i % 60))
        }
        return RunData(name: name, settings: settings, trials: trials, updates: [])
    }

    func count(_ needle: String, in text: String) -> Int { text.components(separatedBy: needle).count - 1 }

    /// Runs with 0, 1 and 1,000 children, failures and NaN rewards: every
    /// page renders, with one leaderboard row per child and its charts.
    func testReportsOfEverySizeRender() throws {
        for n in [0, 1, 1000] {
            let html = Report.html([Self.syntheticRun(n)])
            XCTAssertTrue(html.hasPrefix("<!DOCTYPE html>"), "\(n)")
            XCTAssertEqual(count("<tr", in: html.components(separatedBy: "<tbody>").last ?? ""), n, "\(n): one leaderboard row per child")
            XCTAssertFalse(html.contains("<script src") || html.contains("<link") || html.contains("http://") && !html.contains("http://www.w3.org"),
                           "\(n): nothing is fetched")
            // Every link (leaderboard rows, chart points) leads to its child.
            let targets = Set(html.components(separatedBy: "href=\"#").dropFirst().map { String($0.prefix { $0 != "\"" }) })
            let anchors = Set(html.components(separatedBy: "id=\"").dropFirst().map { String($0.prefix { $0 != "\"" }) })
            XCTAssertEqual(targets.subtracting(anchors), [], "\(n): links without a target")
            XCTAssertEqual(targets.count, n, "\(n): one child to link to per trial")
            if n == 0 { XCTAssertTrue(html.contains("nothing to draw yet")) }
            if n == 1000 {
                XCTAssertTrue(html.contains("non-finite reward are not drawn"), "NaN rewards are counted, not drawn")
                XCTAssertEqual(count("role=\"img\"", in: html), 5, "rewards, two costs, the strategy, the time")
                XCTAssertTrue(html.contains("Pareto front"))
            }
        }
    }

    func testTheParetoFrontIsTheUndominatedChildren() {
        let run = Self.syntheticRun(300)
        let front = RunData.paretoFront(run.succeeded) { $0.flops }
        XCTAssertFalse(front.isEmpty)
        for t in run.succeeded {
            let dominatedOrOnFront = front.contains { $0.flops <= t.flops && $0.validationAccuracy >= t.validationAccuracy }
            XCTAssertTrue(dominatedOrOnFront, "trial \(t.id) is neither on the front nor beaten by it")
        }
        for (a, b) in zip(front, front.dropFirst()) { XCTAssertTrue(a.flops <= b.flops && a.validationAccuracy < b.validationAccuracy) }
    }

    /// A multi-objective run's front is listed (its children, linked);
    /// a single-objective run has no such table.
    func testAMultiObjectiveRunListsItsFront() {
        let base = Self.syntheticRun(60)
        let trials = base.trials.map { t -> TrialStore.Trial in
            var t = t
            t.latencyMs = Double(t.flops) / 1e6
            return t
        }
        var settings = Self.settings
        settings["objectives"] = "accuracy,latency"
        let run = RunData(name: "mo", settings: settings, trials: trials, updates: [])
        XCTAssertFalse(run.front.isEmpty)
        let html = Report.html([run])
        XCTAssertTrue(html.contains("The searches' Pareto fronts"))
        for m in run.front { XCTAssertTrue(html.contains("href=\"#r0-t\(m.trial.id)\""), "front trial \(m.trial.id)") }
        XCTAssertEqual(run.front.map(\.trial.id), ParetoFront.of(trials, reevaluated: [:], objectives: [.accuracy, .latency]).map(\.trial.id))
        XCTAssertFalse(Report.html([base]).contains("The searches' Pareto fronts"))
    }

    // MARK: In a browser

    static var chromium: String? {
        ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"].first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Loads a page in headless Chromium: its DOM after scripts ran, and
    /// every message it wrote to the console.
    func browse(_ page: String, screenshot: String? = nil) throws -> (dom: String, console: [String]) {
        guard let chromium = Self.chromium else {
            if ProcessInfo.processInfo.environment["CI"] != nil { XCTFail("make test installs chromium") }
            throw XCTSkip("no chromium (make test installs it)")
        }
        func run(_ extra: [String]) throws -> (String, String)? {
            // A profile per run: a second browser on a profile whose first
            // is still shutting down hands its page over and waits forever.
            let profile = try directory()
            // A browser that hangs fails the test instead of holding it. `timeout`
            // puts Chromium in a process group of its own and kills the whole group,
            // helpers included, after 90 s; the helpers hold the pipes too, so a
            // later pkill of every process of this profile is the backstop.
            let backstop = DispatchWorkItem {
                let killer = Process()
                killer.executableURL = URL(fileURLWithPath: "/usr/bin/pkill")
                // No leading dashes: pkill would read the pattern as an option.
                killer.arguments = ["-9", "-f", "user-data-dir=\(profile)"]
                try? killer.run()
                killer.waitUntilExit()
            }
            DispatchQueue.global().asyncAfter(deadline: .now() + 100, execute: backstop)
            defer { backstop.cancel() }
            let arguments = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--user-data-dir=\(profile)",
                             "--enable-logging=stderr", "--v=0", "--window-size=1280,2400", "--virtual-time-budget=3000"] + extra + ["file://\(page)"]
            let r = try shell((["timeout", "-s", "KILL", "90", chromium] + arguments).map { "'\($0)'" }.joined(separator: " "), in: profile)
            // timeout exits 137 when it had to kill (128 + SIGKILL).
            return r.status == 137 ? nil : (r.out, r.err)
        }
        // A headless browser on a loaded machine now and then never finishes
        // starting; a second try on a fresh profile tells that from a page that hangs it.
        func runTwice(_ extra: [String]) throws -> (String, String) {
            if let result = try run(extra) ?? run(extra) { return result }
            XCTFail("chromium \(extra.joined(separator: " ")) was stopped after 90 s, twice")
            return ("", "")
        }
        let (dom, log) = try runTwice(["--dump-dom"])
        if let screenshot { _ = try runTwice(["--screenshot=\(screenshot)"]) }
        let console = log.split(separator: "\n").map(String.init).filter { $0.contains(":CONSOLE") || $0.contains("Uncaught") }
        return (dom, console)
    }

    /// The detector works: a page with a script error is caught.
    func testTheBrowserCheckCatchesConsoleErrors() throws {
        let page = try directory() + "/broken.html"
        try "<!DOCTYPE html><html><body><p>x</p><script>console.error('planted'); undefinedFunction();</script></body></html>"
            .write(toFile: page, atomically: true, encoding: .utf8)
        let (dom, console) = try browse(page)
        XCTAssertTrue(dom.contains("<p>x</p>"), dom)
        XCTAssertTrue(console.contains { $0.contains("planted") }, "console.error is seen: \(console)")
        XCTAssertTrue(console.contains { $0.contains("undefinedFunction") }, "an uncaught error is seen: \(console)")
    }

    /// A real (small) search, its report loaded in Chromium: no console
    /// message, its charts and drawings present, one leaderboard row per
    /// trial in its store, sorting by a column works; a screenshot for a
    /// person under .build/.
    func testAReportOfARealSearchLoadsCleanlyInChromium() throws {
        let dir = try directory()
        var o = Search.Options()
        o.space = CNNSpace(layers: 2, poolEvery: 1)
        o.strategy = .reinforce
        o.children = 12
        o.batch = 16
        o.directory = dir + "/run"
        o.verbose = false
        let data = Self.quadrants(96)
        try Search(options: o, train: data.subset(0..<64), validation: data.subset(64..<96)).run()
        let store = try TrialStore(path: o.directory + "/trials.db")
        let run = try RunData(name: "run", store: store)
        XCTAssertFalse(run.updates.isEmpty, "the controller's updates are recorded for the report")
        XCTAssertTrue(run.updates.allSatisfy { $0.entropy != nil })
        let page = dir + "/report.html"
        try Report.html([run, Self.syntheticRun(40, name: "other")]).write(toFile: page, atomically: true, encoding: .utf8)

        let shot = IRSpecTestsPaths.buildFolder + "/report-screenshot.png"
        let (dom, console) = try browse(page, screenshot: shot)
        XCTAssertEqual(console, [], "the page writes nothing to the console")
        XCTAssertTrue(FileManager.default.fileExists(atPath: shot), "screenshot at \(shot)")
        let trials = try store.all()
        let body = dom.components(separatedBy: "<tbody>").last ?? ""
        XCTAssertEqual(count("<td>run</td>", in: body), trials.count, "one leaderboard row per trial of the run")
        XCTAssertEqual(count("<tr", in: body), trials.count + 40, "and of the other")
        for t in trials { XCTAssertTrue(body.contains(">\(t.id)<"), "trial \(t.id) in the leaderboard") }
        // Charts: rewards, two cost charts, two strategy charts, two time charts; drawings of the top children.
        let charts = count("role=\"img\"", in: dom)
        XCTAssertGreaterThanOrEqual(charts, 7, "charts drawn")
        let drawings = count("class=\"drawing\"", in: dom)
        if FileManager.default.isExecutableFile(atPath: "/usr/bin/dot") {
            XCTAssertEqual(drawings, min(5, trials.filter(\.succeeded).count) + 5, "a drawing per top child of both runs")
        }
        XCTAssertTrue(dom.contains("the controller's entropy"))
        XCTAssertTrue(dom.contains("Accuracy against measured latency"), "the real run's children have latencies")
        print("report in Chromium: \(charts) charts, \(drawings) drawings, \(trials.count + 40) leaderboard rows, no console message; screenshot \(shot)")
    }

    static func quadrants(_ count: Int) -> ImageDataset {
        var rng = SeededGenerator(seed: 11)
        var pixels: [Float] = [], labels: [Int32] = []
        for _ in 0..<count {
            let label = Int(rng.unit() * 4) % 4
            for y in 0..<8 { for x in 0..<8 { pixels.append(y / 4 == label / 2 && x / 4 == label % 2 ? 1 : Float(rng.unit()) * 0.2) } }
            labels.append(Int32(label))
        }
        return ImageDataset(channels: 1, height: 8, width: 8, classes: 4, pixels: pixels, labels: labels)
    }

    // MARK: nasc dot

    func testDotShowsKernelsAsClustersAndThePlanOnEdges() throws {
        let text = try String(contentsOfFile: IRSpecTestsPaths.root + "/ir-specs/models/reference_cnn.nasir", encoding: .utf8)
        let source = try Verifier.parseAndVerify(Array(text.utf8))
        let plain = GraphDot.text(source)
        XCTAssertEqual(count("subgraph cluster_", in: plain), 0)
        XCTAssertTrue(plain.contains("f32[N,32,28,28]"), "edges carry shapes")
        let fused = try Pipeline.run(source, upTo: .fuse)
        let kernels = Set(fused.nodes.compactMap(\.kernel)).count
        let dot = GraphDot.text(fused, plan: try MemoryPlan.plan(fused, batch: 8))
        XCTAssertEqual(count("subgraph cluster_", in: dot), kernels, "one cluster per kernel")
        XCTAssertTrue(dot.contains(" KiB @") || dot.contains(" B @"), "buffer sizes and arena offsets on edges")
        XCTAssertEqual(count("{", in: dot), count("}", in: dot))
        if FileManager.default.isExecutableFile(atPath: "/usr/bin/dot") {
            let svg = try Graphviz.svg(dot)
            XCTAssertTrue(svg.contains("<svg") && svg.contains("cluster"), "dot lays it out")
        } else if ProcessInfo.processInfo.environment["CI"] != nil {
            XCTFail("make test installs graphviz")
        }
    }

    /// A cell child is drawn as its two cells: both inputs, one node per
    /// block with an edge per branch labelled with its operation (stride 2
    /// on a reduction cell's inputs), the loose ends into the output; and a
    /// report of a cell search draws its top children that way.
    func testCellsAreDrawnAsThePapersDrawThem() throws {
        let space = CellSpace(blocks: 2, cellsPerStage: 1, channels: 4)
        let ops = CellOp.allCases
        // Normal: b0 = sep3(in1) + identity(in0); b1 = max3(b0) + dil5(in1). Reduction: b0 = avg3(in0) + sep5(in1); b1 = identity(b0) + max3(in1).
        let choices = [1, 0, 0, 6, 2, 1, 5, 3, 0, 1, 4, 1, 2, 1, 6, 5]
        XCTAssertEqual(ops[0], .sep3)
        let dot = CellDot.text(space, choices)
        XCTAssertEqual(count("subgraph cluster_", in: dot), 2)
        for edge in ["k0s1 -> k0s2 [label=\"sep_conv_3x3\"]", "k0s0 -> k0s2 [label=\"identity\"]", "k0s2 -> k0s3 [label=\"max_pool_3x3\"]",
                     "k0s1 -> k0s3 [label=\"dil_conv_5x5\"]", "k0s3 -> k0out", "k1s0 -> k1s2 [label=\"avg_pool_3x3, stride 2\"]",
                     "k1s2 -> k1s3 [label=\"identity\"]", "k1s1 -> k1s3 [label=\"max_pool_3x3, stride 2\"]", "k1s3 -> k1out"] {
            XCTAssertTrue(dot.contains(edge), "\(edge)\n\(dot)")
        }
        XCTAssertFalse(dot.contains("k0s2 -> k0out"), "block 0 of the normal cell feeds block 1: not a loose end")
        XCTAssertEqual(count("-> k1out", in: dot), 1, "the reduction cell's b0 feeds b1")
        var settings = Self.settings
        settings.merge(ChildShape(space: space, channels: 1, size: 8, classes: 4).json) { $1 }
        let trial = TrialStore.Trial(id: 1, strategy: "random", decisions: choices, hash: "h", reward: 0.5, validationAccuracy: 0.8, parameters: 10, flops: 10,
                                     compileSeconds: 0, trainSeconds: 1, status: "ok", error: "", job: 1, worker: "w", created: "2026-12-07 10:00:00")
        let html = Report.html([RunData(name: "cells", settings: settings, trials: [trial], updates: [])])
        if FileManager.default.isExecutableFile(atPath: "/usr/bin/dot") {
            XCTAssertTrue(html.contains("normal cell") && html.contains("reduction cell") && html.contains("sep_conv_3x3"), "the report draws the cells")
        }
    }
}

/// Paths the tests share with the build.
enum IRSpecTestsPaths {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    static var buildFolder: String {
        let d = root + "/.build"
        return FileManager.default.fileExists(atPath: d) ? d : NSTemporaryDirectory()
    }
}
