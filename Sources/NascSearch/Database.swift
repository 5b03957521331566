import Foundation

/// A value in a row of the search store.
public enum SQLValue: Equatable, Sendable {
    case null, int(Int64), real(Double), text(String), blob(Data)

    public var int: Int? { if case .int(let v) = self { return Int(v) }; if case .real(let v) = self { return Int(v) }; return nil }
    public var real: Double? { if case .real(let v) = self { return v }; if case .int(let v) = self { return Double(v) }; return nil }
    public var text: String? { if case .text(let v) = self { return v }; return nil }
    public var blob: Data? { if case .blob(let v) = self { return v }; return nil }
}

/// What the search store needs of a SQL database: statements with `?`
/// parameters, and transactions that serialize writers. The store's logic
/// (TrialStore, WorkQueue) is written once against this, so the zero-set-up
/// SQLite file and a shared server speak the same schema.
public protocol Database: AnyObject {
    /// Where the database is, for messages (a file path or a URL without its password).
    var location: String { get }
    /// Runs a statement; returns its rows.
    @discardableResult
    func query(_ sql: String, _ arguments: [SQLValue]) throws -> [[SQLValue]]
    /// Runs `body` in a transaction that holds the write lock from its
    /// start (so a read-then-update cannot race another process), committing
    /// if it returns and rolling back if it throws.
    func transaction<T>(_ body: () throws -> T) throws -> T
    /// Names of a table's columns (empty: no such table).
    func columns(of table: String) throws -> [String]
    /// A second connection to the same database, for another thread.
    func reopen() throws -> Database
}

extension Database {
    @discardableResult
    public func query(_ sql: String, _ arguments: SQLValue...) throws -> [[SQLValue]] { try query(sql, arguments) }
}
