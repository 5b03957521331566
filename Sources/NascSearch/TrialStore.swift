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
    }

    deinit { sqlite3_close(db) }

    static func error(_ db: OpaquePointer?, _ path: String, _ what: String) -> Error {
        SearchError(message: "\(what): \(String(cString: sqlite3_errmsg(db)))", file: path)
    }

    func exec(_ sql: String) throws {
        guard sqlite3_exec(db, sql, nil, nil, nil) == SQLITE_OK else { throw TrialStore.error(db, path, "SQL failed") }
    }

    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

    public func insert(_ t: Trial) throws {
        var stmt: OpaquePointer?
        let sql = "insert into trials (strategy, decisions, hash, reward, val_accuracy, params, flops, compile_s, train_s, status, error) values (?,?,?,?,?,?,?,?,?,?,?)"
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
