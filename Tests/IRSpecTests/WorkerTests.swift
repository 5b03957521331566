import Foundation
import XCTest

/// The search with its children in worker processes, through the binary:
/// a small search on a tiny IDX dataset, workers started by the search and
/// by hand, kill -9 of workers and of the coordinator, crashing and hanging
/// children. Whatever is killed, every child the search asked for is
/// recorded exactly once and the store passes its integrity check.
final class WorkerTests: XCTestCase {
    var dir: URL!
    var running: [Process] = []

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("nasc-workers-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try Self.writeQuadrants(to: dir.appendingPathComponent("data"))
    }

    override func tearDownWithError() throws {
        for p in running where p.isRunning { kill(p.processIdentifier, SIGKILL); p.waitUntilExit() }
        try? FileManager.default.removeItem(at: dir)
    }

    /// Fashion-MNIST's four files, uncompressed, holding 8x8 images whose
    /// class (0-3) is the quadrant with a bright square: learnable at once.
    static func writeQuadrants(to folder: URL) throws {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        func idx(_ magic: UInt32, _ dims: [Int], _ bytes: [UInt8]) -> Data {
            var d = Data()
            for v in [magic] + dims.map(UInt32.init) { d.append(contentsOf: withUnsafeBytes(of: v.bigEndian) { Array($0) }) }
            return d + Data(bytes)
        }
        for (name, count) in [("train", 400), ("t10k", 40)] {
            var pixels: [UInt8] = [], labels: [UInt8] = []
            for i in 0..<count {
                let label = (i * 7 + 3) % 4
                for y in 0..<8 { for x in 0..<8 { pixels.append(y / 4 == label / 2 && x / 4 == label % 2 ? 200 : UInt8((i * 31 + y * 8 + x) % 40)) } }
                labels.append(UInt8(label))
            }
            try idx(0x803, [count, 8, 8], pixels).write(to: folder.appendingPathComponent("\(name)-images-idx3-ubyte"))
            try idx(0x801, [count], labels).write(to: folder.appendingPathComponent("\(name)-labels-idx1-ubyte"))
        }
    }

