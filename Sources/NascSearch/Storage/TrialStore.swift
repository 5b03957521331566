import Foundation

/// Everything a search knows, in one database: its settings, every trial,
/// the work queue (WorkQueue.swift) and the strategy's state. By default an
/// SQLite file (`trials.db` in the run folder) that any SQLite client reads:
///
///     sqlite3 run/trials.db 'select id, reward, val_accuracy, hash from trials order by reward desc limit 5'
///
/// Every write that must not be half-done (a trial and its job; the
/// strategy's state and the trials it learned from) is one transaction, so
/// a process killed at any moment leaves the store consistent.
public final class TrialStore {
    public struct Trial: Sendable {
        public var id: Int
        public var strategy: String
        public var decisions: [Int]
        public var hash: String
        public var reward: Double
        public var validationAccuracy: Double
        public var parameters: Int
        public var flops: Int
        public var compileSeconds: Double
        /// Training steps only; `evaluateSeconds` is the validation passes.
        public var trainSeconds: Double
        public var evaluateSeconds: Double = 0
        /// ok; cached (same hash as an earlier child, its reward reused);
        /// failed (an error: the message says which); refused (it does not
        /// fit the memory limit, found before training); diverged (NaN
        /// loss); timeout; crashed (its worker died, as many times as it was
        /// tried); over-limit (a proposal above --max-mflops, refused by the
        /// coordinator before it was queued: not a child of the search's count).
        public var status: String
        public var error: String
        /// The job it was trained for (nil for trials of older stores).
        public var job: Int? = nil
        /// The worker that trained it ("in-process" when the coordinator did).
        public var worker: String = ""
        /// When it was recorded (UTC, "YYYY-MM-DD HH:MM:SS").
        public var created: String = ""
        /// The multi-fidelity rung it was trained to (0 without multi-fidelity).
        public var rung = 0
        /// Its inference latency at batch 1 on one thread, in milliseconds
        /// (ChildLatency; nil if not measured: stores from before, or a child that did not train).
        public var latencyMs: Double? = nil

        public init(id: Int, strategy: String, decisions: [Int], hash: String, reward: Double, validationAccuracy: Double, parameters: Int, flops: Int,
                    compileSeconds: Double, trainSeconds: Double, evaluateSeconds: Double = 0, status: String, error: String, job: Int? = nil, worker: String = "", created: String = "") {
            (self.id, self.strategy, self.decisions, self.hash, self.reward, self.validationAccuracy) = (id, strategy, decisions, hash, reward, validationAccuracy)
            (self.parameters, self.flops, self.compileSeconds, self.trainSeconds, self.evaluateSeconds) = (parameters, flops, compileSeconds, trainSeconds, evaluateSeconds)
            (self.status, self.error, self.job, self.worker, self.created) = (status, error, job, worker, created)
        }

        /// Whether the child trained and its reward means something.
        public var succeeded: Bool { status == "ok" || status == "cached" }
        /// Whether it is a proposal refused for its cost, never queued.
        public var isOverLimit: Bool { status == TrialStore.overLimit }
        /// Whether it counts against the search's `children`: a new child
        /// (not a promotion) that was queued. TrialStore.count() and
        /// WorkQueue.newChildrenProposed() say the same in SQL: change all three together.
        public var isNewChild: Bool { rung == 0 && !isOverLimit }
    }

    /// The schema this nasc reads and writes; a store of another version is
    /// refused with a message instead of being misread.
    public static let schemaVersion = 2

    public let database: Database
    public var path: String { database.location }

    /// A second connection to the same store, for another thread.
    public func reopen() throws -> Database { try database.reopen() }

    /// Opens (creating if needed) the SQLite store at `path`.
    public convenience init(path: String) throws {
        try self.init(database: try SQLiteDatabase(path: path))
    }

    public init(database: Database) throws {
        self.database = database
        try database.transaction {
            try database.define("create table if not exists settings (key text primary key, value text not null)")
            let version = try database.query("select value from settings where key = 'schema'").first?.first?.text.flatMap { Int($0) }
            if let version, version != TrialStore.schemaVersion {
                throw SearchError(message: version > TrialStore.schemaVersion
                                  ? "this store has schema version \(version), newer than this nasc reads (\(TrialStore.schemaVersion)): run a newer nasc here"
                                  : "this store has schema version \(version), older than this nasc writes (\(TrialStore.schemaVersion)): finish it with the nasc that started it",
                                  file: database.location)
            }
            try createTables()
            if version == nil { try database.query("insert into settings (key, value) values ('schema', ?)", .text(String(TrialStore.schemaVersion))) }
        }
    }

