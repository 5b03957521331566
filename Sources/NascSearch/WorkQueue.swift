import Foundation

/// The work queue of a search, in its store: the coordinator enqueues
/// children (jobs); workers lease them, renew their lease while they train
/// (the heartbeat), and complete them with their trial. A lease that is not
/// renewed expires and its job goes back to the queue, so a worker that
/// dies anywhere, on any machine, loses no child; after `maxAttempts`
/// leases a job is recorded as crashed instead of being tried forever.
///
/// Completing a job inserts its trial and marks the job done in one
/// transaction, and the trials table allows one trial per job: a child is
/// never recorded twice, even when a slow worker finishes a job whose lease
/// another worker took over.
public struct Job: Sendable {
    public var id: Int
    public var decisions: [Int]
    public var strategy: String
    /// queued, running or done.
    public var status: String
    public var worker: String
    public var leaseUntil: Double
    /// Leases taken so far (1 while the first worker trains it).
    public var attempts: Int
    public var started: Double
    /// Why the last worker to hold it let go (a signal, a lost lease).
    public var lastError: String
}

extension TrialStore.Trial {
    /// The trial of `job` before anything is known of its child (no hash,
    /// no reward yet): where training starts, and what a job that never
    /// finished training is recorded as.
    public init(job: Job, status: String, error: String = "", trainSeconds: Double = 0, worker: String = "") {
        self.init(id: 0, strategy: job.strategy, decisions: job.decisions, hash: "", reward: 0, validationAccuracy: 0, parameters: 0, flops: 0,
                  compileSeconds: 0, trainSeconds: trainSeconds, status: status, error: error, job: job.id, worker: worker)
    }
}

public enum WorkQueue {
    /// Seconds since 1970: leases compare clocks across machines, which must
    /// agree to within a fraction of a lease (NTP does).
    public static var now: Double { Date().timeIntervalSince1970 }

    static func createTables(_ db: Database) throws {
        try db.define("""
            create table if not exists jobs (
              id {id}, decisions text not null, strategy text not null,
              status text not null default 'queued', worker text not null default '',
              lease_until {real} not null default 0, attempts {int} not null default 0,
              started {real} not null default 0, last_error text not null default '',
              proposed {real} not null)
            """)
        try db.query("create index if not exists jobs_status on jobs(status)")
        // Workers say they are alive here; `nasc status` reads it.
        try db.define("""
            create table if not exists workers (
              id text primary key, host text not null, pid {int} not null, started {real} not null,
              heartbeat {real} not null, job {int}, children {int} not null default 0, version text not null default '')
            """)
    }

    static let jobColumns = "id, decisions, strategy, status, worker, lease_until, attempts, started, last_error"

    static func job(_ row: [SQLValue]) -> Job {
        Job(id: row[0].int ?? 0, decisions: (row[1].text ?? "").split(separator: ",").compactMap { Int($0) }, strategy: row[2].text ?? "",
            status: row[3].text ?? "", worker: row[4].text ?? "", leaseUntil: row[5].real ?? 0, attempts: row[6].int ?? 0,
            started: row[7].real ?? 0, lastError: row[8].text ?? "")
    }
}

/// Leases, heartbeats and completions: what workers and the coordinator do
/// to the queue.
extension TrialStore {
    /// Adds children to the queue; returns their job ids.
    @discardableResult
    public func enqueue(_ children: [[Int]], strategy: String) throws -> [Int] {
        try database.transaction {
            try children.map { decisions in
                try database.query("insert into jobs (decisions, strategy, proposed) values (?, ?, ?) returning id",
                                   .text(decisions.map(String.init).joined(separator: ",")), .text(strategy), .real(WorkQueue.now))
                    .first?.first?.int ?? 0
            }
        }
    }

    /// Whether every child the search asks for (its settings' `children`;
    /// a coordinator continuing with more raises it) is recorded.
    public func hasAllChildren() throws -> Bool {
        try count() >= (settings()?["children"] as? Int ?? Int.max)
    }

    public func jobs(status: String? = nil) throws -> [Job] {
        if let status {
            return try database.query("select \(WorkQueue.jobColumns) from jobs where status = ? order by id", .text(status)).map(WorkQueue.job)
        }
        return try database.query("select \(WorkQueue.jobColumns) from jobs order by id").map(WorkQueue.job)
    }

    /// Jobs by status: queued, running, done.
    public func jobCounts() throws -> [String: Int] {
        var out = ["queued": 0, "running": 0, "done": 0]
        for row in try database.query("select status, count(*) from jobs group by status") { out[row[0].text ?? ""] = row[1].int ?? 0 }
        return out
    }