    /// A small classifier of the quadrant images (IR file in `folder`).
    static func writeQuadrantsGraph(in folder: URL) throws -> String {
        let path = folder.appendingPathComponent("quadrants.nasir").path
        try """
            graph @quadrants(%x: f32[N,1,8,8], %y: i32[N]) -> (loss: f32[], logits: f32[N,4]) {
              %w = param {init = he_normal} : f32[8,1,3,3]
              %c = conv2d %x, %w {stride = [1, 1], pad = same} : f32[N,8,8,8]
              %h = relu %c : f32[N,8,8,8]
              %f = flatten %h : f32[N,512]
              %w2 = param {init = glorot_uniform} : f32[512,4]
              %logits = matmul %f, %w2 {transpose_a = false, transpose_b = false} : f32[N,4]
              %loss = softmax_cross_entropy %logits, %y : f32[]
              return %loss, %logits
            }
            """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    var run: String { dir.appendingPathComponent("run").path }

    func searchArguments(children: Int, _ extra: [String]) -> [String] {
        // One layer for the cnn space (the default); another space's flags come in `extra`.
        let layers = extra.contains("--space") ? [] : ["--layers", "1"]
        return ["search", "--children", String(children)] + layers + ["--train-images", "96", "--validation-images", "64", "--batch", "16",
         "--data", dir.appendingPathComponent("data").path, "--threads", "1", "--out", run] + storageArguments + extra
    }

    /// Starts nasc in the background, its output in `log`.
    func start(_ arguments: [String], log: String, environment: [String: String] = [:]) throws -> Process {
        let p = Process()
        p.executableURL = IRSpecTests.nascDirectory.appendingPathComponent("nasc")
        p.arguments = arguments
        p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let path = dir.appendingPathComponent(log).path
        _ = FileManager.default.createFile(atPath: path, contents: nil)
        let out = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        p.standardOutput = out
        p.standardError = out
        p.standardInput = FileHandle.nullDevice
        try p.run()
        running.append(p)
        return p
    }

    /// Waits for a process to end; one still running after `seconds` is
    /// killed and fails the test, which never hangs.
    func finish(_ p: Process, seconds: Double = 300, file: StaticString = #filePath, line: UInt = #line) {
        let deadline = Date().addingTimeInterval(seconds)
        while p.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.1) }
        if p.isRunning {
            XCTFail("nasc \(p.arguments?.joined(separator: " ") ?? "") still running after \(Int(seconds)) s", file: file, line: line)
            kill(p.processIdentifier, SIGKILL)
        }
        p.waitUntilExit()
    }

    func output(_ log: String) -> String { (try? String(contentsOf: dir.appendingPathComponent(log), encoding: .utf8)) ?? "" }

    /// The store the test's search uses: the run folder's SQLite file, or
    /// a fresh schema on the test's PostgreSQL server.
    var storage: (url: String, schema: String)?

    func usePostgres() throws {
        guard let url = ProcessInfo.processInfo.environment["NASC_TEST_POSTGRES_URL"], !url.isEmpty else {
            if ProcessInfo.processInfo.environment["CI"] != nil { XCTFail("CI runs the tests through Tests/with-postgres.sh, which sets NASC_TEST_POSTGRES_URL") }
            throw XCTSkip("no NASC_TEST_POSTGRES_URL (run `make test`, or Tests/with-postgres.sh swift test)")
        }
        storage = (url, "kill_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(12).lowercased())
    }

    /// --storage for the test's search and workers (none: the folder's SQLite).
    var storageArguments: [String] { storage.map { ["--storage", "\($0.url)?schema=\($0.schema)"] } ?? [] }

    /// Rows of a query on the test's store, columns joined by |.
    func sqlite(_ query: String) throws -> [String] {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        if let storage {
            p.arguments = ["psql", storage.url, "-XAt", "-v", "ON_ERROR_STOP=1", "-c", query]
            p.environment = ProcessInfo.processInfo.environment.merging(["PGOPTIONS": "--search_path=\(storage.schema)"]) { $1 }
        } else {
            p.arguments = ["python3", "-c", "import sqlite3,sys; [print('|'.join(map(str, r))) for r in sqlite3.connect(sys.argv[1]).execute(sys.argv[2])]",
                           "\(run)/trials.db", query]
        }
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = FileHandle.nullDevice
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init)
    }

    func trialCount() -> Int { ((try? sqlite("select count(*) from trials"))?.first).flatMap { Int($0) } ?? 0 }

    /// Waits until `condition` holds (failing after `seconds`).
    func wait(_ what: String, seconds: Double = 120, _ condition: () throws -> Bool) throws {
        let deadline = Date().addingTimeInterval(seconds)
        while try !condition() {
            guard Date() < deadline else {
                struct Timeout: Error, CustomStringConvertible { var description: String }
                // What the processes said, to see why.
                let logs = ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).filter { $0.hasSuffix(".log") }.sorted()
                    .map { "--- \($0):\n" + output($0).split(separator: "\n").suffix(15).joined(separator: "\n") }
                throw Timeout(description: "timed out waiting for \(what)\n" + logs.joined(separator: "\n"))
            }
            Thread.sleep(forTimeInterval: 0.1)
        }
    }

    /// The issue's kill test: a coordinator with one worker of its own,
    /// three workers started by hand; one worker process is killed with
    /// SIGKILL while it holds a child, then the coordinator is killed and
    /// started again. Every child is recorded exactly once.
    func testKillingWorkersAndTheCoordinatorLosesAndRepeatsNothing() throws { try killTest() }

    /// The cell space through the binary: a search killed with SIGKILL
    /// continues to exactly its children; `nasc dot RUN` draws the winner's
    /// two cells; `nasc retrain --cells --channels` scales them; bad cell
    /// flags are refused before anything trains.
    func testACellSearchSurvivesKill9DrawsItsCellsAndRetrainsScaled() throws {
        let children = 10
        let cells = ["--space", "cells", "--blocks", "2", "--cells", "0", "--channels", "3", "--reevaluate", "0"]
        // Leases long enough that a healthy worker on a loaded machine keeps
        // its child, and attempts to spare: only the kill may cost one.
        let arguments = searchArguments(children: children, cells + ["--workers", "1", "--lease-seconds", "5", "--max-attempts", "3"])
        var coordinator = try start(arguments, log: "coordinator-1.log", environment: ["NASC_INJECT_FAULT": "delay:0.5"])
        try wait("3 cell children") { trialCount() >= 3 }
        kill(coordinator.processIdentifier, SIGKILL)
        finish(coordinator)
        coordinator = try start(arguments, log: "coordinator-2.log")
        finish(coordinator)
        XCTAssertEqual(coordinator.terminationStatus, 0, output("coordinator-2.log"))
        XCTAssertEqual(trialCount(), children)
        XCTAssertEqual(try sqlite("select count(distinct job) from trials"), [String(children)])
        XCTAssertEqual(try sqlite("select count(*) from trials where status not in ('ok', 'cached')"), ["0"])
        let status = try MutatedSpecTests.nasc(["status", run, "--check"], timeout: 60)
        XCTAssertTrue(status.output.contains("\(children) of \(children) children done") && status.output.contains("integrity: ok"), status.output)

        let dot = try MutatedSpecTests.nasc(["dot", run], timeout: 60)
        XCTAssertEqual(dot.status, 0, dot.output)
        for part in ["subgraph cluster_normal", "subgraph cluster_reduction", "label=\"c_{k-2}\"", "c_{k}\\nconcat"] {
            XCTAssertTrue(dot.output.contains(part), "\(part)\n\(dot.output)")
        }
        let ops = ["sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5", "avg_pool_3x3", "max_pool_3x3", "identity"]
        XCTAssertTrue(ops.contains { dot.output.contains("label=\"\($0)") }, dot.output)

        let data = dir.appendingPathComponent("data").path
        let retrain = try MutatedSpecTests.nasc(["retrain", run, "--trial", "1", "--cells", "1", "--channels", "4", "--epochs", "1", "--batch", "16",
                                                  "--validation", "64", "--data", data, "--threads", "1"], timeout: 300)
        XCTAssertEqual(retrain.status, 0, retrain.output)
        XCTAssertTrue(retrain.output.contains("scaled n1_c4") && retrain.output.contains("test accuracy"), retrain.output)
        let scaled = try String(contentsOfFile: "\(run)/trial1_n1_c4.nasir", encoding: .utf8)
        XCTAssertTrue(scaled.contains("%cell5.") && !scaled.contains("%cell6.") && scaled.contains("f32[12,1,3,3]"), "5 cells, a stem of 3 x 4 channels")

        // Zero-cost proxies of the run's children, beside their rewards.
        let score = try MutatedSpecTests.nasc(["score", run, "--children", "3", "--batch", "8", "--proxy", "naswot", "synflow",
                                               "--data", data, "--threads", "1"], timeout: 300)
        XCTAssertEqual(score.status, 0, score.output)
        for part in ["trial\treward\tnaswot\tsynflow", "rank correlation with the search reward over 3 children", "  naswot: ", "  synflow: "] {
            XCTAssertTrue(score.output.contains(part), "\(part)\n\(score.output)")
        }
        let both = try MutatedSpecTests.nasc(["score", run, "\(run)/trial1_n1_c4.nasir", "--data", data], timeout: 60)
        XCTAssertTrue(both.status == 64 && both.output.contains("give one search run folder, or IR files, not both"), both.output)
        // Latency: the workers measured every child; --again measures them anew; a file by itself.
        let trained = try sqlite("select count(*) from trials where status = 'ok'").first ?? "0"
        XCTAssertNotEqual(trained, "0")
        XCTAssertEqual(try sqlite("select count(*) from trials where status = 'ok' and latency_ms > 0").first, trained)
        let latency = try MutatedSpecTests.nasc(["latency", run, "--again"], timeout: 300)
        XCTAssertTrue(latency.status == 0 && latency.output.contains("latency: \(trained) child(ren) of \(run) to measure")
                      && latency.output.contains("children measured:"), latency.output)
        let few = try MutatedSpecTests.nasc(["latency", run, "--fit", dir.appendingPathComponent("model.json").path], timeout: 60)
        if Int(trained)! < 10 {
            XCTAssertTrue(few.status == 1 && few.output.contains("error: \(trained) measured children; a model needs at least 10"), few.output)
        } else {
            XCTAssertTrue(few.status == 0 && few.output.contains("fitted to \(trained) children") && few.output.contains("5-fold cross-validation"), few.output)
        }
        let one = try MutatedSpecTests.nasc(["latency", "\(run)/trial1_n1_c4.nasir"], timeout: 60)
        XCTAssertTrue(one.status == 0 && one.output.contains("trial1_n1_c4.nasir: ") && one.output.contains(" ms"), one.output)
        // A strided stem: every cell at half the resolution.
        let strided = try MutatedSpecTests.nasc(["sample", "--space", "cells", "--blocks", "2", "--channels", "4", "--stem-stride", "2"], timeout: 60)
        XCTAssertTrue(strided.status == 0 && strided.output.contains("%stem.c = conv2d %x, %stem.c.w {stride = [2, 2], pad = same}"), strided.output)

        let badFolder = dir.appendingPathComponent("bad").path
        for (flags, message) in [(["--blocks", "0"], "--blocks must be an integer from 1 to 12, got 0"),
                                 (["--cells", "12", "--channels", "1024"], "cannot train at --batch 32 (--cells, --channels and --blocks size the network): its parameters and their gradients alone need"),
                                 (["--cells", "2", "--channels", "256", "--batch", "4096"], "cannot train at --batch 4096"),
                                 (["--grow-from", "2", "--grow-every", "4"], "--space cells has no layers to grow"),
                                 (["--layers", "3"], "--layers shapes the cnn space, not --space cells (add --space cnn, or leave --layers out)")] {
            let r = try MutatedSpecTests.nasc(["search", "--space", "cells", "--data", data, "--train-images", "96", "--validation-images", "64",
                                               "--out", badFolder] + flags, timeout: 120)
            XCTAssertEqual(r.status, message.hasPrefix("--") ? 64 : 1, r.output)
            XCTAssertTrue(r.output.contains(message), r.output)
            XCTAssertFalse(FileManager.default.fileExists(atPath: badFolder + "/trials.db"), "nothing written for \(flags)")
        }
    }

    /// The same on a PostgreSQL store, as workers on other machines use it.
    func testKillingWorkersAndTheCoordinatorLosesAndRepeatsNothingOnPostgreSQL() throws {
        try usePostgres()
        try killTest()
    }

    func killTest() throws {
        let children = 18
        let arguments = searchArguments(children: children, ["--workers", "1", "--lease-seconds", "2", "--max-attempts", "3"])
        // Jobs 5 and 12 are held by the first worker to lease each, until
        // it is killed (their later attempts run as usual): the test knows
        // which worker holds which child, whatever the timing.
        let slow = ["NASC_INJECT_FAULT": "delay:0.5,hold:5,hold:12"]
        var coordinator = try start(arguments, log: "coordinator-1.log", environment: slow)
        try wait("the run folder") { FileManager.default.fileExists(atPath: run) }
        let workerPlace = storage == nil ? [run] : storageArguments + ["--logs", dir.appendingPathComponent("worker-logs").path]
        let workers = try (1...3).map { try start(["worker"] + workerPlace + ["--threads", "1"], log: "worker-\($0).log", environment: slow) }
        /// The worker holding `job`'s first attempt, once one does.
        func holder(of job: Int) throws -> (worker: String, pid: Int32)? {
            guard let worker = try sqlite("select worker from jobs where id = \(job) and status = 'running' and attempts = 1").first,
                  let pid = Int32(worker.split(separator: ":").last ?? "") else { return nil }
            return (worker, pid)
        }
        // Kill the worker process that holds job 5.
        var killed = ""
        try wait("a worker holding job 5") {
            guard let h = try holder(of: 5) else { return false }
            kill(h.pid, SIGKILL)
            killed = h.worker
            return true
        }
        // Kill the coordinator while job 12 is held: it cannot have finished.
        try wait("a worker holding job 12") { try holder(of: 12) != nil }
        let held = try XCTUnwrap(try holder(of: 12))
        let doneAtKill = trialCount()
        kill(coordinator.processIdentifier, SIGKILL)
        finish(coordinator)
        XCTAssertEqual(coordinator.terminationReason, .uncaughtSignal)
        XCTAssertLessThan(doneAtKill, children, "the coordinator was killed before the end")
        // Job 12's holder too, so that the job is tried again (a worker of
        // the coordinator's own has died with it already).
        kill(held.pid, SIGKILL)
        coordinator = try start(arguments, log: "coordinator-2.log", environment: slow)
        finish(coordinator)
        XCTAssertEqual(coordinator.terminationStatus, 0, output("coordinator-2.log"))
        for w in workers { finish(w) }
        for (i, w) in workers.enumerated() { XCTAssertEqual(w.terminationStatus, 0, output("worker-\(i + 1).log")) }

        // Exactly once: one trial per job, every job done, as many as asked.
        XCTAssertEqual(trialCount(), children)
        XCTAssertEqual(try sqlite("select count(*) from jobs where status = 'done'"), [String(children)])
        XCTAssertEqual(try sqlite("select count(distinct job) from trials"), [String(children)])
        let failed = try sqlite("select id, status, error from trials where status not in ('ok', 'cached')")
        XCTAssertEqual(failed, [], "the killed child was retried")
        // The job the killed worker held says why it was retried: the
        // worker's death seen by its supervisor, or its lease running out.
        let why = try sqlite("select last_error from jobs where id = 5").first ?? ""
        XCTAssertTrue(why.contains("SIGKILL") || why.contains("lease expired"), "job 5, held by \(killed) when it was killed: '\(why)'")
        XCTAssertNotEqual(try sqlite("select worker from trials where job = 5"), [killed], "the killed worker recorded no result")
        // The run folder names its store; the password comes from PGPASSWORD.
        if storage != nil {
            let refused = try MutatedSpecTests.nasc(["status", run], timeout: 60)
            XCTAssertTrue(refused.status == 1 && refused.output.contains("asks for a password"), refused.output)
        }
        let password = storage.flatMap { URLComponents(string: $0.url)?.password }.map { ["PGPASSWORD": $0] } ?? [:]
        let status = try MutatedSpecTests.nasc(["status", run, "--check"], timeout: 60, environment: password)
        XCTAssertEqual(status.status, 0, status.output)
        if let storage { XCTAssertTrue(status.output.contains(storage.schema), "status reads the run's PostgreSQL store: \(status.output)") }
        XCTAssertTrue(status.output.contains("\(children) of \(children) children done") && status.output.contains("integrity: ok"), status.output)
        // The second coordinator ends the search (the workers may have
        // recorded every child before it started: it then prints none).
        XCTAssertTrue(output("coordinator-2.log").contains("search finished"), output("coordinator-2.log"))
        let workersUsed = try sqlite("select count(distinct worker) from trials").first ?? "?"
        print("kill test (\(storage == nil ? "SQLite" : "PostgreSQL")): 2 workers and 1 coordinator killed with SIGKILL (coordinator at \(doneAtKill)/\(children)); \(children) children recorded by \(workersUsed) worker processes, lost 0, repeated 0")
    }

    /// `$NASC_TEST_POSTGRES_CONTROL stop|start|restart` on the test's server
    /// (Tests/with-postgres.sh writes it); the server is started again when
    /// the test ends, whatever happened (`checked: false`: a server already
    /// running makes `start` fail, which is then no failure).
    func controlPostgres(_ action: String, checked: Bool = true) throws {
        guard let control = ProcessInfo.processInfo.environment["NASC_TEST_POSTGRES_CONTROL"] else {
            throw XCTSkip("no NASC_TEST_POSTGRES_CONTROL (run `make test`, or Tests/with-postgres.sh swift test)")
        }
        // system(), not Process: the server that pg_ctl leaves running kept
        // Foundation from seeing the script end. pg_ctl waits at most 60 s.
        let status = system("'\(control)' \(action)")
        if checked { XCTAssertEqual(status, 0, "pg_ctl \(action) failed (its log: control.log beside the server's data)") }
    }

    /// The issue's restart test: a coordinator with two workers of its own
    /// and two started with `nasc worker`, all on PostgreSQL; the server is
    /// restarted (fast mode: every session is ended, as in a failover) while
    /// they work. They reconnect and finish; every child is recorded once.
    func testAPostgreSQLRestartLosesAndRepeatsNothing() throws {
        try usePostgres()
        addTeardownBlock { [self] in try? controlPostgres("start", checked: false) }
        // At least half a second a child: the restart lands seconds before the end.
        let children = 60
        let slow = ["NASC_INJECT_FAULT": "delay:0.5"]
        let coordinator = try start(searchArguments(children: children, ["--workers", "2", "--lease-seconds", "5"]), log: "coordinator.log", environment: slow)
        let external = try start(["worker"] + storageArguments + ["--processes", "2", "--threads", "1", "--logs", dir.appendingPathComponent("worker-logs").path],
                                 log: "external.log", environment: slow)
        var atRestart = 0
        try wait("8 children") { atRestart = trialCount(); return atRestart >= 8 }
        try controlPostgres("restart")
        finish(coordinator)
        finish(external)
        let logs = [output("coordinator.log"), output("external.log")]
            + ((try? FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("worker-logs").path)) ?? []).map { output("worker-logs/\($0)") }
            + ((try? FileManager.default.contentsOfDirectory(atPath: run + "/workers")) ?? []).map { (try? String(contentsOfFile: run + "/workers/" + $0, encoding: .utf8)) ?? "" }
        XCTAssertEqual(coordinator.terminationStatus, 0, logs.joined(separator: "\n---\n"))
        XCTAssertEqual(external.terminationStatus, 0, logs.joined(separator: "\n---\n"))
        XCTAssertEqual(trialCount(), children)
        XCTAssertEqual(try sqlite("select count(distinct job) from trials"), [String(children)])
        XCTAssertEqual(try sqlite("select count(*) from jobs where status = 'done'"), [String(children)])
        XCTAssertEqual(try sqlite("select count(*) from trials where status not in ('ok', 'cached')"), ["0"])
        XCTAssertTrue(logs.contains { $0.contains("lost the connection to") } && logs.contains { $0.contains("reconnected to") }, logs.joined(separator: "\n---\n"))
        let password = storage.flatMap { URLComponents(string: $0.url)?.password }.map { ["PGPASSWORD": $0] } ?? [:]
        let status = try MutatedSpecTests.nasc(["status", run, "--check"], timeout: 60, environment: password)
        XCTAssertEqual(status.status, 0, status.output)
        XCTAssertTrue(status.output.contains("\(children) of \(children) children done") && status.output.contains("integrity: ok"), status.output)
        print("PostgreSQL restart at \(atRestart)/\(children) children, 2 + 2 workers: \(children) recorded, lost 0, repeated 0; status --check ok")
    }

    /// A server that stays down longer than --storage-timeout: the search
    /// stops with a message naming the store; started again once the server
    /// is back, the same command finishes the search.
    func testAStoreDownPastItsTimeoutStopsTheSearchAndTheSameCommandContinues() throws {
        try usePostgres()
        addTeardownBlock { [self] in try? controlPostgres("start", checked: false) }
        // At least half a second a child: the server stops long before the end.
        let children = 30
        let arguments = searchArguments(children: children, ["--workers", "1", "--storage-timeout", "3"])
        let first = try start(arguments, log: "first.log", environment: ["NASC_INJECT_FAULT": "delay:0.5"])
        try wait("a few children") { trialCount() >= 3 }
        try controlPostgres("stop")
        finish(first)
        let out = output("first.log")
        XCTAssertEqual(first.terminationStatus, 1, out)
        XCTAssertTrue(out.contains("lost the connection to the store and could not connect again within 3 s (--storage-timeout)")
                      && out.contains(storage!.schema) && out.contains("run the same command again"), out)
        try controlPostgres("start")
        let again = try start(arguments, log: "again.log")
        finish(again)
        XCTAssertEqual(again.terminationStatus, 0, output("again.log"))
        XCTAssertEqual(trialCount(), children)
        XCTAssertEqual(try sqlite("select count(distinct job) from trials"), [String(children)])
    }

    /// SIGINT (Ctrl-C) and SIGTERM (a scheduler) stop a search politely:
    /// the workers give their children back (not counted as attempts), the
    /// search says how to continue and exits 130 or 143; the same command
    /// then finishes with every child recorded once.
    func testSIGINTAndSIGTERMStopASearchPolitelyAndItContinues() throws {
        // Each child takes at least half a second, so with 30 children the
        // signals land seconds before the search could end.
        let children = 30
        let arguments = searchArguments(children: children, ["--workers", "2", "--strategy", "random"])
        for (signal, status, stopAt) in [(SIGINT, Int32(130), 3), (SIGTERM, Int32(143), 8)] {
            let search = try start(arguments, log: "search-\(signal).log", environment: ["NASC_INJECT_FAULT": "delay:0.5"])
            try wait("\(stopAt) children") { trialCount() >= stopAt }
            kill(search.processIdentifier, signal)
            finish(search)
            let out = output("search-\(signal).log")
            XCTAssertEqual(search.terminationReason, .exit, out)
            XCTAssertEqual(search.terminationStatus, status, out)
            XCTAssertTrue(out.contains("stopped by \(signal == SIGINT ? "SIGINT" : "SIGTERM")") && out.contains("run the same command again to continue"), out)
            XCTAssertEqual(try sqlite("select count(*) from jobs where status = 'running'"), ["0"], "every child held went back: \(out)")
            XCTAssertEqual(try sqlite("select count(*) from jobs where attempts > 1 or (status = 'queued' and attempts > 0)"), ["0"],
                           "a polite stop is no attempt: \(out)")
            XCTAssertEqual(try sqlite("select count(*) from workers"), ["0"], "the stopped workers left the roster")
        }
        let last = try start(arguments, log: "last.log")
        finish(last)
        XCTAssertEqual(last.terminationStatus, 0, output("last.log"))
        XCTAssertEqual(trialCount(), children)
        XCTAssertEqual(try sqlite("select count(distinct job) from trials"), [String(children)])
        let status = try MutatedSpecTests.nasc(["status", run, "--check"], timeout: 60)
        XCTAssertEqual(status.status, 0, status.output)
    }

    /// SIGTERM in the middle of training: the last epoch's checkpoint is
    /// named with the flags that continue from it, and continuing ends with
    /// the same weights as training straight through.
    func testSIGTERMDuringTrainingKeepsTheLastEpochAndResumingEqualsTrainingStraightThrough() throws {
        let data = dir.appendingPathComponent("data").path
        let graph = try Self.writeQuadrantsGraph(in: dir)
        let (straight, stopped) = (dir.appendingPathComponent("straight.ckpt").path, dir.appendingPathComponent("stopped.ckpt").path)
        // A constant rate, so that the epoch count does not shape the run:
        // it is stopped long before its 5,000th epoch (each a hundred steps),
        // inside an epoch or between two, whatever the machine's speed.
        let common = ["train", graph, "--data", data, "--validation", "40", "--batch", "4", "--threads", "1", "--schedule", "constant"]
        let p = try start(common + ["--epochs", "5000", "--save", stopped], log: "train.log")
        try wait("two epochs") { output("train.log").contains("epoch 2/5000:") }
        kill(p.processIdentifier, SIGTERM)
        finish(p)
        let out = output("train.log")
        XCTAssertEqual(p.terminationStatus, 143, out)
        let said = try XCTUnwrap(out.split(separator: "\n").last { $0.contains("stopped by SIGTERM") }, out)
        XCTAssertTrue(said.contains("\(stopped) holds epoch") && said.contains("--resume \(stopped)"), out)
        let epoch = try XCTUnwrap(Int(said.components(separatedBy: "holds epoch ")[1].prefix { $0.isNumber }), out)
        // Two epochs more, resumed and straight through.
        let end = ["--epochs", String(epoch + 2)]
        let resumed = try MutatedSpecTests.nasc(common + end + ["--save", stopped, "--resume", stopped], timeout: 300)
        XCTAssertEqual(resumed.status, 0, resumed.output)
        XCTAssertTrue(resumed.output.contains("after epoch \(epoch)"), resumed.output)
        let whole = try MutatedSpecTests.nasc(common + end + ["--save", straight], timeout: 600)
        XCTAssertEqual(whole.status, 0, whole.output)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: stopped)), try Data(contentsOf: URL(fileURLWithPath: straight)),
                       "the same final weights, optimizer state and step count")
    }

    /// A second signal ends the process at once. Both are sent while the
    /// process is frozen (SIGSTOP), so both are pending when it wakes: the
    /// first asks for a polite stop, the second ends it there and then.
    func testASecondSignalStopsAtOnce() throws {
        let graph = try Self.writeQuadrantsGraph(in: dir)
        let p = try start(["train", graph, "--data", dir.appendingPathComponent("data").path, "--validation", "40", "--batch", "4",
                           "--threads", "1", "--epochs", "5000"], log: "train.log")
        try wait("an epoch") { output("train.log").contains("epoch 1/5000:") }
        kill(p.processIdentifier, SIGSTOP)
        kill(p.processIdentifier, SIGINT)
        kill(p.processIdentifier, SIGTERM)
        kill(p.processIdentifier, SIGCONT)
        finish(p)
        let out = output("train.log")
        XCTAssertEqual(p.terminationReason, .exit, out)
        XCTAssertTrue([Int32(130), 143].contains(p.terminationStatus), "128 + the second signal: \(p.terminationStatus)\n\(out)")
        XCTAssertTrue(out.contains("received: stopping at the next safe point") && out.contains("nasc: stopped at once"), out)
    }

    /// A child whose worker crashes is retried, then recorded as crashed with
    /// the signal and the crash report's first line; a hanging child is
    /// stopped at the timeout; the search goes on to its last child. The
    /// timeout leaves room for Swift's backtracer, which writes the crash
    /// report before the worker dies and took over 3 s on a loaded machine
    /// (the crashing child was then recorded as timed out).
    func testCrashingAndHangingChildrenAreRecordedAndTheSearchGoesOn() throws {
        let search = try start(searchArguments(children: 6, ["--workers", "2", "--child-timeout", "12", "--strategy", "random"]), log: "search.log",
                               environment: ["NASC_INJECT_FAULT": "crash:2,hang:4"])
        finish(search)
        let out = output("search.log")
        XCTAssertEqual(search.terminationStatus, 0, out)
        XCTAssertEqual(trialCount(), 6, out)
        let crashed = try sqlite("select job, error from trials where status = 'crashed'")
        XCTAssertEqual(crashed.count, 1, out)
        XCTAssertTrue(crashed.first?.hasPrefix("2|tried 2 time(s)") == true && crashed[0].contains("SIGSEGV") && crashed[0].contains("Bad pointer dereference"), crashed.joined())
        XCTAssertEqual(try sqlite("select job from trials where status = 'timeout'"), ["4"], out)
        XCTAssertEqual(try sqlite("select count(*) from trials where status = 'ok' or status = 'cached'"), ["4"], out)
        let status = try MutatedSpecTests.nasc(["status", run, "--check"], timeout: 60)
        XCTAssertEqual(status.status, 0, status.output)
        XCTAssertTrue(status.output.contains("crashed: trial") && status.output.contains("timeout: trial"), status.output)
    }

    /// A child that needs more memory than its worker may give is refused
    /// before it trains, with what it needs; the search goes on.
    func testChildrenBeyondTheMemoryLimitAreRefused() throws {
        let search = try start(searchArguments(children: 2, ["--workers", "1", "--child-memory", "200K", "--strategy", "random"]), log: "search.log")
        finish(search)
        XCTAssertEqual(search.terminationStatus, 0, output("search.log"))
        let refused = try sqlite("select status, error from trials")
        XCTAssertEqual(refused.count, 2, output("search.log"))
        XCTAssertTrue(refused.allSatisfy { $0.hasPrefix("refused|") && $0.contains("needs") && $0.contains("NASC_MEMORY_LIMIT") }, refused.joined(separator: "\n"))
        XCTAssertTrue(output("search.log").contains("no child trained successfully, so there is no best child"), output("search.log"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: run + "/best.nasir"))
    }

    /// ASHA across worker processes: promotions continue from checkpoints
    /// that another process wrote into the store; the workers stop when
    /// the coordinator says no promotion is left.
    func testMultiFidelityAcrossWorkerProcesses() throws {
        let search = try start(searchArguments(children: 6, ["--workers", "2", "--strategy", "random", "--fidelity", "asha", "--eta", "2",
                                                             "--min-budget", "32", "--max-budget", "128"]), log: "search.log")
        finish(search)
        let out = output("search.log")
        XCTAssertEqual(search.terminationStatus, 0, out)
        XCTAssertTrue(out.contains("ASHA, eta 2, rungs of 32, 64, 128 images") && out.contains("promoting child"), out)
        XCTAssertEqual(try sqlite("select count(*) from trials where rung = 0"), ["6"], out)
        XCTAssertEqual(try sqlite("select count(*) from trials where rung > 0 and status != 'ok'"), ["0"], out)
        // Once the search is over, the best half of the first rung's own
        // results (a repeat reuses its twin's and is none) went on.
        let trained = Int(try sqlite("select count(*) from trials where rung = 0 and status = 'ok'").first ?? "0") ?? 0
        XCTAssertGreaterThanOrEqual(Int(try sqlite("select count(*) from trials where rung = 1").first ?? "0") ?? 0, max(trained / 2, 2), out)
        XCTAssertEqual(try sqlite("select count(*) from trials where rung = 2").first.map { Int($0)! > 0 }, true, out)
        let status = try MutatedSpecTests.nasc(["status", run, "--check"], timeout: 60)
        XCTAssertEqual(status.status, 0, status.output)
        XCTAssertTrue(status.output.contains("6 of 6 children done") && status.output.contains("promotion(s) to higher rungs done")
                      && status.output.contains("(rung 2)"), status.output)
    }

    /// `nasc retrain` with the final recipe: filters widened, augmentation
    /// and label smoothing, stopped after 2 epochs and resumed to 3.
    func testRetrainWidensTrainsWithTheRecipeAndResumes() throws {
        let search = try start(searchArguments(children: 2, ["--in-process", "--strategy", "random"]), log: "search.log")
        finish(search)
        XCTAssertEqual(search.terminationStatus, 0, output("search.log"))
        let data = dir.appendingPathComponent("data").path, checkpoint = dir.appendingPathComponent("wide.ckpt").path
        let recipe = ["--width", "2", "--crop-padding", "1", "--flip", "--cutout", "3", "--label-smoothing", "0.1", "--batch", "16", "--validation", "64",
                      "--data", data, "--threads", "1", "--save", checkpoint, "--trial", "1"]
        let first = try MutatedSpecTests.nasc(["retrain", run, "--epochs", "2"] + recipe, timeout: 300)
        XCTAssertEqual(first.status, 0, first.output)
        XCTAssertTrue(first.output.contains("scaled x2") && first.output.contains("recipe: augmentation random crop (padding 1), horizontal flip, cutout 3x3, label smoothing 0.1"), first.output)
        let plain = try MutatedSpecTests.nasc(["retrain", run, "--epochs", "1", "--data", data, "--threads", "1", "--trial", "1", "--batch", "16", "--validation", "64"], timeout: 300)
        XCTAssertEqual(plain.status, 0, plain.output)
        let narrow = try String(contentsOfFile: "\(run)/trial1.nasir", encoding: .utf8)
        let wide = try String(contentsOfFile: "\(run)/trial1_x2.nasir", encoding: .utf8)
        let filters = { (text: String) in text.split(separator: "\n").first { $0.contains("%w1 = param") }! }
        let (n, w) = (filters(narrow), filters(wide))
        let count = { (line: Substring) in Int(line.split(separator: "[")[1].split(separator: ",")[0])! }
        XCTAssertEqual(count(w), 2 * count(n), "\(n)\n\(w)")
        let resumed = try MutatedSpecTests.nasc(["retrain", run, "--epochs", "3", "--resume", checkpoint] + recipe, timeout: 300)
        XCTAssertEqual(resumed.status, 0, resumed.output)
        XCTAssertTrue(resumed.output.contains("after epoch 2") && resumed.output.contains("epoch 3/3") && !resumed.output.contains("epoch 1/3"), resumed.output)
    }

    /// Noise-aware selection: the top children are trained again and
    /// measured on unused images, each recorded once; the winner written to
    /// best.nasir is the best there; a finished search run again trains
    /// nothing more.
    func testTheTopChildrenAreReevaluatedBeforeTheWinnerIsNamed() throws {
        let search = try start(searchArguments(children: 6, ["--in-process", "--strategy", "random", "--reevaluate", "3"]), log: "search.log")
        finish(search)
        let out = output("search.log")
        XCTAssertEqual(search.terminationStatus, 0, out)
        XCTAssertTrue(out.contains("re-evaluating the top 3 children") && out.contains("measured on 240 images no child saw"), out)
        XCTAssertEqual(try sqlite("select count(*) from reevaluations"), ["3"], out)
        let table = out.components(separatedBy: "re-evaluated (each trained again")[1]
        let winner = try XCTUnwrap(table.split(separator: "\n").first { $0.hasPrefix("winner: trial ") })
        let id = winner.dropFirst("winner: trial ".count).prefix { $0.isNumber }
        let best = try sqlite("select max(accuracy) from reevaluations")
        XCTAssertEqual(try sqlite("select accuracy from reevaluations where trial = \(id)"), best, out)
        XCTAssertTrue(try String(contentsOfFile: "\(run)/best.nasir", encoding: .utf8).contains("@best"))
        let again = try start(searchArguments(children: 6, ["--in-process", "--strategy", "random", "--reevaluate", "3"]), log: "again.log")
        finish(again)
        XCTAssertEqual(again.terminationStatus, 0, output("again.log"))
        XCTAssertFalse(output("again.log").contains("re-evaluating the top"), output("again.log"))
        XCTAssertTrue(output("again.log").contains(String(winner)), output("again.log"))
    }

    /// A multi-objective search from the command line, children trained by
    /// worker processes and timed as emitted C: NSGA-II's children each
    /// have a latency, the front's are re-evaluated first and written to
    /// front/ (an IR file each, front.tsv), the output lists the front,
    /// and `nasc retrain --trial` takes one of them.
    func testAMultiObjectiveSearchWritesItsFrontAndTimesTheEmittedC() throws {
        let search = try start(searchArguments(children: 8, ["--strategy", "nsga2", "--objectives", "accuracy,latency", "--latency-target", "emitted-c",
                                                             "--reevaluate", "3", "--workers", "2"]), log: "search.log")
        finish(search)
        let out = output("search.log")
        XCTAssertEqual(search.terminationStatus, 0, out)
        XCTAssertTrue(out.contains("re-evaluating the first 3 children by Pareto front and crowding"), out)
        XCTAssertEqual(try sqlite("select count(*) from trials where status = 'ok' and (latency_ms is null or latency_ms <= 0)"), ["0"], out)
        XCTAssertEqual(try sqlite("select distinct strategy from trials"), ["nsga2"], out)
        let files = try FileManager.default.contentsOfDirectory(atPath: "\(run)/front").filter { $0.hasSuffix(".nasir") }
        XCTAssertFalse(files.isEmpty, out)
        let tsv = try String(contentsOfFile: "\(run)/front/front.tsv", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(tsv.count, files.count + 1)
        XCTAssertTrue(out.contains("Pareto front (accuracy,latency; accuracy re-evaluated): \(files.count) child(ren)"), out)
        for line in tsv.dropFirst() { XCTAssertEqual(line.split(separator: "\t")[3], "yes", "re-evaluated: \(line)") }
        XCTAssertTrue(try String(contentsOfFile: "\(run)/search.json", encoding: .utf8).contains("emitted-c"))
        // Continuing with another latency target is refused: the latencies would not compare.
        let again = try start(searchArguments(children: 9, ["--strategy", "nsga2", "--objectives", "accuracy,latency", "--workers", "2"]), log: "again.log")
        finish(again)
        XCTAssertNotEqual(again.terminationStatus, 0)
        XCTAssertTrue(output("again.log").contains("--latency-target emitted-c, not jit"), output("again.log"))
    }

    /// `nasc correlate`: a sample of a search's children trained with a
    /// final recipe, each result recorded as it finishes; run again, it
    /// trains nothing and prints the same correlation.
    func testCorrelateRecordsEachChildAndResumes() throws {
        let search = try start(searchArguments(children: 4, ["--in-process", "--strategy", "random"]), log: "search.log")
        finish(search)
        XCTAssertEqual(search.terminationStatus, 0, output("search.log"))
        let arguments = ["correlate", run, "--children", "3", "--epochs", "1", "--batch", "16", "--validation", "64",
                         "--data", dir.appendingPathComponent("data").path, "--threads", "1"]
        let first = try MutatedSpecTests.nasc(arguments, timeout: 300)
        XCTAssertEqual(first.status, 0, first.output)
        XCTAssertTrue(first.output.contains("correlate: 3 of 4 children, spread over the ranking"), first.output)
        XCTAssertTrue(first.output.contains("validation 64; augmentation none, label smoothing 0.0; SGD, momentum 0.9"), "the recipe in words: \(first.output)")
        XCTAssertTrue(first.output.contains("rank correlation of search reward and test accuracy over 3 children: Kendall tau-b"), first.output)
        XCTAssertEqual(try sqlite("select count(*) from final_accuracy"), ["3"], first.output)
        let again = try MutatedSpecTests.nasc(arguments, timeout: 300)
        XCTAssertEqual(again.status, 0, again.output)
        XCTAssertTrue(again.output.contains("continuing: 3 already trained with this recipe"), again.output)
        XCTAssertEqual(again.output.components(separatedBy: "(recorded)").count - 1, 3, again.output)
        let line = { (text: String) in text.split(separator: "\n").last { $0.hasPrefix("rank correlation") } }
        XCTAssertEqual(line(again.output), line(first.output))
        let other = try MutatedSpecTests.nasc(arguments + ["--lr", "0.01"], timeout: 300)
        XCTAssertEqual(other.status, 0, other.output)
        XCTAssertFalse(other.output.contains("(recorded)"), "another recipe is another measurement: \(other.output)")
        let one = try MutatedSpecTests.nasc(["correlate", run, "--children", "1"], timeout: 60)
        XCTAssertEqual(one.status, 64, "a usage error: \(one.output)")
        XCTAssertTrue(one.output.contains("--children"), one.output)
    }

    /// Bad input to the new commands: an error naming what is wrong.
    func testWorkerAndStatusRefuseWhatIsNotARun() throws {
        let missing = try MutatedSpecTests.nasc(["worker", dir.appendingPathComponent("nope").path], timeout: 60)
        XCTAssertEqual(missing.status, 1)
        XCTAssertTrue(missing.output.contains("no such run folder"), missing.output)
        let status = try MutatedSpecTests.nasc(["status", dir.path], timeout: 60)
        XCTAssertEqual(status.status, 1)
        XCTAssertTrue(status.output.contains("not a search run folder"), status.output)
        let flags = try MutatedSpecTests.nasc(["search", "--in-process", "--workers", "3"], timeout: 60)
        XCTAssertNotEqual(flags.status, 0)
        XCTAssertTrue(flags.output.contains("--in-process"), flags.output)
        let memory = try MutatedSpecTests.nasc(["search", "--child-memory", "lots"], timeout: 60)
        XCTAssertTrue(memory.status != 0 && memory.output.contains("--child-memory must be a size"), memory.output)
        let url = try MutatedSpecTests.nasc(["search", "--storage", "mysql://u@h/db", "--out", run], timeout: 60)
        XCTAssertTrue(url.status == 1 && url.output.contains("not a PostgreSQL URL"), url.output)
        XCTAssertFalse(FileManager.default.fileExists(atPath: run), "nothing is written for a bad --storage")
        let port = try MutatedSpecTests.nasc(["status", "postgresql://nasc@127.0.0.1:1/nas"], timeout: 60)
        XCTAssertTrue(port.status == 1 && port.output.contains("cannot connect"), port.output)
    }
}
