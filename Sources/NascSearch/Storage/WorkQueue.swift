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
    /// Its multi-fidelity rung (0: a new child), and for a promotion the
    /// job that trained the same child at the rung before.
    public var rung = 0
    public var parent: Int? = nil

    /// A job as the store hands it out (tests build one directly).
    public init(id: Int, decisions: [Int], strategy: String, status: String = "queued", worker: String = "", leaseUntil: Double = 0,
                attempts: Int = 0, started: Double = 0, lastError: String = "", rung: Int = 0, parent: Int? = nil) {
        (self.id, self.decisions, self.strategy, self.status, self.worker) = (id, decisions, strategy, status, worker)
        (self.leaseUntil, self.attempts, self.started, self.lastError, self.rung, self.parent) = (leaseUntil, attempts, started, lastError, rung, parent)
    }
}

extension TrialStore.Trial {
    /// The trial of `job` before anything is known of its child (no hash,
    /// no reward yet): where training starts, and what a job that never
    /// finished training is recorded as.
    public init(job: Job, status: String, error: String = "", trainSeconds: Double = 0, worker: String = "") {
        self.init(id: 0, strategy: job.strategy, decisions: job.decisions, hash: "", reward: 0, validationAccuracy: 0, parameters: 0, flops: 0,
                  compileSeconds: 0, trainSeconds: trainSeconds, status: status, error: error, job: job.id, worker: worker)
        rung = job.rung
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
        // Multi-fidelity: a promotion's rung and the job it continues.
        let have = try db.columns(of: "jobs")
        if !have.contains("rung") { try db.define("alter table jobs add column rung {int} not null default 0") }
        if !have.contains("parent") { try db.define("alter table jobs add column parent {int}") }
        // The state a trained child reached, kept while a promotion may continue it.
        try db.define("create table if not exists checkpoints (job {int} primary key, data {blob} not null)")
        // Workers say they are alive here; `nasc status` reads it.
        try db.define("""
            create table if not exists workers (
              id text primary key, host text not null, pid {int} not null, started {real} not null,
              heartbeat {real} not null, job {int}, children {int} not null default 0, version text not null default '')
            """)
    }

    static let jobColumns = "id, decisions, strategy, status, worker, lease_until, attempts, started, last_error, rung, parent"

