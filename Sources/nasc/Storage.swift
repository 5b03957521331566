import ArgumentParser
import Foundation
import NascPostgres
import NascSearch

/// `--storage`: where a search keeps its trials, queue and strategy state.
struct StorageFlags: ParsableArguments {
    @Option(help: ArgumentHelp("Keep the search's store in PostgreSQL (postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?schema=NAME]; the password may be in PGPASSWORD) so workers on other machines share it. Default: NASC_STORAGE if set, else trials.db in the run folder (SQLite).", valueName: "URL"))
    var storage: String?

    @Option(help: ArgumentHelp("How long to wait for a PostgreSQL store whose server went away (a restart, a failover, a network blip): meanwhile the search and its workers reconnect with growing pauses; after S seconds they stop with a message, and running the same command again continues. Default: NASC_STORAGE_TIMEOUT if set, else 300.", valueName: "S"))
    var storageTimeout: Double?

    func validate() throws {
        if let storageTimeout { try FlagCheck.real(storageTimeout, "--storage-timeout", atLeast: 0) }
    }

    /// The URL given, or NASC_STORAGE.
    var url: String? { storage ?? ProcessInfo.processInfo.environment["NASC_STORAGE"].flatMap { $0.isEmpty ? nil : $0 } }

    /// The URL, parsed (nil: no PostgreSQL store); sets how long a store
    /// waits for its server, for this process and the workers it starts.
    func parsed() throws -> StorageURL? {
        if let storageTimeout {
            PostgresDatabase.patience = storageTimeout
            setenv(PostgresDatabase.patienceVariable, String(storageTimeout), 1)
        }
        return try url.map { try StorageURL($0) }
    }
}

/// Opening the store of a run: a PostgreSQL URL, or a run folder (whose
/// search.json names its PostgreSQL store, if it has one; else its trials.db).
enum StoreLocation {
    /// The store a command argument names: a postgresql:// URL or a run folder.
    static func open(_ runOrURL: String) throws -> TrialStore {
        StorageURL.isPostgres(runOrURL) ? try open(folder: nil, url: runOrURL) : try open(folder: runOrURL, url: nil)
    }

    /// The store `url` names, or else the one of `folder`.
    static func open(folder: String?, url: String?) throws -> TrialStore {
        if let url { return try TrialStore(database: try connect(url)) }
        guard let folder else { throw CommandError("error: give a run folder or --storage URL") }
        if let recorded = recordedURL(folder) { return try TrialStore(database: try connect(recorded)) }
        let path = "\(folder)/trials.db"
        guard FileManager.default.fileExists(atPath: path) else { throw CommandError("\(folder): error: not a search run folder (no trials.db)") }
        return try TrialStore(path: path)
    }

    /// A cell search's store (nasc search-cells) holds cells and
    /// perplexities, not CNN children and accuracies: commands that only
    /// understand CNN searches refuse it by name instead of misreading it.
    static func refuseCellSearch(_ store: TrialStore, _ run: String, _ command: String) throws {
        guard (try store.settings())?["space"] as? String == "rnn-cell" else { return }
        throw CommandError("\(run): error: a recurrent cell search (nasc search --space rnn-cell): `nasc \(command)` reads image searches (--space cnn or cells); "
                           + "`nasc status \(run)` shows its best cell, and `nasc train-lm \(run)/best.nasir` trains it at full size")
    }

    static func connect(_ text: String) throws -> Database {
        guard StorageURL.isPostgres(text) else {
            throw CommandError("\(text): error: --storage takes a postgresql:// URL (the default store is trials.db in the run folder)")
        }
        return try PostgresDatabase(url: try StorageURL(text))
    }

    /// The PostgreSQL store a run folder's search.json names, if any.
    static func recordedURL(_ folder: String) -> String? {
        guard let data = FileManager.default.contents(atPath: "\(folder)/search.json"),
              let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let url = json["storage"] as? String, !url.isEmpty else { return nil }
        return url
    }
}
