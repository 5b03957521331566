import Foundation

/// Worker processes on this machine, kept alive: each is `nasc worker
/// --serve`, its output appended to its own log file. One that dies (a
/// signal from a crashing child, the kernel's OOM killer, a kill -9) has its
/// child released with the signal and the tail of its log, so the child is
/// retried or recorded as crashed, and is replaced by a fresh process.
///
/// Used by the coordinator (`nasc search --workers K`) and by `nasc worker`
/// itself, so a worker started by hand on another machine survives its
/// children the same way.
public final class WorkerProcesses {
    struct Slot {
        var process: Process?
        var log: String
        var started = Date()
        /// Log length when this process started: its own output follows.
        var logOffset: UInt64 = 0
    }

    let executable: String
    let arguments: [String]
    let store: TrialStore
    let maxAttempts: Int
    let environment: [String: String]
    let say: (String) -> Void
    var slots: [Slot]
    /// Processes in a row that died within seconds of starting: a worker
    /// that cannot start (no dataset on this machine, say) is an error,
    /// not a loop.
    var quickDeaths = 0

    /// `count` processes running `executable arguments`, logs in
    /// `logFolder` as `logPrefix`1.log, `logPrefix`2.log...
    public init(executable: String, arguments: [String], count: Int, logFolder: String, logPrefix: String = "worker-", store: TrialStore, maxAttempts: Int,
                environment: [String: String] = ProcessInfo.processInfo.environment, say: @escaping (String) -> Void) throws {
        self.executable = executable
        self.arguments = arguments
        self.store = store
        self.maxAttempts = maxAttempts
        self.environment = environment
        self.say = say
        try FileManager.default.createDirectory(atPath: logFolder, withIntermediateDirectories: true)
        slots = (0..<count).map { Slot(log: "\(logFolder)/\(logPrefix)\($0 + 1).log") }
        for i in slots.indices { try start(i) }
    }

    deinit { stop() }

    public var pids: [Int32] { slots.compactMap { $0.process?.processIdentifier } }

    private func start(_ i: Int) throws {
        if !FileManager.default.fileExists(atPath: slots[i].log) { _ = FileManager.default.createFile(atPath: slots[i].log, contents: nil) }
        guard let out = FileHandle(forWritingAtPath: slots[i].log) else { throw SearchError(message: "cannot write the worker log", file: slots[i].log) }
        defer { try? out.close() }
        slots[i].logOffset = out.seekToEndOfFile()
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments
        p.environment = environment
        p.standardOutput = out
        p.standardError = out
        p.standardInput = FileHandle.nullDevice
        do { try p.run() } catch { throw SearchError(message: "cannot start a worker process: \(error)", file: executable) }
        slots[i].process = p
        slots[i].started = Date()
    }

    /// Replaces processes that ended; releases the children they held.
    /// `wanted`: whether the search still needs workers (a process that
    /// ended because the search finished is not replaced).
    public func poll(wanted: Bool) throws {
        for i in slots.indices {
            guard let p = slots[i].process, !p.isRunning else { continue }
            slots[i].process = nil
            let worker = Worker.id(pid: p.processIdentifier)
            let signalled = p.terminationReason == .uncaughtSignal
            let status = p.terminationStatus
            let died = signalled || status != 0
            // A process that stopped a timed-out child recorded it itself.
            let timedOut = !signalled && status == Worker.timeoutStatus
            if !died && !wanted { continue }
            let how = signalled ? "killed by signal \(status) (\(WorkerProcesses.signalName(status)))" : "exited with status \(status)"
            let tail = logTail(i)
            if died && !timedOut {
                say("worker \(worker) \(how); the child it held goes back to the queue (or is recorded as crashed); starting another")
            }
            try store.release(worker: worker, reason: died ? how + (tail.isEmpty ? "" : "; its last output: \(tail)") : "the worker stopped",
                              maxAttempts: maxAttempts)
            if Date().timeIntervalSince(slots[i].started) < 5 && !signalled && !timedOut {
                quickDeaths += 1
                if quickDeaths >= 3 {
                    throw SearchError(message: "worker processes end as soon as they start (\(how)); the last one said: \(tail)", file: slots[i].log)
                }
            } else {
                quickDeaths = 0
            }
            if wanted { try start(i) }
        }
    }

    /// Whether any process still runs.
    public var anyRunning: Bool { slots.contains { $0.process?.isRunning == true } }

    /// Ends every process (SIGTERM, then SIGKILL after a grace period).
    public func stop() {
        let running = slots.compactMap(\.process).filter(\.isRunning)
        for p in running { kill(p.processIdentifier, SIGTERM) }
        let deadline = Date().addingTimeInterval(5)
        while running.contains(where: \.isRunning) && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        for p in running where p.isRunning { kill(p.processIdentifier, SIGKILL) }
        for p in running { p.waitUntilExit() }
        // Never the child's fault: the lease given back is not an attempt.
        for p in slots.compactMap(\.process) {
            try? store.release(worker: Worker.id(pid: p.processIdentifier), reason: "its search stopped it", maxAttempts: maxAttempts, attempted: false)
        }
        for i in slots.indices { slots[i].process = nil }
    }

    /// What a process said last, from its log (at most 64 KB are read):
    /// Swift's crash report when it crashed (what happened, and the frame
    /// it happened in; the full backtrace stays in the log), else its last lines.
    func logTail(_ i: Int) -> String {
        guard let h = FileHandle(forReadingAtPath: slots[i].log) else { return "" }
        defer { try? h.close() }
        let end = h.seekToEndOfFile()
        h.seek(toFileOffset: max(slots[i].logOffset, end > 65536 ? end - 65536 : 0))
        let lines = String(decoding: h.readDataToEndOfFile(), as: UTF8.self).split(separator: "\n")
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        if let crash = lines.firstIndex(where: { $0.hasPrefix("*** Program crashed") }) {
            let frame = lines[crash...].firstIndex { $0.hasSuffix("crashed:") }.flatMap { $0 + 1 < lines.count ? lines[$0 + 1] : nil }
            return ([lines[crash]] + (frame.map { [$0.split(separator: " ").filter { !$0.isEmpty }.joined(separator: " ")] } ?? [])).joined(separator: " | ")
        }
        return lines.suffix(4).joined(separator: " | ")
    }

    static func signalName(_ s: Int32) -> String {
        let names: [Int32: String] = [SIGSEGV: "SIGSEGV", SIGBUS: "SIGBUS", SIGILL: "SIGILL", SIGFPE: "SIGFPE", SIGABRT: "SIGABRT",
                                      SIGKILL: "SIGKILL", SIGTERM: "SIGTERM", SIGINT: "SIGINT", SIGTRAP: "SIGTRAP"]
        return names[s] ?? "signal \(s)"
    }
}
