import Foundation
import NascData
import NascRuntime
import NascTraining

/// A worker: leases children from a search's store, trains each
/// (ChildTrainer) and completes it with its trial. `nasc worker` runs one
/// per process, any number of them, on any machine that reaches the store;
/// a search with in-process training (tests, debugging) runs one inside
/// the coordinator.
///
/// While a child trains, a heartbeat thread renews the lease, stops a child
/// that outlives the timeout (recording it, then ending the process: JIT
/// code cannot be interrupted, and the supervisor starts a fresh process),
/// and ends the process when the supervisor that started it is gone.
public final class Worker {
    public let id: String
    public let store: TrialStore
    public let settings: SearchSettings
    let trainer: ChildTrainer
    let say: (String) -> Void
    let faults: Faults
    /// The job being trained and when it started, shared with the heartbeat thread.
    private let current = Locked<(job: Job, since: Date)?>(nil)

    /// The worker id a process gets: host and pid, so `nasc status` says
    /// where a child runs and a supervisor can name the worker it lost.
    public static func id(pid: Int32 = getpid()) -> String { "\(hostName):\(pid)" }
    public static var hostName: String { ProcessInfo.processInfo.hostName }

    /// A worker on `store`'s search. The images are loaded as the search's
    /// settings say, unless given (in-process training hands over its own).
    public init(store: TrialStore, execution: ExecutionSettings, images: (train: ImageDataset, validation: ImageDataset)? = nil,
                id: String = Worker.id(), version: String = "", faults: Faults = Faults(), say: @escaping (String) -> Void) throws {
        self.id = id
        self.store = store
        self.say = say
        self.faults = faults
        guard let json = try store.settings(), let settings = SearchSettings(json: json) else {
            throw SearchError(message: "no search has started in this store yet (no settings): start `nasc search` on it first", file: store.path)
        }
        self.settings = settings
        let data: (train: ImageDataset, validation: ImageDataset)
        if let images {
            data = images
        } else if let source = settings.images {
            data = try source.load()
        } else {
            throw SearchError(message: "this search's images were handed to it in memory, so no worker process can load them", file: store.path)
        }
        trainer = ChildTrainer(settings: settings, train: data.train, validation: data.validation, execution: execution)
        try store.register(worker: id, host: Worker.hostName, pid: Int(getpid()), version: version)
    }

    /// Leases one child and trains it; returns its trial (nil when the
    /// queue was empty, or the lease was lost and the result dropped).
    @discardableResult
    public func runOne() throws -> TrialStore.Trial? {
        guard let job = try store.lease(worker: id, seconds: settings.leaseSeconds, maxAttempts: settings.maxAttempts) else { return nil }
        current.value = (job, Date())
        defer { current.value = nil }
        faults.inject(job)
        let previous = try job.parent.flatMap { try store.checkpoint(job: $0) }
        var trial: TrialStore.Trial, checkpoint: Data?
        do {
            (trial, checkpoint) = try trainer.evaluate(job, known: { try self.store.known(hash: $0) }, previous: previous)
        } catch let stop as Interrupted {
            // Stopped politely: the child goes back to the queue at once,
            // and the stop does not count as one of its attempts.
            try store.release(worker: id, reason: "its worker was stopped by \(stop.name)", maxAttempts: settings.maxAttempts, attempted: false)
            say("worker \(id): stopped by \(stop.name) while training job \(job.id); it goes back to the queue")
            throw stop
        }
        guard let recorded = try store.complete(job: job.id, worker: id, trial: trial, checkpoint: checkpoint) else {
            say("worker \(id): job \(job.id) finished after its lease was taken back; its result is dropped (another worker records it)")
            return nil
        }
        trial.id = recorded
        trial.job = job.id
        trial.worker = id
        say("worker \(id): job \(job.id)\(job.rung > 0 ? " (rung \(job.rung))" : "") \(trial.status)" + (trial.succeeded ? String(format: ", accuracy %.4f, %.1f s", trial.validationAccuracy, trial.compileSeconds + trial.trainSeconds) : ": \(trial.error)"))
        return trial
    }

