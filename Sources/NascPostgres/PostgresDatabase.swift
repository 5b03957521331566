import Foundation
import Logging
import NascSearch
import NascTraining
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
    private var connection: PostgresConnection
    let logger = Logger(label: "nasc.postgres")

    /// How long a store waits for a server that went away (a restart, a
    /// failover, a network blip) before it gives up with a message:
    /// `--storage-timeout`, else NASC_STORAGE_TIMEOUT, else 300 s.
    nonisolated(unsafe) public static var patience: Double =
        ProcessInfo.processInfo.environment[PostgresDatabase.patienceVariable].flatMap(Double.init).flatMap { $0 >= 0 ? $0 : nil } ?? 300
    public static let patienceVariable = "NASC_STORAGE_TIMEOUT"
    /// Where reconnection notices go.
    nonisolated(unsafe) public static var say: (String) -> Void = { FileHandle.standardError.write(Data(("nasc: " + $0 + "\n").utf8)) }
    /// A statement with no answer for this long is taken as a lost connection.
    static let statementTimeout = 120.0

    /// Session state to restore after a reconnection, and whether the
    /// transaction under way lost its connection (every statement of it
    /// then fails, until `transaction` reconnects and runs it again).
    private var inTransaction = false, transactionLost = false, holdsCoordinatorLock = false

    /// Connects to the store `url` names (`postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?schema=NAME]`;
    /// the password may come from PGPASSWORD instead).
    public init(url: StorageURL) throws {
        self.url = url
        location = url.description
        connection = try PostgresDatabase.connect(url)
        try prepareSession()
    }

    deinit {
        let connection = self.connection
        _ = try? PostgresDatabase.wait(seconds: 5) { try await connection.close() }
    }

    static func connect(_ url: StorageURL) throws -> PostgresConnection {
        var config = PostgresConnection.Configuration(host: url.host, port: url.port, username: url.user, password: url.password,
                                                      database: url.database, tls: .disable)
        config.options.connectTimeout = .seconds(10)
        let logger = Logger(label: "nasc.postgres"), configuration = config
        do {
            return try PostgresDatabase.wait(seconds: 30) {
                try await PostgresConnection.connect(on: MultiThreadedEventLoopGroup.singleton.next(), configuration: configuration, id: 1, logger: logger)
            }
        } catch {
            throw SearchError(message: "cannot connect: \(PostgresDatabase.explain(error))", file: url.description)
        }
    }

    /// The schema (one per search: many searches share a database), and
    /// the coordinator's lock again after a reconnection.
    private func prepareSession() throws {
        if let schema = url.schema {
            try execute("create schema if not exists \"\(schema)\"", [])
            try execute("set search_path to \"\(schema)\"", [])
        }
        if holdsCoordinatorLock, try !tryCoordinatorLock() {
            holdsCoordinatorLock = false
            throw SearchError(message: "while the connection was down another coordinator took this store over; this one stops", file: location)
        }
    }

    /// Connects again, waiting for the server up to `patience` seconds
    /// with growing pauses; says when the connection was lost and when it
    /// is back.
    public func reconnect() throws {
        inTransaction = false
        transactionLost = false
        let old = connection
        Task.detached { try? await old.close() }
        let start = Date()
        var pause = 0.25
        PostgresDatabase.say("lost the connection to \(location); connecting again (for up to \(Int(PostgresDatabase.patience)) s, --storage-timeout)")
        while true {
            do {
                connection = try PostgresDatabase.connect(url)
                try prepareSession()
                PostgresDatabase.say(String(format: "reconnected to %@ after %.1f s", location, Date().timeIntervalSince(start)))
                return
            } catch let e as SearchError where e.message.contains("another coordinator") {
                throw e
            } catch {
                let waited = Date().timeIntervalSince(start)
                guard waited < PostgresDatabase.patience else {
                    throw SearchError(message: "lost the connection to the store and could not connect again within "
                        + "\(Int(PostgresDatabase.patience)) s (--storage-timeout): \((error as? SearchError)?.message ?? PostgresDatabase.explain(error)); "
                        + "nothing finished is lost: run the same command again once the server is back", file: location)
                }
                if let signal = Interruption.requested { throw Interrupted(signal: signal) }
                Thread.sleep(forTimeInterval: min(pause, max(PostgresDatabase.patience - waited, 0.05)))
                pause = min(pause * 2, 5)
            }
        }
    }

    /// Runs async work to its end from synchronous code; a lost connection
    /// (closed, or silent for `seconds`) is `ConnectionLost`.
    static func wait<T>(seconds: Double, connection: PostgresConnection? = nil, _ body: @escaping @Sendable () async throws -> T) throws -> T {
        let done = DispatchSemaphore(value: 0)
        let box = ResultBox<T>()
        Task.detached {
            do { box.result = .success(try await body()) } catch { box.result = .failure(error) }
            done.signal()
        }
        // PostgresNIO can leave a statement sent on a connection that the
        // server just closed waiting forever: look at the connection every second.
        let deadline = Date().addingTimeInterval(seconds)
        while done.wait(timeout: .now() + 1) == .timedOut {
            if connection?.isClosed == true { throw ConnectionLost("the server closed the connection") }
            if Date() > deadline { throw ConnectionLost("no answer from the server in \(Int(seconds)) s") }
        }
        return try box.result!.get()
    }

    final class ResultBox<T>: @unchecked Sendable { var result: Result<T, Error>? }

    /// The server's own words for a failure (wrong password, no such
    /// database, connection refused), not PostgresNIO's wrapper type.
    static func explain(_ error: Error) -> String {
        if let e = error as? PSQLError {
            if let message = e.serverInfo?[.message] { return message }
            if e.code == .authMechanismRequiresPassword { return "the server asks for a password: put it in the URL or in PGPASSWORD" }
            if let underlying = e.underlying {
                // NIO's own wording is long: the operating system's reason says it.
                let text = "\(underlying)"
                for reason in ["Connection refused", "Connection reset", "No route to host", "Network is unreachable", "timed out"] where text.contains(reason) {
                    return reason.lowercased()
                }
                return text
            }
            return "\(e.code)"
        }
        return "\(error)"
    }

    /// Whether `error` means the connection is gone (rather than a
    /// statement the server refused): the server closed it or is shutting
    /// down (SQLSTATE 57P..), the network failed (08...).
    func isConnectionLoss(_ error: Error) -> Bool {
        if error is ConnectionLost || connection.isClosed { return true }
        guard let e = error as? PSQLError else { return false }
        if [.serverClosedConnection, .clientClosedConnection, .connectionError, .uncleanShutdown].contains(e.code) { return true }
        let state = e.serverInfo?[.sqlState] ?? ""
        return state.hasPrefix("57P") || state.hasPrefix("08")
    }

    /// A statement; on a lost connection, outside a transaction it is run
    /// again once reconnected, inside one the transaction is void
    /// (`ConnectionLost`, which `transaction` handles).
    @discardableResult
    public func query(_ sql: String, _ arguments: [SQLValue]) throws -> [[SQLValue]] {
        if transactionLost { throw ConnectionLost("the connection to \(location) was lost during this transaction") }
        var retried = false
        while true {
            do {
                if connection.isClosed { throw ConnectionLost("the server closed the connection") }
                let rows = try execute(sql, arguments)
                if sql == "begin" { inTransaction = true }
                if sql == "commit" || sql == "rollback" { inTransaction = false }
                return rows
            } catch where isConnectionLoss(error) {
                if inTransaction {
                    transactionLost = true
                    throw ConnectionLost("the connection to \(location) was lost during a transaction")
                }
                // Once more on a new connection; lost again at once, the error stands.
                if retried { throw error }
                retried = true
                try reconnect()
            }
        }
    }

    /// One statement on the current connection, no retry.
    private func execute(_ sql: String, _ arguments: [SQLValue]) throws -> [[SQLValue]] {
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
            return try PostgresDatabase.wait(seconds: PostgresDatabase.statementTimeout, connection: connection) {
                var rows: [[SQLValue]] = []
                for try await row in try await connection.query(statement, logger: logger) {
                    rows.append(try row.map(PostgresDatabase.value))
                }
                return rows
            }
        } catch let lost as ConnectionLost {
            throw lost
        } catch where isConnectionLoss(error) {
            throw ConnectionLost("'\(sql.prefix(60))' failed: \(PostgresDatabase.explain(error))")
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
    /// connection ends, however the process ended. After a reconnection
    /// the coordinator takes it again (or stops, if another took it).
    public func lockAsCoordinator() throws -> Bool {
        let taken = try query("select pg_try_advisory_lock(\(PostgresDatabase.coordinatorLock), hashtext(current_schema()))").first?.first?.int == 1
        if taken { holdsCoordinatorLock = true }
        return taken
    }

    private func tryCoordinatorLock() throws -> Bool {
        try execute("select pg_try_advisory_lock(\(PostgresDatabase.coordinatorLock), hashtext(current_schema()))", []).first?.first?.int == 1
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
