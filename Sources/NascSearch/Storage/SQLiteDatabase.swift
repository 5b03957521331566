import CSQLite
import Foundation

/// The search store in one SQLite file: no server, readable with any
/// SQLite client. Several processes on one machine share it (write-ahead
/// log, a busy timeout); machines share a PostgreSQL server instead.
public final class SQLiteDatabase: Database {
    private var db: OpaquePointer?
    public let location: String
    public var dialect: SQLDialect { .sqlite }

    public init(path: String) throws {
        location = path
        guard sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nil) == SQLITE_OK else {
            defer { sqlite3_close(db) }
            throw SearchError(message: "cannot open the store: \(String(cString: sqlite3_errmsg(db)))", file: path)
        }
        // Workers wait for each other's short transactions instead of failing.
        sqlite3_busy_timeout(db, 60_000)
        do {
            let mode = try query("pragma journal_mode = wal").first?.first?.text ?? ""
            if mode != "wal" { throw SearchError(message: "cannot use a write-ahead log (journal mode is \(mode))", file: path) }
            try query("pragma synchronous = normal")
        } catch {
            sqlite3_close(db)
            db = nil
            throw error
        }
    }

    deinit { sqlite3_close(db) }

    func failure(_ what: String) -> SearchError {
        SearchError(message: "\(what): \(String(cString: sqlite3_errmsg(db)))", file: location)
    }

    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

    @discardableResult
    public func query(_ sql: String, _ arguments: [SQLValue]) throws -> [[SQLValue]] {
        var stmt: OpaquePointer?
        guard sqlite3_prepare_v2(db, sql, -1, &stmt, nil) == SQLITE_OK else { throw failure("cannot prepare '\(sql.prefix(60))'") }
        defer { sqlite3_finalize(stmt) }
        for (i, value) in arguments.enumerated() {
            let at = Int32(i + 1)
            switch value {
            case .null: sqlite3_bind_null(stmt, at)
            case .int(let v): sqlite3_bind_int64(stmt, at, v)
            case .real(let v): sqlite3_bind_double(stmt, at, v)
            case .text(let v): sqlite3_bind_text(stmt, at, v, -1, SQLiteDatabase.transient)
            case .blob(let v): _ = v.withUnsafeBytes { sqlite3_bind_blob(stmt, at, $0.baseAddress, Int32($0.count), SQLiteDatabase.transient) }
            }
        }
        var rows: [[SQLValue]] = []
        while true {
            let status = sqlite3_step(stmt)
            if status == SQLITE_DONE { return rows }
            guard status == SQLITE_ROW else { throw failure("'\(sql.prefix(60))' failed") }
            rows.append((0..<sqlite3_column_count(stmt)).map { c in
                switch sqlite3_column_type(stmt, c) {
                case SQLITE_INTEGER: return .int(sqlite3_column_int64(stmt, c))
                case SQLITE_FLOAT: return .real(sqlite3_column_double(stmt, c))
                case SQLITE_TEXT: return .text(String(cString: sqlite3_column_text(stmt, c)))
                case SQLITE_BLOB:
                    let n = Int(sqlite3_column_bytes(stmt, c))
                    return .blob(n == 0 ? Data() : Data(bytes: sqlite3_column_blob(stmt, c), count: n))
                default: return .null
                }
            })
        }
    }

    public var beginStatements: [String] { ["begin immediate"] }

    public func reopen() throws -> Database { try SQLiteDatabase(path: location) }

    /// The run folder's flock (RunLock) already keeps a second coordinator
    /// off a store that lives in the folder.
    public func lockAsCoordinator() throws -> Bool { true }

    /// A file has no connection to lose.
    public func reconnect() throws {}

    public func columns(of table: String) throws -> [String] {
        try query("pragma table_info(\(table))").compactMap { $0[1].text }
    }
}