    /// Trains children until the search has all it asked for, waiting for
    /// the coordinator when the queue is empty.
    public func serve(supervised: Bool) throws {
        let heartbeat = Thread { [self] in beat(supervised: supervised, parent: getppid()) }
        heartbeat.start()
        say("worker \(id): serving \(store.path)")
        do {
            while true {
                try Interruption.check()
                if try runOne() != nil { continue }
                if try store.hasAllChildren() { break }
                Thread.sleep(forTimeInterval: 0.25)
            }
        } catch let stop as Interrupted {
            try store.release(worker: id, reason: "its worker was stopped by \(stop.name)", maxAttempts: settings.maxAttempts, attempted: false)
            throw stop
        }
        try store.release(worker: id, reason: "the worker stopped", maxAttempts: settings.maxAttempts)
        say("worker \(id): the search has all its children; stopping")
    }

    /// The heartbeat thread's loop, on its own connection to the store.
    private func beat(supervised: Bool, parent: pid_t) {
        let period = max(0.05, settings.leaseSeconds / 4)
        var lastBeat = Date.distantPast
        var own: TrialStore?
        while true {
            Thread.sleep(forTimeInterval: min(0.25, period))
            // The process that started this one is gone: so is the search
            // that wanted it (a restarted one starts its own workers).
            if supervised && getppid() != parent { _exit(0) }
            do {
                if own == nil { own = try TrialStore(database: try store.reopen()) }
                guard let store = own, let (job, since) = current.value else { continue }
                if settings.childTimeout > 0, Date().timeIntervalSince(since) > settings.childTimeout {
                    let trial = TrialStore.Trial(job: job, status: "timeout", error: String(format: "still training after the %.0f s child timeout; stopped", settings.childTimeout),
                                                 trainSeconds: Date().timeIntervalSince(since))
                    _ = try store.complete(job: job.id, worker: id, trial: trial)
                    say("worker \(id): job \(job.id) timed out after \(Int(settings.childTimeout)) s; ending this process (JIT code cannot be interrupted)")
                    _exit(Worker.timeoutStatus)
                }
                if Date().timeIntervalSince(lastBeat) >= period {
                    lastBeat = Date()
                    if !(try store.renew(job: job.id, worker: id, seconds: settings.leaseSeconds)) {
                        say("worker \(id): lost the lease on job \(job.id) (it expired); finishing it anyway, the store keeps one result")
                    }
                }
            } catch {
                say("worker \(id): heartbeat: \(error)")
            }
        }
    }

    /// The exit status of a worker process that stopped a timed-out child.
    public static let timeoutStatus: Int32 = 4
}

/// Faults on purpose, for the tests of what a crashing or hanging child
/// does to a search: `NASC_INJECT_FAULT=crash:3,hang:5` makes the worker
/// that leases job 3 die of SIGSEGV and the one that leases job 5 hang;
/// `hold:7` makes the first worker to lease job 7 keep it (renewing its
/// lease) until it is killed, and the job's later attempts run as usual (so
/// a test knows which worker holds which child when it kills it);
/// `delay:0.5` makes every child take half a second longer.
public struct Faults: Sendable {
    var crash: Set<Int> = [], hang: Set<Int> = [], hold: Set<Int> = []
    var delay = 0.0

    public init() {}

    public init(environment: [String: String]) {
        for item in (environment["NASC_INJECT_FAULT"] ?? "").split(separator: ",") {
            let parts = item.split(separator: ":")
            if parts.count == 2, parts[0] == "delay", let seconds = Double(parts[1]) { delay = seconds }
            guard parts.count == 2, let job = Int(parts[1]) else { continue }
            switch parts[0] {
            case "crash": crash.insert(job)
            case "hang": hang.insert(job)
            case "hold": hold.insert(job)
            default: continue
            }
        }
    }

    func inject(_ job: Job) {
        // A real bad access, as a miscompiled kernel would make (raise()
        // alone returns once Swift's backtracer has printed).
        if crash.contains(job.id) { UnsafeMutablePointer<Int>(bitPattern: 8)!.pointee = 1 }
        if hang.contains(job.id) || (hold.contains(job.id) && job.attempts == 1) { while true { sleep(60) } }
        if delay > 0 { Thread.sleep(forTimeInterval: delay) }
    }
}

/// A value shared between threads.
public final class Locked<Value>: @unchecked Sendable {
    private var stored: Value
    private let lock = NSLock()
    public init(_ value: Value) { stored = value }
    public var value: Value {
        get { lock.lock(); defer { lock.unlock() }; return stored }
        set { lock.lock(); stored = newValue; lock.unlock() }
    }
    public func mutate(_ body: (inout Value) -> Void) { lock.lock(); body(&stored); lock.unlock() }
}
