import ArgumentParser
import Foundation
import NascData
import NascPostgres
import NascRuntime
import NascSearch
import NascTraining

/// How `nasc search` runs its children: the worker flags.
struct SearchWorkerFlags: ParsableArguments {
    @Option(help: "Worker processes to start on this machine, sharing --threads between them (default: one single-threaded worker per thread, the fastest split measured on 2 cores). 0: start none, and wait for workers started with `nasc worker`.")
    var workers: Int?

    @Flag(help: "Train children inside the search's own process (debugging): no worker processes, so a child that crashes ends the search.")
    var inProcess = false

    @Option(help: ArgumentHelp("A child still training after S seconds is stopped and recorded as timed out (0: no limit).", valueName: "S"))
    var childTimeout = 1800.0

    @Option(help: ArgumentHelp("A worker renews its lease on a child every S/4 seconds; a child whose lease is not renewed for S seconds (its worker died, or its machine) goes back to the queue.", valueName: "S"))
    var leaseSeconds = 60.0

    @Option(help: "Leases a child gets before a child whose worker keeps dying is recorded as crashed.")
    var maxAttempts = 2

    @Option(help: ArgumentHelp("Memory each local worker may give a child (4G, 512M); a child that needs more is recorded as refused before it trains. Default: NASC_MEMORY_LIMIT if set, else 80% of this machine's memory shared between the workers.", valueName: "SIZE"))
    var childMemory: String?
}

/// The path of the running nasc binary, for the worker processes it starts.
func currentExecutable() -> String {
    var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
    let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
    return n > 0 ? String(cString: buffer) : CommandLine.arguments[0]
}

/// `path` made absolute against the current folder: worker processes and
/// settings recorded in a store must not depend on where a command ran.
func absolutePath(_ path: String) -> String {
    path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
}