    static func job(_ row: [SQLValue]) -> Job {
        Job(id: row[0].int ?? 0, decisions: (row[1].text ?? "").split(separator: ",").compactMap { Int($0) }, strategy: row[2].text ?? "",
            status: row[3].text ?? "", worker: row[4].text ?? "", leaseUntil: row[5].real ?? 0, attempts: row[6].int ?? 0,
            started: row[7].real ?? 0, lastError: row[8].text ?? "", rung: row[9].int ?? 0, parent: row[10].int)
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

    /// A promotion: `trial`'s child, trained on from its checkpoint to the next rung.
    @discardableResult
    public func enqueuePromotion(of trial: Trial) throws -> Int {
        guard let parent = trial.job else { throw SearchError(message: "trial \(trial.id) belongs to no job: it cannot be promoted", file: path) }
        return try database.query("insert into jobs (decisions, strategy, proposed, rung, parent) values (?, ?, ?, ?, ?) returning id",
                                  .text(trial.decisions.map(String.init).joined(separator: ",")), .text(trial.strategy), .real(WorkQueue.now),
                                  .int(Int64(trial.rung + 1)), .int(Int64(parent))).first?.first?.int ?? 0
    }

    /// Jobs whose child has been promoted (some job continues from them).
    public func promotedJobs() throws -> Set<Int> {
        Set(try database.query("select parent from jobs where parent is not null").compactMap { $0[0].int })
    }

    /// Every child once, best first: a child promoted by multi-fidelity
    /// appears at the highest rung it reached, and children rank by that
    /// rung, then by reward (a reward at a larger budget is the better
    /// informed one). Without promotions: every trial, by reward.
    public func ranked() throws -> [Trial] { TrialStore.ranked(try all(), promoted: try promotedJobs()) }

    /// Every child that trained at the first rung, by that rung's reward,
    /// best first: the one budget every child got, so the ranking a proxy's
    /// quality is judged by (`nasc correlate`). Promoted children are here
    /// too, with their first result (`ranked()` shows them at a later rung).
    public func firstRung() throws -> [Trial] {
        try all().filter { $0.rung == 0 && $0.status == "ok" }.sorted { ($0.reward, -$0.id) > ($1.reward, -$1.id) }
    }

    /// The ranking of `ranked()` over given trials (a report's); a reward
    /// that is not a number ranks last.
    public static func ranked(_ trials: [Trial], promoted: Set<Int>) -> [Trial] {
        let reward = { (t: Trial) in t.reward.isFinite ? t.reward : -.infinity }
        return trials.filter { !promoted.contains($0.job ?? -1) }.sorted { ($0.rung, reward($0), -$0.id) > ($1.rung, reward($1), -$1.id) }
    }

    /// The checkpoint `job`'s child reached, while a promotion may still need it.
    public func checkpoint(job: Int) throws -> Data? {
        try database.query("select data from checkpoints where job = ?", .int(Int64(job))).first?.first?.blob
    }

    /// Jobs whose checkpoint is kept: promote only these (the others' were pruned).
    public func checkpointedJobs() throws -> Set<Int> {
        Set(try database.query("select job from checkpoints").compactMap { $0[0].int })
    }

    /// Deletes every kept checkpoint, for a search that is over: no
    /// promotion is due, so none would be read unless a continued run
    /// (more children) promoted an old child, which it then cannot.
    /// Returns the checkpoints deleted and their bytes.
    public func pruneCheckpoints() throws -> (count: Int, bytes: Int) {
        try database.transaction {
            let row = try database.query("select count(*), coalesce(sum(length(data)), 0) from checkpoints").first
            try database.query("delete from checkpoints")
            return (count: row?[0].int ?? 0, bytes: row?[1].int ?? 0)
        }
    }

    /// Gives the space of deleted rows back to the file system (SQLite);
    /// PostgreSQL reuses it by itself.
    public func compact() throws {
        guard database.dialect == .sqlite else { return }
        try database.query("vacuum")
        try database.query("pragma wal_checkpoint(truncate)")
    }

    /// New children proposed so far (rung 0; promotions are not new children,
    /// nor proposals refused over the cost limit: see Trial.isNewChild).
    /// Every child a strategy has proposed in this store: the new
    /// children's jobs (refused ones included), and trials from before the
    /// store kept jobs.
    public func proposals() throws -> Int {
        (try database.query("select count(*) from jobs where rung = 0").first?.first?.int ?? 0)
            + (try database.query("select count(*) from trials where job is null").first?.first?.int ?? 0)
    }

    public func newChildrenProposed() throws -> Int {
        try database.query("select count(*) from jobs where rung = 0 and id not in (select job from trials where status = ? and job is not null)",
                           .text(TrialStore.overLimit)).first?.first?.int ?? 0
    }

    /// Whether the search is over for workers: every child it asks for (its
    /// settings' `children`; a coordinator continuing with more raises it) is
    /// recorded, and with multi-fidelity the coordinator has also said that
    /// no promotion is left.
    public func hasAllChildren() throws -> Bool {
        guard let settings = try settings() else { return false }
        if Fidelity(json: settings) != nil {
            return try database.query("select value from settings where key = 'finished'").first?.first?.text == "1"
        }
        return try count() >= (settings["children"] as? Int ?? Int.max)
    }

    /// Marks a multi-fidelity search over (or, continuing it, not over).
    public func setFinished(_ finished: Bool) throws {
        try database.query("insert into settings (key, value) values ('finished', ?) on conflict (key) do update set value = excluded.value",
                           .text(finished ? "1" : "0"))
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
    ///
    /// `checkpoint` is the state the child reached, kept for its promotion;
    /// a promotion's own result makes its parent's checkpoint obsolete.
    public func complete(job: Int, worker: String, trial: Trial, checkpoint: Data? = nil) throws -> Int? {
        try database.transaction {
            guard let row = try database.query("select rung, parent from jobs where id = ? and worker = ? and status = 'running'", .int(Int64(job)), .text(worker)).first else {
                return nil
            }
            var t = trial
            t.job = job
            t.worker = worker
            t.rung = row[0].int ?? 0
            let id = try insert(t)
            if let parent = row[1].int { try database.query("delete from checkpoints where job = ?", .int(Int64(parent))) }
            if let checkpoint {
                try database.query("insert into checkpoints (job, data) values (?, ?) on conflict (job) do update set data = excluded.data",
                                   .int(Int64(job)), .blob(checkpoint))
            }
            try database.query("update jobs set status = 'done' where id = ?", .int(Int64(job)))
            try database.query("update workers set job = null, children = children + 1 where id = ?", .text(worker))
            return id
        }
    }

    /// A worker that is gone (its process ended, or its supervisor saw it
    /// die): the job it held goes back to the queue, or is recorded as
    /// crashed with `reason` once it has had `maxAttempts` leases.
    /// `attempted: false` (a worker stopped politely, by SIGINT or SIGTERM):
    /// the lease it gives back does not count as an attempt.
    public func release(worker: String, reason: String, maxAttempts: Int, attempted: Bool = true) throws {
        try database.transaction {
            for var job in try database.query("select \(WorkQueue.jobColumns) from jobs where status = 'running' and worker = ?", .text(worker)).map(WorkQueue.job) {
                if !attempted {
                    job.attempts -= 1
                    try database.query("update jobs set attempts = ? where id = ?", .int(Int64(job.attempts)), .int(Int64(job.id)))
                }
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
