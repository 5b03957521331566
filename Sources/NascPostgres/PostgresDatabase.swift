import Foundation
import Logging
import NascSearch
import NIOCore
import NIOPosix
import PostgresNIO

/// The search store on a PostgreSQL server, so workers on many machines
/// share one search: the same schema and statements as the SQLite file
/// (TrialStore and WorkQueue are written once, against Database), through
/// PostgresNIO. Writers take one transaction-scoped advisory lock, which
/// serializes them as SQLite's `begin immediate` does: every store
/// transaction is a handful of small statements, so hundreds of workers
/// wait microseconds for it, and a lease can never be handed out twice.
///
/// nasc is synchronous; each call waits for PostgresNIO's async answer.
public final class PostgresDatabase: Database {
    public let location: String
    public var dialect: SQLDialect { .postgresql }
    let url: StorageURL
    let connection: PostgresConnection
    let logger = Logger(label: "nasc.postgres")

    /// Connects to the store `url` names (`postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?schema=NAME]`;
    /// the password may come from PGPASSWORD instead).
    public init(url: StorageURL) throws {
        self.url = url
        location = url.description
        var config = PostgresConnection.Configuration(host: url.host, port: url.port, username: url.user, password: url.password,
                                                      database: url.database, tls: .disable)
        config.options.connectTimeout = .seconds(10)
        let (logger, configuration) = (self.logger, config)
        do {
            connection = try PostgresDatabase.wait {
                try await PostgresConnection.connect(on: MultiThreadedEventLoopGroup.singleton.next(), configuration: configuration, id: 1, logger: logger)
            }
        } catch {
            throw SearchError(message: "cannot connect: \(PostgresDatabase.explain(error))", file: location)
        }
        if let schema = url.schema {
            // One schema per search: many searches share a database.
            try query("create schema if not exists \"\(schema)\"")
            try query("set search_path to \"\(schema)\"")
        }
    }

    deinit {
        let connection = self.connection
        _ = try? PostgresDatabase.wait { try await connection.close() }
    }

    /// Runs async work to its end from synchronous code.
    static func wait<T>(_ body: @escaping @Sendable () async throws -> T) throws -> T {
        let done = DispatchSemaphore(value: 0)
        let box = ResultBox<T>()
        Task.detached {
            do { box.result = .success(try await body()) } catch { box.result = .failure(error) }
            done.signal()
        }
        done.wait()
        return try box.result!.get()
    }

    final class ResultBox<T>: @unchecked Sendable { var result: Result<T, Error>? }

    /// The server's own words for a failure (wrong password, no such
    /// database, connection refused), not PostgresNIO's wrapper type.
    static func explain(_ error: Error) -> String {
        if let e = error as? PSQLError {
            if let message = e.serverInfo?[.message] { return message }
            if e.code == .authMechanismRequiresPassword { return "the server asks for a password: put it in the URL or in PGPASSWORD" }
            if let underlying = e.underlying { return "\(underlying)" }
            return "\(e.code)"
        }
        return "\(error)"
    }

    @discardableResult
    public func query(_ sql: String, _ arguments: [SQLValue]) throws -> [[SQLValue]] {
        var binds = PostgresBindings(capacity: arguments.count)
        for a in arguments {
            switch a {
            case .null: binds.appendNull()
            case .int(let v): binds.append(v)
            case .real(let v): binds.append(v)
            case .text(let v): binds.append(v)
            case .blob(let v): binds.append(ByteBuffer(bytes: v))
            }
        }
        let statement = PostgresQuery(unsafeSQL: PostgresDatabase.numberedParameters(sql), binds: binds)
        let (connection, logger) = (self.connection, self.logger)
        do {
            return try PostgresDatabase.wait {
                var rows: [[SQLValue]] = []
                for try await row in try await connection.query(statement, logger: logger) {
                    rows.append(try row.map(PostgresDatabase.value))
                }
                return rows
            }
        } catch {
            throw SearchError(message: "'\(sql.prefix(60))' failed: \(PostgresDatabase.explain(error))", file: location)
        }
    }