struct WorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Train children of a running search: lease them from its store, train each, record its result.",
        discussion: """
            `nasc search` starts its own workers (--workers K); start more \
            with this command, as many as you like, while the search runs. \
            Each keeps K worker processes alive: a process that dies with \
            its child (a crash in JIT code, the OOM killer, kill -9) has the \
            child retried or recorded as crashed, and is replaced. A worker \
            stops when the search has all its children.

            The images are loaded as the search's settings say (its dataset \
            and folder), so they must be at the same path on this machine. \
            Worker logs: RUN/workers/.

            Example:
              nasc search --workers 0 --out runs/a &   # a coordinator that trains nothing itself
              nasc worker runs/a --processes 2 --threads 1
            """)

    @Argument(help: "A search's run folder on this machine (or give --storage).")
    var folder: String?

    @OptionGroup var storageFlags: StorageFlags

    @Option(help: "Worker processes to keep running.")
    var processes = 1

    @OptionGroup var threadFlags: ThreadFlags

    @Option(help: ArgumentHelp("Where the worker processes' logs go (default: RUN/workers, or nasc-worker-logs with --storage).", valueName: "DIR"))
    var logs: String?

    @Flag(help: .hidden) var serve = false
    @Flag(help: .hidden) var supervised = false

    func validate() throws {
        try FlagCheck.int(processes, "--processes", 1...256)
        guard folder != nil || storageFlags.url != nil else { throw ValidationError("give a search's run folder, or --storage URL") }
    }

    /// The store, once its search has started (workers may start first).
    func waitForStore(_ url: StorageURL?) throws -> TrialStore {
        if let folder, storageFlags.url == nil {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw CommandError("\(folder): error: no such run folder: give the --out of a search (workers may start before it, but not before its folder)")
            }
        }
        var waited = false
        while true {
            let ready = folder.map { FileManager.default.fileExists(atPath: "\($0)/trials.db") || StoreLocation.recordedURL($0) != nil } ?? true
            if ready {
                let store = try StoreLocation.open(folder: folder, url: storageFlags.url)
                if try store.settings() != nil {
                    try StoreLocation.refuseCellSearch(store, url?.description ?? folder!, "worker")
                    return store
                }
            }
            try Interruption.check()
            if !waited { print("worker: waiting for a search to start in \(url?.description ?? folder!)"); fflush(stdout); waited = true }
            Thread.sleep(forTimeInterval: 0.5)
        }
    }

    func run() throws {
        Interruption.install()
        try reportingErrors(whenStopped: { "the children it held went back to the queue; start it again to serve the search on" }) {
            let url = try storageFlags.parsed()
            let store = try waitForStore(url)
            if serve {
                // One worker in this process: what the supervisor below runs.
                let worker = try Worker(store: store, execution: ExecutionSettings(threads: threadFlags.threads), version: NascVersion.string,
                                        faults: Faults(environment: ProcessInfo.processInfo.environment)) { line in
                    print(line)
                    fflush(stdout)
                }
                try worker.serve(supervised: supervised)
                return
            }
            guard let json = try store.settings(), let settings = SearchSettings(json: json) else {
                throw CommandError("\(store.path): error: the store's settings are not a search's")
            }
            let me = Worker.id()
            let location = url.map { ["--storage", $0.description] } ?? [folder!]
            var environment = ProcessInfo.processInfo.environment
            if let password = url?.password { environment["PGPASSWORD"] = password }
            let logFolder = logs ?? (url == nil ? "\(folder!)/workers" : "nasc-worker-logs")
            let processes = try WorkerProcesses(executable: currentExecutable(),
                                                arguments: ["worker"] + location + ["--serve", "--supervised", "--threads", String(threadFlags.threads)],
                                                count: processes, logFolder: logFolder, logPrefix: "\(me.replacingOccurrences(of: ":", with: "-"))-",
                                                store: store, maxAttempts: settings.maxAttempts, environment: environment) { print($0); fflush(stdout) }
            print("worker \(me): \(self.processes) process(es) of \(threadFlags.threads) thread(s) on \(store.path); logs in \(logFolder)/")
            while true {
                if Interruption.requested != nil {
                    // Its processes got the signal too (Ctrl-C reaches the
                    // whole process group); stop() sees to any that did not.
                    processes.stop()
                    try Interruption.check()
                }
                let finished = try store.hasAllChildren()
                try processes.poll(wanted: !finished)
                if finished && !processes.anyRunning { break }
                Thread.sleep(forTimeInterval: 0.2)
            }
            print("worker \(me): the search has all its children")
        }
    }
}

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a search's progress: children done, running (where, since when), failed, queued; its best so far.",
        discussion: """
            Reads the run's store only, so it works while the search runs. \
            --check also checks the store's integrity and exits with status 1 \
            if anything is wrong.

            Example:
              nasc status nasc-run
            """)

    @Argument(help: "A search's run folder, or its store's postgresql:// URL.")
    var runOrURL: String

    @Flag(help: "Check the store's integrity (every finished child recorded exactly once).")
    var check = false

    func run() throws {
        try reportingErrors {
            let store = try StoreLocation.open(runOrURL)
            let path = store.path
            let settings = try store.settings() ?? [:]
            let trials = try store.all()
            let counts = try store.jobCounts()
            let wanted = settings["children"] as? Int
            let children = trials.filter(\.isNewChild), overLimit = trials.filter(\.isOverLimit).count
            let promotions = trials.count - children.count - overLimit
            let byStatus = Dictionary(grouping: children, by: \.status).mapValues(\.count)
            print("\(path): \(children.count)\(wanted.map { " of \($0)" } ?? "") children done ("
                  + byStatus.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ") + "), "
                  + (promotions > 0 ? "\(promotions) promotion(s) to higher rungs done, " : "")
                  + (overLimit > 0 ? "\(overLimit) proposal(s) refused over --max-mflops, " : "")
                  + "\(counts["running"] ?? 0) running, \(counts["queued"] ?? 0) queued")
            if let best = try store.ranked().first(where: \.succeeded) {
                // A cell search (search-cells) keeps each cell's validation perplexity where a CNN search keeps accuracy.
                if settings["space"] as? String == "rnn-cell" {
                    print(String(format: "best so far: trial %d, reward %.6f, validation perplexity %.1f, %d parameters",
                                 best.id, best.reward, best.validationAccuracy, best.parameters))
                } else {
                    print(String(format: "best so far: trial %d%@, reward %.4f, validation accuracy %.4f, %d parameters, %.1f MFLOP/image",
                                 best.id, best.rung > 0 ? " (rung \(best.rung))" : "", best.reward, best.validationAccuracy, best.parameters, Double(best.flops) / 1e6))
                }
            }
            let now = WorkQueue.now
            for job in try store.jobs(status: "running") {
                print(String(format: "  running: job %d on worker %@ for %.0f s (attempt %d, lease %@)", job.id, job.worker, now - job.started, job.attempts,
                             job.leaseUntil >= now ? String(format: "renewed, %.0f s left", job.leaseUntil - now) : "EXPIRED"))
            }
            for w in try store.workers() {
                print(String(format: "  worker %@ (nasc %@): %d children, last heartbeat %.0f s ago%@", w.id, w.version.isEmpty ? "?" : w.version,
                             w.children, now - w.heartbeat, w.job.map { ", training job \($0)" } ?? ", idle"))
            }
            let failed = trials.filter { !$0.succeeded && !$0.isOverLimit }
            for t in failed.suffix(5) { print("  \(t.status): trial \(t.id) (job \(t.job.map(String.init) ?? "-")): \(t.error.prefix(300))") }
            if failed.count > 5 { print("  ... \(failed.count - 5) more failed children: select id, status, error from trials where status not in ('ok','cached','over-limit') on \(path)") }
            if check {
                let problems = try store.problems()
                if problems.isEmpty {
                    print("integrity: ok (each of \(counts["done"] ?? 0) finished jobs has exactly one trial)")
                } else {
                    for p in problems { print("integrity: \(p)") }
                    throw ExitCode.failure
                }
            }
        }
    }
}
