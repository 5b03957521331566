import CSQLite
import Foundation

/// Every trial of a search in an SQLite database (`trials.db` in the run
/// folder), so a run can be queried with any SQLite client:
///
///     sqlite3 run/trials.db 'select id, reward, val_accuracy, hash from trials order by reward desc limit 5'
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
        public var trainSeconds: Double
        /// ok, cached (same hash as an earlier child), or failed.
        public var status: String
        public var error: String
    }

    private var db: OpaquePointer?
    public let path: String

    public init(path: String) throws {
        self.path = path
        guard sqlite3_open(path, &db) == SQLITE_OK else { throw TrialStore.error(db, path, "cannot open") }
        try exec("""
            create table if not exists trials (
              id integer primary key, strategy text not null, decisions text not null, hash text not null,
              reward real not null, val_accuracy real not null, params integer not null, flops integer not null,
              compile_s real not null, train_s real not null, status text not null, error text not null,
              created text not null default (datetime('now')))
            """)
        try exec("create index if not exists trials_hash on trials(hash)")
        // Whether the strategy has learned from a trial; stores from before
        // this column count every trial as learned from.
        if !(try columns("trials")).contains("observed") {
            try exec("alter table trials add column observed integer not null default 1")
        }
        // The strategy's state (the controller's weights and Adam moments),
        // written in the same transaction that marks the trials it learned
        // from, so a search killed at any moment resumes exactly.
        try exec("create table if not exists strategy_state (id integer primary key check (id = 1), data blob not null)")
    }

    func columns(_ table: String) throws -> [String] {
        var stmt: OpaquePointer?
        guard sqlite3_prepare_v2(db, "pragma table_info(\(table))", -1, &stmt, nil) == SQLITE_OK else { throw TrialStore.error(db, path, "cannot prepare") }
        defer { sqlite3_finalize(stmt) }
        var out: [String] = []
        while sqlite3_step(stmt) == SQLITE_ROW { out.append(sqlite3_column_text(stmt, 1).map { String(cString: $0) } ?? "") }
        return out
    }

    /// Marks these trials learned from and stores the strategy's state (if
    /// it has one), in one transaction.
    public func commitRound(ids: [Int], state: Data?) throws {
        try exec("begin immediate")
        do {
            if !ids.isEmpty { try exec("update trials set observed = 1 where id in (\(ids.map(String.init).joined(separator: ",")))") }
            if let state {
                var stmt: OpaquePointer?
                guard sqlite3_prepare_v2(db, "insert or replace into strategy_state (id, data) values (1, ?)", -1, &stmt, nil) == SQLITE_OK else {
                    throw TrialStore.error(db, path, "cannot prepare")
                }
                defer { sqlite3_finalize(stmt) }
                _ = state.withUnsafeBytes { sqlite3_bind_blob(stmt, 1, $0.baseAddress, Int32($0.count), TrialStore.transient) }
                guard sqlite3_step(stmt) == SQLITE_DONE else { throw TrialStore.error(db, path, "cannot store the strategy's state") }
            }
            try exec("commit")
        } catch {
            _ = sqlite3_exec(db, "rollback", nil, nil, nil)
            throw error
        }
    }

    /// The strategy's state as last committed, if any.
    public func strategyState() throws -> Data? {
        var stmt: OpaquePointer?
        guard sqlite3_prepare_v2(db, "select data from strategy_state where id = 1", -1, &stmt, nil) == SQLITE_OK else { throw TrialStore.error(db, path, "cannot prepare") }
        defer { sqlite3_finalize(stmt) }
        guard sqlite3_step(stmt) == SQLITE_ROW, let bytes = sqlite3_column_blob(stmt, 0) else { return nil }
        return Data(bytes: bytes, count: Int(sqlite3_column_bytes(stmt, 0)))
    }

    /// Ids of the trials the strategy has not learned from: children that
    /// finished in a round the search did not complete.
    public func unobservedIDs() throws -> Set<Int> {
        var stmt: OpaquePointer?
        guard sqlite3_prepare_v2(db, "select id from trials where observed = 0", -1, &stmt, nil) == SQLITE_OK else { throw TrialStore.error(db, path, "cannot prepare") }
        defer { sqlite3_finalize(stmt) }
        var out = Set<Int>()
        while sqlite3_step(stmt) == SQLITE_ROW { out.insert(Int(sqlite3_column_int64(stmt, 0))) }
        return out
    }

    deinit { sqlite3_close(db) }

    static func error(_ db: OpaquePointer?, _ path: String, _ what: String) -> Error {
        SearchError(message: "\(what): \(String(cString: sqlite3_errmsg(db)))", file: path)
    }

    func exec(_ sql: String) throws {
        guard sqlite3_exec(db, sql, nil, nil, nil) == SQLITE_OK else { throw TrialStore.error(db, path, "SQL failed") }
    }

    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

    /// Records a trial; returns the id the store gave it.
    @discardableResult
    public func insert(_ t: Trial) throws -> Int {
        var stmt: OpaquePointer?
        let sql = "insert into trials (strategy, decisions, hash, reward, val_accuracy, params, flops, compile_s, train_s, status, error, observed) values (?,?,?,?,?,?,?,?,?,?,?,0)"
        guard sqlite3_prepare_v2(db, sql, -1, &stmt, nil) == SQLITE_OK else { throw TrialStore.error(db, path, "cannot prepare") }
        defer { sqlite3_finalize(stmt) }
        sqlite3_bind_text(stmt, 1, t.strategy, -1, TrialStore.transient)
        sqlite3_bind_text(stmt, 2, t.decisions.map(String.init).joined(separator: ","), -1, TrialStore.transient)
        sqlite3_bind_text(stmt, 3, t.hash, -1, TrialStore.transient)
        sqlite3_bind_double(stmt, 4, t.reward)
        sqlite3_bind_double(stmt, 5, t.validationAccuracy)
        sqlite3_bind_int64(stmt, 6, Int64(t.parameters))
        sqlite3_bind_int64(stmt, 7, Int64(t.flops))
        sqlite3_bind_double(stmt, 8, t.compileSeconds)
        sqlite3_bind_double(stmt, 9, t.trainSeconds)
        sqlite3_bind_text(stmt, 10, t.status, -1, TrialStore.transient)
        sqlite3_bind_text(stmt, 11, t.error, -1, TrialStore.transient)
        guard sqlite3_step(stmt) == SQLITE_DONE else { throw TrialStore.error(db, path, "cannot record the trial") }
        return Int(sqlite3_last_insert_rowid(db))
    }

    public func all() throws -> [Trial] {
        var stmt: OpaquePointer?
        let sql = "select id, strategy, decisions, hash, reward, val_accuracy, params, flops, compile_s, train_s, status, error from trials order by id"
        guard sqlite3_prepare_v2(db, sql, -1, &stmt, nil) == SQLITE_OK else { throw TrialStore.error(db, path, "cannot prepare") }
        defer { sqlite3_finalize(stmt) }
        var out: [Trial] = []
        while sqlite3_step(stmt) == SQLITE_ROW {
            func text(_ i: Int32) -> String { sqlite3_column_text(stmt, i).map { String(cString: $0) } ?? "" }
            out.append(Trial(id: Int(sqlite3_column_int64(stmt, 0)), strategy: text(1),
                             decisions: text(2).split(separator: ",").compactMap { Int($0) }, hash: text(3),
                             reward: sqlite3_column_double(stmt, 4), validationAccuracy: sqlite3_column_double(stmt, 5),
                             parameters: Int(sqlite3_column_int64(stmt, 6)), flops: Int(sqlite3_column_int64(stmt, 7)),
                             compileSeconds: sqlite3_column_double(stmt, 8), trainSeconds: sqlite3_column_double(stmt, 9),
                             status: text(10), error: text(11)))
        }
        return out
    }
}