    /// The oldest queued job, now leased to `worker` for `seconds`; nil when
    /// the queue is empty. Expired leases are taken back first.
    public func lease(worker: String, seconds: Double, maxAttempts: Int) throws -> Job? {
        try database.transaction {
            try reclaimExpired(maxAttempts: maxAttempts)
            guard var job = try database.query("select \(WorkQueue.jobColumns) from jobs where status = 'queued' order by id limit 1").first.map(WorkQueue.job) else {
                return nil
            }
            let now = WorkQueue.now
            try database.query("update jobs set status = 'running', worker = ?, lease_until = ?, attempts = attempts + 1, started = ? where id = ?",
                               .text(worker), .real(now + seconds), .real(now), .int(Int64(job.id)))
            try database.query("update workers set job = ?, heartbeat = ? where id = ?", .int(Int64(job.id)), .real(now), .text(worker))
            job.status = "running"
            job.worker = worker
            job.attempts += 1
            job.started = now
            return job
        }
    }

    /// Extends `worker`'s lease on `job`; false when it lost the lease (it
    /// expired and went back to the queue), so its result will not count.
    public func renew(job: Int, worker: String, seconds: Double) throws -> Bool {
        try database.transaction {
            let now = WorkQueue.now
            try database.query("update workers set heartbeat = ? where id = ?", .real(now), .text(worker))
            return !(try database.query("update jobs set lease_until = ? where id = ? and worker = ? and status = 'running' returning id",
                                        .real(now + seconds), .int(Int64(job)), .text(worker))).isEmpty
        }
    }

    /// Records `trial` as the result of `job` and marks the job done, in one
    /// transaction; returns the trial's id, or nil when the job is no longer
    /// this worker's (its lease expired and it was requeued, leased again or
    /// finished by another): the result is then dropped, never recorded twice.
    public func complete(job: Int, worker: String, trial: Trial) throws -> Int? {
        try database.transaction {
            guard !(try database.query("select id from jobs where id = ? and worker = ? and status = 'running'", .int(Int64(job)), .text(worker))).isEmpty else {
                return nil
            }
            var t = trial
            t.job = job
            t.worker = worker
            let id = try insert(t)
            try database.query("update jobs set status = 'done' where id = ?", .int(Int64(job)))
            try database.query("update workers set job = null, children = children + 1 where id = ?", .text(worker))
            return id
        }
    }

    /// A worker that is gone (its process ended, or its supervisor saw it
    /// die): the job it held goes back to the queue, or is recorded as
    /// crashed with `reason` once it has had `maxAttempts` leases.
    public func release(worker: String, reason: String, maxAttempts: Int) throws {
        try database.transaction {
            for job in try database.query("select \(WorkQueue.jobColumns) from jobs where status = 'running' and worker = ?", .text(worker)).map(WorkQueue.job) {
                try giveBack(job, reason: reason, maxAttempts: maxAttempts)
            }
            try database.query("delete from workers where id = ?", .text(worker))
        }
    }

    /// Takes back every job whose lease ran out (call inside a transaction).
    func reclaimExpired(maxAttempts: Int) throws {
        let now = WorkQueue.now
        for job in try database.query("select \(WorkQueue.jobColumns) from jobs where status = 'running' and lease_until < ?", .real(now)).map(WorkQueue.job) {
            try giveBack(job, reason: "its lease expired: worker \(job.worker) stopped renewing it", maxAttempts: maxAttempts)
        }
    }

    private func giveBack(_ job: Job, reason: String, maxAttempts: Int) throws {
        if job.attempts >= maxAttempts {
            try insert(Trial(job: job, status: "crashed", error: "tried \(job.attempts) time(s), its worker died each time; the last: \(reason)",
                             trainSeconds: WorkQueue.now - job.started, worker: job.worker))
            try database.query("update jobs set status = 'done', last_error = ? where id = ?", .text(reason), .int(Int64(job.id)))
        } else {
            try database.query("update jobs set status = 'queued', worker = '', lease_until = 0, last_error = ? where id = ?",
                               .text(reason), .int(Int64(job.id)))
        }
    }

    // MARK: Workers

    public struct WorkerRow: Sendable {
        public var id: String, host: String, pid: Int, started: Double, heartbeat: Double, job: Int?, children: Int, version: String
    }

    public func register(worker: String, host: String, pid: Int, version: String) throws {
        let now = WorkQueue.now
        try database.query("""
            insert into workers (id, host, pid, started, heartbeat, job, children, version) values (?, ?, ?, ?, ?, null, 0, ?)
            on conflict (id) do update set host = excluded.host, pid = excluded.pid, started = excluded.started,
              heartbeat = excluded.heartbeat, job = null, children = 0, version = excluded.version
            """,
                           .text(worker), .text(host), .int(Int64(pid)), .real(now), .real(now), .text(version))
    }

    public func workers() throws -> [WorkerRow] {
        try database.query("select id, host, pid, started, heartbeat, job, children, version from workers order by started").map {
            WorkerRow(id: $0[0].text ?? "", host: $0[1].text ?? "", pid: $0[2].int ?? 0, started: $0[3].real ?? 0,
                      heartbeat: $0[4].real ?? 0, job: $0[5].int, children: $0[6].int ?? 0, version: $0[7].text ?? "")
        }
    }
}