    private func createTables() throws {
        try database.define("""
            create table if not exists trials (
              id {id}, strategy text not null, decisions text not null, hash text not null,
              reward {real} not null, val_accuracy {real} not null, params {int} not null, flops {int} not null,
              compile_s {real} not null, train_s {real} not null, status text not null, error text not null,
              created text not null default {now})
            """)
        try database.query("create index if not exists trials_hash on trials(hash)")
        // Stores from before these columns: every trial counts as learned
        // from, and as the trial of no job.
        let have = try database.columns(of: "trials")
        if !have.contains("observed") { try database.define("alter table trials add column observed {int} not null default 1") }
        if !have.contains("job") { try database.define("alter table trials add column job {int}") }
        if !have.contains("worker") { try database.query("alter table trials add column worker text not null default ''") }
        if !have.contains("eval_s") { try database.define("alter table trials add column eval_s {real} not null default 0") }
        if !have.contains("rung") { try database.define("alter table trials add column rung {int} not null default 0") }
        if !have.contains("latency_ms") { try database.define("alter table trials add column latency_ms {real}") }
        // One trial per job, whatever two workers racing on an expired lease do.
        try database.query("create unique index if not exists trials_job on trials(job)")
        // The strategy's state (the controller's weights and Adam moments),
        // written in the same transaction that marks the trials it learned from.
        try database.define("create table if not exists strategy_state (id {int} primary key check (id = 1), data {blob} not null)")
        // One row per strategy update, for reports: how many trials it had
        // learned from, the controller's entropy, the rewards' mean.
        try database.define("create table if not exists updates (id {id}, trials {int} not null, entropy {real}, mean_reward {real} not null, at {real} not null)")
        // Children trained again with a final recipe (`nasc correlate`), to
        // measure how well the search's reward ranks them: one row per child
        // and recipe, written as each finishes, so a stopped run resumes.
        // The top children trained again and measured on a larger split
        // before the winner is named (Reevaluation).
        try database.define("create table if not exists reevaluations (trial {int} primary key, accuracy {real} not null, images {int} not null)")
        try database.define("create table if not exists final_accuracy (trial {int} not null, recipe text not null, accuracy {real} not null, primary key (trial, recipe))")
        try WorkQueue.createTables(database)
    }

    // MARK: Settings

    /// The search's settings as JSON (nil before a search wrote them).
    public func settings() throws -> [String: Any]? {
        guard let text = try database.query("select value from settings where key = 'search'").first?.first?.text else { return nil }
        return try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
    }

    public func setSettings(_ settings: [String: Any]) throws {
        let text = String(decoding: try JSONSerialization.data(withJSONObject: settings, options: [.sortedKeys]), as: UTF8.self)
        try database.query("insert into settings (key, value) values ('search', ?) on conflict (key) do update set value = excluded.value", .text(text))
    }

    /// Proposals a screened search scored and did not train (see
    /// Screening): the strategy's streams a resumed search skips past.
    public func screenedProposals() throws -> Int {
        (try database.query("select value from settings where key = 'screened'").first?.first?.text).flatMap { Int($0) } ?? 0
    }

    public func setScreenedProposals(_ count: Int) throws {
        try database.query("insert into settings (key, value) values ('screened', ?) on conflict (key) do update set value = excluded.value", .text(String(count)))
    }

    // MARK: Trials

    static let trialColumns = "id, strategy, decisions, hash, reward, val_accuracy, params, flops, compile_s, train_s, status, error, job, worker, created, eval_s, rung, latency_ms"

    static func trial(_ row: [SQLValue]) -> Trial {
        var t = Trial(id: row[0].int ?? 0, strategy: row[1].text ?? "", decisions: (row[2].text ?? "").split(separator: ",").compactMap { Int($0) },
                      hash: row[3].text ?? "", reward: row[4].real ?? 0, validationAccuracy: row[5].real ?? 0,
                      parameters: row[6].int ?? 0, flops: row[7].int ?? 0, compileSeconds: row[8].real ?? 0, trainSeconds: row[9].real ?? 0,
                      evaluateSeconds: row[15].real ?? 0, status: row[10].text ?? "", error: row[11].text ?? "", job: row[12].int, worker: row[13].text ?? "", created: row[14].text ?? "")
        t.rung = row[16].int ?? 0
        t.latencyMs = row[17].real
        return t
    }