    static func value(_ cell: PostgresCell) throws -> SQLValue {
        guard cell.bytes != nil else { return .null }
        switch cell.dataType {
        case .int2, .int4, .int8: return .int(try cell.decode(Int64.self))
        case .float4, .float8: return .real(try cell.decode(Double.self))
        case .numeric: return .real(Double(try cell.decode(String.self)) ?? 0)
        case .bool: return .int(try cell.decode(Bool.self) ? 1 : 0)
        case .bytea: return .blob(Data(buffer: try cell.decode(ByteBuffer.self)))
        default: return .text(try cell.decode(String.self))
        }
    }

    /// `?` parameters (the store's statements) as PostgreSQL's `$1, $2...`;
    /// a `?` inside a quoted literal stays.
    static func numberedParameters(_ sql: String) -> String {
        var out = "", n = 0, quoted = false
        for c in sql {
            if c == "'" { quoted.toggle() }
            if c == "?" && !quoted {
                n += 1
                out += "$\(n)"
            } else {
                out.append(c)
            }
        }
        return out
    }

    /// Every writer takes the same advisory lock, held to its commit.
    public var beginStatements: [String] { ["begin", "select pg_advisory_xact_lock(\(PostgresDatabase.writerLock))"] }

    public func columns(of table: String) throws -> [String] {
        try query("select column_name from information_schema.columns where table_schema = current_schema() and table_name = ? order by ordinal_position",
                  .text(table)).compactMap { $0[0].text }
    }

    public func reopen() throws -> Database { try PostgresDatabase(url: url) }

    /// A session-scoped advisory lock: the server drops it when this
    /// connection ends, however the process ended.
    public func lockAsCoordinator() throws -> Bool {
        try query("select pg_try_advisory_lock(\(PostgresDatabase.coordinatorLock), hashtext(current_schema()))").first?.first?.int == 1
    }

    /// Advisory lock keys: nasc's writers; nasc's coordinator (with the schema's hash).
    static let writerLock: Int64 = 0x6E61_7363_0001
    static let coordinatorLock: Int32 = 0x6E61_7363
}

/// A PostgreSQL store's address: `postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?schema=NAME]`.
/// Printed without its password.
public struct StorageURL: CustomStringConvertible, Sendable {
    public var user: String, password: String?, host: String, port: Int, database: String, schema: String?

    public static func isPostgres(_ text: String) -> Bool { text.hasPrefix("postgresql://") || text.hasPrefix("postgres://") }

    public init(_ text: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        let problem = { (what: String) in SearchError(message: "\(what); the form is postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?schema=NAME]", file: text) }
        guard StorageURL.isPostgres(text), let c = URLComponents(string: text) else { throw problem("not a PostgreSQL URL") }
        guard let host = c.host, !host.isEmpty else { throw problem("no host") }
        guard let user = c.user, !user.isEmpty else { throw problem("no user") }
        let database = String(c.path.drop { $0 == "/" })
        guard !database.isEmpty, !database.contains("/") else { throw problem("no database name") }
        self.user = user
        self.host = host
        self.port = c.port ?? 5432
        self.database = database
        password = c.password ?? environment["PGPASSWORD"]
        schema = c.queryItems?.first { $0.name == "schema" }?.value
        if let schema, schema.isEmpty || !schema.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) {
            throw problem("the schema name '\(schema)' is not letters, digits and _")
        }
        if let bad = c.queryItems?.first(where: { $0.name != "schema" }) { throw problem("unknown parameter '\(bad.name)'") }
    }

    /// The URL without its password: what logs, search.json and worker
    /// command lines show (workers get the password through PGPASSWORD).
    public var description: String {
        "postgresql://\(user)@\(host):\(port)/\(database)" + (schema.map { "?schema=\($0)" } ?? "")
    }
}