    /// Records a trial, not yet learned from; returns the id the store gave it.
    @discardableResult
    public func insert(_ t: Trial) throws -> Int {
        let rows = try database.query("""
            insert into trials (strategy, decisions, hash, reward, val_accuracy, params, flops, compile_s, train_s, eval_s, status, error, job, worker, rung, latency_ms, observed)
            values (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,0) returning id
            """, [.text(t.strategy), .text(t.decisions.map(String.init).joined(separator: ",")), .text(t.hash), .real(t.reward),
                  .real(t.validationAccuracy), .int(Int64(t.parameters)), .int(Int64(t.flops)), .real(t.compileSeconds), .real(t.trainSeconds),
                  .real(t.evaluateSeconds),
                  .text(t.status), .text(t.error), t.job.map { .int(Int64($0)) } ?? .null, .text(t.worker), .int(Int64(t.rung)),
                  t.latencyMs.map { .real($0) } ?? .null])
        guard let id = rows.first?.first?.int else { throw SearchError(message: "the store gave the trial no id", file: path) }
        return id
    }

    public func all() throws -> [Trial] {
        try database.query("select \(TrialStore.trialColumns) from trials order by id").map(TrialStore.trial)
    }

    /// Trials with ids above `id`, in order: what finished since a look.
    public func trials(after id: Int) throws -> [Trial] {
        try database.query("select \(TrialStore.trialColumns) from trials where id > ? order by id", .int(Int64(id))).map(TrialStore.trial)
    }

    /// Records a trial's measured latency (`nasc latency` on a run whose
    /// workers did not measure it).
    public func setLatency(trial: Int, milliseconds: Double) throws {
        try database.query("update trials set latency_ms = ? where id = ?", .real(milliseconds), .int(Int64(trial)))
    }

    /// Children recorded: trials of new children (rung 0), not promotions,
    /// nor proposals refused over the cost limit. The SQL twin of
    /// `Trial.isNewChild`; WorkQueue.newChildrenProposed counts the same
    /// children among jobs.
    public func count() throws -> Int {
        try database.query("select count(*) from trials where rung = 0 and status != ?", .text(TrialStore.overLimit)).first?.first?.int ?? 0
    }

    /// The status of a proposal refused for its cost before it was queued.
    public static let overLimit = "over-limit"

    /// Records a proposal the coordinator refused for its cost (`reason`
    /// says by how much): a job done at once by no worker, with its
    /// untrained over-limit trial, in one transaction (so the store's
    /// invariants hold: every finished job has one trial). Returns the trial.
    @discardableResult
    public func recordOverLimit(strategy: String, decisions: [Int], hash: String, reward: Double,
                                parameters: Int, flops: Int, reason: String) throws -> Trial {
        try database.transaction {
            let job = try database.query("insert into jobs (decisions, strategy, proposed, status, worker) values (?, ?, ?, 'done', 'coordinator') returning id",
                                         .text(decisions.map(String.init).joined(separator: ",")), .text(strategy), .real(WorkQueue.now))
                .first?.first?.int ?? 0
            var t = Trial(id: 0, strategy: strategy, decisions: decisions, hash: hash, reward: reward, validationAccuracy: 0,
                          parameters: parameters, flops: flops, compileSeconds: 0, trainSeconds: 0,
                          status: TrialStore.overLimit, error: reason, job: job, worker: "coordinator")
            t.id = try insert(t)
            return t
        }
    }

    /// What an earlier successful training of a child with the same
    /// structural hash measured: a repeat is recorded with it, not trained.
    public typealias Earlier = (reward: Double, accuracy: Double, parameters: Int, latencyMs: Double?)

    /// The earlier training of a child with this structural hash, if any.
    public func known(hash: String) throws -> Earlier? {
        guard let row = try database.query("select reward, val_accuracy, params, latency_ms from trials where hash = ? and status = 'ok' and rung = 0 order by id limit 1", .text(hash)).first else { return nil }
        return (row[0].real ?? 0, row[1].real ?? 0, row[2].int ?? 0, row[3].real)
    }

    // MARK: The strategy's state

    /// Marks these trials learned from and stores the strategy's state (if
    /// it has one) and a note of the update (if given), in one transaction.
    public func commitRound(ids: [Int], state: Data?, update: Update? = nil) throws {
        try database.transaction {
            if !ids.isEmpty { try database.query("update trials set observed = 1 where id in (\(ids.map(String.init).joined(separator: ",")))") }
            if let state { try database.query("insert into strategy_state (id, data) values (1, ?) on conflict (id) do update set data = excluded.data", .blob(state)) }
            if let update {
                try database.query("insert into updates (trials, entropy, mean_reward, at) values ((select count(*) from trials where observed = 1), ?, ?, ?)",
                                   update.entropy.map { .real($0) } ?? .null, .real(update.meanReward), .real(WorkQueue.now))
            }
        }
    }

    /// A strategy update, as reports draw it.
    public struct Update: Sendable {
        /// Trials learned from once it was made.
        public var trials: Int
        /// The controller's entropy estimate, in nats (REINFORCE only).
        public var entropy: Double?
        public var meanReward: Double
        public var at: Double
        public init(trials: Int = 0, entropy: Double?, meanReward: Double, at: Double = 0) {
            (self.trials, self.entropy, self.meanReward, self.at) = (trials, entropy, meanReward, at)
        }
    }

    public func updates() throws -> [Update] {
        try database.query("select trials, entropy, mean_reward, at from updates order by id").map {
            Update(trials: $0[0].int ?? 0, entropy: $0[1].real, meanReward: $0[2].real ?? 0, at: $0[3].real ?? 0)
        }
    }

    /// The strategy's state as last committed, if any.
    public func strategyState() throws -> Data? {
        try database.query("select data from strategy_state where id = 1").first?.first?.blob
    }

    /// Trials the strategy has not learned from yet, in the order they finished.
    public func unobserved() throws -> [Trial] {
        try database.query("select \(TrialStore.trialColumns) from trials where observed = 0 order by id").map(TrialStore.trial)
    }

    /// Ids of the trials the strategy has not learned from yet.
    public func unobservedIDs() throws -> Set<Int> {
        Set(try database.query("select id from trials where observed = 0").compactMap { $0[0].int })
    }

    // MARK: Re-evaluations

    public func recordReevaluation(trial: Int, accuracy: Double, images: Int) throws {
        try database.query("insert into reevaluations (trial, accuracy, images) values (?, ?, ?) on conflict (trial) do update set accuracy = excluded.accuracy, images = excluded.images",
                           .int(Int64(trial)), .real(accuracy), .int(Int64(images)))
    }

    /// Re-evaluated accuracies by trial.
    public func reevaluations() throws -> [Int: Double] {
        var out: [Int: Double] = [:]
        for row in try database.query("select trial, accuracy from reevaluations") {
            if let t = row[0].int, let a = row[1].real { out[t] = a }
        }
        return out
    }

    // MARK: Final accuracies

    /// Records the accuracy trial `trial`'s child reached with `recipe`.
    public func recordFinal(trial: Int, recipe: String, accuracy: Double) throws {
        try database.query("insert into final_accuracy (trial, recipe, accuracy) values (?, ?, ?) on conflict (trial, recipe) do update set accuracy = excluded.accuracy",
                           .int(Int64(trial)), .text(recipe), .real(accuracy))
    }

    /// The accuracies recorded with `recipe`, by trial.
    public func finals(recipe: String) throws -> [Int: Double] {
        var out: [Int: Double] = [:]
        for row in try database.query("select trial, accuracy from final_accuracy where recipe = ?", .text(recipe)) {
            if let t = row[0].int, let a = row[1].real { out[t] = a }
        }
        return out
    }

    // MARK: Integrity

    /// What is wrong with the store, if anything: the database's own check,
    /// then the search's invariants (every finished job has exactly one
    /// trial, every trial of a job names a finished job, no job runs without
    /// a worker).
    public func problems() throws -> [String] {
        var out: [String] = []
        if let sqlite = database as? SQLiteDatabase {
            let result = try sqlite.query("pragma integrity_check").compactMap { $0.first?.text }
            if result != ["ok"] { out += result.map { "integrity check: \($0)" } }
        }
        for row in try database.query("select j.id, count(t.id) from jobs j left join trials t on t.job = j.id where j.status = 'done' group by j.id having count(t.id) != 1") {
            out.append("job \(row[0].int ?? 0) is done but has \(row[1].int ?? 0) trials")
        }
        for row in try database.query("select t.id, t.job from trials t left join jobs j on j.id = t.job where t.job is not null and (j.id is null or j.status != 'done')") {
            out.append("trial \(row[0].int ?? 0) belongs to job \(row[1].int ?? 0), which is not done")
        }
        for row in try database.query("select id from jobs where status = 'running' and worker = ''") {
            out.append("job \(row[0].int ?? 0) is running on no worker")
        }
        return out
    }
}
