import Foundation
import NascPostgres
import NascSearch
import XCTest

/// The search store's contract, run on both of its databases: the SQLite
/// file and a PostgreSQL server (`make test` starts one and sets
/// NASC_TEST_POSTGRES_URL; see Tests/with-postgres.sh). Leases, heartbeats,
/// completions, give-backs and the integrity check must mean the same on both.
final class StoreTests: XCTestCase {
    /// A fresh, empty store of each kind: a temporary SQLite file, and a
    /// new schema on the test server.
    func stores() throws -> [(String, () throws -> TrialStore)] {
        let file = NSTemporaryDirectory() + "nasc-store-\(UUID().uuidString).db"
        addTeardownBlock { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: file + suffix) } }
        var out: [(String, () throws -> TrialStore)] = [("sqlite", { try TrialStore(path: file) })]
        if let url = try Self.postgresURL() {
            let schema = "t_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(16).lowercased()
            out.append(("postgresql", { try TrialStore(database: try PostgresDatabase(url: try StorageURL("\(url)?schema=\(schema)"))) }))
        }
        return out
    }

    /// The test server's URL; nil (the PostgreSQL half skipped) only
    /// outside `make test`, where no server was started.
    static func postgresURL() throws -> String? {
        let env = ProcessInfo.processInfo.environment
        if let url = env["NASC_TEST_POSTGRES_URL"], !url.isEmpty { return url }
        if env["CI"] != nil { XCTFail("CI runs the tests through Tests/with-postgres.sh, which sets NASC_TEST_POSTGRES_URL") }
        print("StoreTests: no NASC_TEST_POSTGRES_URL; PostgreSQL cases skipped (run `make test`, or Tests/with-postgres.sh swift test)")
        return nil
    }

    func trial(_ decisions: [Int], reward: Double = 0.5) -> TrialStore.Trial {
        TrialStore.Trial(id: 0, strategy: "random", decisions: decisions, hash: "h\(decisions)", reward: reward, validationAccuracy: 0.8,
                         parameters: 10, flops: 20, compileSeconds: 0.1, trainSeconds: 1.5, status: "ok", error: "")
    }

    func testLeasesCompleteOnceAndExpire() throws {
        for (kind, open) in try stores() {
            let store = try open()
            try store.setSettings(["children": 3, "layers": 1])
            XCTAssertEqual(try store.settings()?["children"] as? Int, 3, kind)
            XCTAssertEqual(try store.enqueue([[1, 2], [3, 4], [5, 6]], strategy: "random"), [1, 2, 3], kind)
            try store.register(worker: "a:1", host: "a", pid: 1, version: "t")
            try store.register(worker: "b:2", host: "b", pid: 2, version: "t")

            let first = try XCTUnwrap(try store.lease(worker: "a:1", seconds: 60, maxAttempts: 2), kind)
            XCTAssertEqual(first.id, 1, kind)
            XCTAssertEqual(first.decisions, [1, 2], kind)
            XCTAssertEqual(first.attempts, 1, kind)
            XCTAssertTrue(try store.renew(job: 1, worker: "a:1", seconds: 60), kind)
            XCTAssertFalse(try store.renew(job: 1, worker: "b:2", seconds: 60), "\(kind): only the holder renews")
            // Completed once; a second completion (a worker whose lease was
            // taken over) is dropped, not recorded twice.
            let id = try XCTUnwrap(try store.complete(job: 1, worker: "a:1", trial: trial([1, 2])), kind)
            XCTAssertNil(try store.complete(job: 1, worker: "a:1", trial: trial([1, 2])), kind)
            XCTAssertEqual(try store.all().map(\.id), [id], kind)
            XCTAssertEqual(try store.all().first?.job, 1, kind)
            XCTAssertEqual(try store.all().first?.worker, "a:1", kind)

            // A lease that is not renewed expires: the job goes back to the
            // queue, the next lease takes it (attempt 2), and after the last
            // attempt it is recorded as crashed, with why.
            _ = try XCTUnwrap(try store.lease(worker: "b:2", seconds: -1, maxAttempts: 2), kind)  // job 2, already expired
            let again = try XCTUnwrap(try store.lease(worker: "a:1", seconds: -1, maxAttempts: 2), kind)
            XCTAssertEqual(again.id, 2, "\(kind): the expired job is leased again before newer ones")
            XCTAssertEqual(again.attempts, 2, kind)
            XCTAssertTrue(try store.jobs(status: "queued").map(\.id) == [3], kind)
            let third = try XCTUnwrap(try store.lease(worker: "b:2", seconds: 60, maxAttempts: 2), kind)
            XCTAssertEqual(third.id, 3, "\(kind): job 2 ran out of attempts and is not leased a third time")
            let crashed = try XCTUnwrap(try store.all().first { $0.job == 2 }, kind)
            XCTAssertEqual(crashed.status, "crashed", kind)
            XCTAssertTrue(crashed.error.contains("tried 2 time(s)") && crashed.error.contains("lease expired"), "\(kind): \(crashed.error)")

            // A worker seen dead: its job goes back with the reason.
            try store.release(worker: "b:2", reason: "killed by signal 9 (SIGKILL)", maxAttempts: 2)
            let back = try store.jobs(status: "queued")
            XCTAssertEqual(back.map(\.id), [3], kind)
            XCTAssertEqual(back.first?.lastError, "killed by signal 9 (SIGKILL)", kind)
            XCTAssertEqual(try store.workers().map(\.id), ["a:1"], "\(kind): a released worker leaves the roster")
            XCTAssertEqual(try store.jobCounts(), ["queued": 1, "running": 0, "done": 2], kind)
            XCTAssertEqual(try store.problems(), [], kind)
        }
    }

    /// Multi-fidelity in the store: a promotion is a job at the next rung
    /// naming the job it continues; its trial takes that rung; a child's
    /// checkpoint is kept until its promotion's result replaces it; the
    /// ranking shows each child once, at its highest rung.
    func testPromotionsContinueFromCheckpointsAndRankByRung() throws {
        for (kind, open) in try stores() {
            let store = try open()
            try store.setSettings(["children": 2, "layers": 1, "fidelity": "asha", "eta": 2, "min_budget": 10, "max_budget": 40])
            try store.enqueue([[1, 1], [2, 2]], strategy: "random")
            try store.register(worker: "a:1", host: "a", pid: 1, version: "t")
            for (decisions, reward) in [([1, 1], 0.2), ([2, 2], 0.6)] {
                let job = try XCTUnwrap(try store.lease(worker: "a:1", seconds: 60, maxAttempts: 2), kind)
                XCTAssertEqual(job.rung, 0, kind)
                XCTAssertNotNil(try store.complete(job: job.id, worker: "a:1", trial: trial(decisions, reward: reward), checkpoint: Data([UInt8(job.id), 7])), kind)
            }
            XCTAssertEqual(try store.checkpoint(job: 2), Data([2, 7]), kind)
            let best = try XCTUnwrap(try store.all().first { $0.reward == 0.6 }, kind)
            XCTAssertEqual(try store.enqueuePromotion(of: best), 3, kind)
            XCTAssertEqual(try store.promotedJobs(), [2], kind)
            XCTAssertEqual(try store.newChildrenProposed(), 2, "\(kind): a promotion is no new child")
            let promotion = try XCTUnwrap(try store.lease(worker: "a:1", seconds: 60, maxAttempts: 2), kind)
            XCTAssertEqual([promotion.rung, promotion.parent], [1, 2], kind)
            XCTAssertEqual(promotion.decisions, [2, 2], kind)
            XCTAssertFalse(try store.hasAllChildren(), "\(kind): workers wait for the coordinator to say a multi-fidelity search is over")
            XCTAssertNotNil(try store.complete(job: 3, worker: "a:1", trial: trial([2, 2], reward: 0.7)), kind)
            XCTAssertNil(try store.checkpoint(job: 2), "\(kind): the promotion's result replaces its parent's checkpoint")
            XCTAssertEqual(try store.checkpoint(job: 1), Data([1, 7]), kind)
            XCTAssertEqual(try store.count(), 2, "\(kind): children, not trials")
            XCTAssertEqual(try store.ranked().map { [$0.job!, $0.rung] }, [[3, 1], [1, 0]], kind)
            XCTAssertNil(try store.known(hash: "h[9, 9]"), kind)
            try store.setFinished(true)
            XCTAssertTrue(try store.hasAllChildren(), kind)
            XCTAssertEqual(try store.checkpointedJobs(), [1], kind)
            // A finished search prunes what is left: job 1's two bytes.
            let pruned = try store.pruneCheckpoints()
            XCTAssertEqual([pruned.count, pruned.bytes], [1, 2], kind)
            try store.compact()
            XCTAssertEqual(try store.checkpointedJobs(), [], kind)
            XCTAssertNil(try store.checkpoint(job: 1), kind)
            XCTAssertEqual(try store.pruneCheckpoints().bytes, 0, "\(kind): nothing left to prune")
            XCTAssertEqual(try store.ranked().map { [$0.job!, $0.rung] }, [[3, 1], [1, 0]], "\(kind): pruning keeps every trial")
            XCTAssertEqual(try store.problems(), [], kind)
        }
    }

    /// The winner `nasc retrain` trains: the best-ranked child until the
    /// top is re-evaluated, then the best re-evaluated one by the reward its
    /// new accuracy earns, cost factor included.
    func testTheWinnerIsTheBestReevaluatedChild() throws {
        for (kind, open) in try stores() {
            let store = try open()
            try store.setSettings(["children": 3, "layers": 1, "target_mflops": 1.0, "cost_exponent": -0.5])
            try store.enqueue([[1], [2], [3]], strategy: "random")
            try store.register(worker: "a:1", host: "a", pid: 1, version: "t")
            var ids: [Int] = []
            for (decisions, reward, flops) in [([1], 0.9, 1_000_000), ([2], 0.8, 1_000_000), ([3], 0.7, 250_000)] {
                let job = try XCTUnwrap(try store.lease(worker: "a:1", seconds: 60, maxAttempts: 2), kind)
                var t = trial(decisions, reward: reward)
                t.flops = flops
                ids.append(try XCTUnwrap(try store.complete(job: job.id, worker: "a:1", trial: t), kind))
            }
            XCTAssertEqual(try store.winner()?.id, ids[0], "\(kind): nothing re-evaluated: the best reward")
            try store.recordReevaluation(trial: ids[0], accuracy: 0.85, images: 1000)
            try store.recordReevaluation(trial: ids[1], accuracy: 0.86, images: 1000)
            XCTAssertEqual(try store.winner()?.id, ids[1], "\(kind): the better accuracy on the larger split")
            // A quarter of the cost doubles the reward at exponent -0.5.
            try store.recordReevaluation(trial: ids[2], accuracy: 0.70, images: 1000)
            XCTAssertEqual(try store.winner()?.id, ids[2], "\(kind): the reward counts cost: 0.70^3 x 2 > 0.86^3")
        }
    }

    func testStateAndObservationsCommitTogether() throws {
        for (kind, open) in try stores() {
            let store = try open()
            let a = try store.insert(trial([1])), b = try store.insert(trial([2]))
            XCTAssertEqual(try store.unobservedIDs(), [a, b], kind)
            let state = Data((0..<1000).map { UInt8($0 % 251) })
            try store.commitRound(ids: [a], state: state)
            XCTAssertEqual(try store.strategyState(), state, kind)
            XCTAssertEqual(try store.unobserved().map(\.id), [b], kind)
            try store.commitRound(ids: [b], state: Data([7]))
            XCTAssertEqual(try store.strategyState(), Data([7]), kind)
            XCTAssertEqual(try store.known(hash: "h[1]")?.reward, 0.5, kind)
            XCTAssertEqual(try store.known(hash: "h[1]")?.parameters, 10, "\(kind): a cached cell's row keeps its parameter count")
            XCTAssertNil(try store.known(hash: "nope"), kind)
            // Reopened, the store is the same (and its schema is not made twice).
            XCTAssertEqual(try open().all().count, 2, kind)
        }
    }

    /// Workers racing for leases, each on its own connection: every job is
    /// leased by exactly one of them, and every trial is recorded once.
    func testConcurrentWorkersNeverShareAJob() throws {
        for (kind, open) in try stores() {
            let store = try open()
            try store.enqueue((0..<60).map { [$0] }, strategy: "random")
            let leased = Locked([Int]()), failures = Locked([String]())
            let group = DispatchGroup()
            for w in 0..<4 {
                group.enter()
                Thread {
                    defer { group.leave() }
                    do {
                        let mine = try open()
                        while let job = try mine.lease(worker: "w:\(w)", seconds: 60, maxAttempts: 2) {
                            leased.mutate { $0.append(job.id) }
                            guard try mine.complete(job: job.id, worker: "w:\(w)", trial: self.trial(job.decisions)) != nil else {
                                throw SearchError(message: "job \(job.id) was not this worker's")
                            }
                        }
                    } catch { failures.mutate { $0.append("\(error)") } }
                }.start()
            }
            group.wait()
            XCTAssertEqual(failures.value, [], kind)
            XCTAssertEqual(leased.value.sorted(), Array(1...60), "\(kind): each job leased once")
            XCTAssertEqual(try store.all().count, 60, kind)
            XCTAssertEqual(try store.problems(), [], kind)
        }
    }

    /// One coordinator per PostgreSQL store, whichever machine or folder it
    /// runs from; the lock goes with its connection (a killed coordinator's
    /// server session ends, and its lock with it). Another schema is another store.
    func testOneCoordinatorPerPostgreSQLStore() throws {
        guard let url = try Self.postgresURL() else { return }
        let schema = "c_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(12).lowercased()
        func connect(_ s: String = schema) throws -> PostgresDatabase { try PostgresDatabase(url: try StorageURL("\(url)?schema=\(s)")) }
        var first: PostgresDatabase? = try connect()
        XCTAssertTrue(try first!.lockAsCoordinator())
        let second = try connect()
        XCTAssertFalse(try second.lockAsCoordinator(), "a second coordinator is refused")
        XCTAssertTrue(try connect(schema + "x").lockAsCoordinator(), "a search in another schema is another store")
        first = nil
        // The server ends the closed session (and frees its locks) on its
        // own time, a moment after the client has let go: a busy machine
        // may take seconds, so the test waits up to a minute.
        var taken = false
        let deadline = Date().addingTimeInterval(60)
        while !taken && Date() < deadline {
            taken = try second.lockAsCoordinator()
            if !taken { Thread.sleep(forTimeInterval: 0.1) }
        }
        XCTAssertTrue(taken, "the lock ends with its holder's connection")
    }

    /// A store whose schema is not this nasc's is refused, not misread.
    func testAnotherSchemaVersionIsRefused() throws {
        for (kind, open) in try stores() {
            let store = try open()
            try store.database.query("update settings set value = '99' where key = 'schema'")
            XCTAssertThrowsError(try open(), kind) { XCTAssertTrue("\($0)".contains("schema version 99, newer than this nasc reads"), "\(kind): \($0)") }
            try store.database.query("update settings set value = '1' where key = 'schema'")
            XCTAssertThrowsError(try open(), kind) { XCTAssertTrue("\($0)".contains("schema version 1, older"), "\(kind): \($0)") }
        }
    }

    /// What a mistyped or unreachable --storage says.
    func testBadStorageURLsAreClearErrors() throws {
        for (text, expected) in [("postgresql://host/db", "no user"), ("postgresql://u@/db", "no host"), ("postgresql://u@h:5432/", "no database name"),
                                 ("mysql://u@h/db", "not a PostgreSQL URL"), ("postgresql://u@h/db?schema=a-b", "schema name"),
                                 ("postgresql://u@h/db?sslmode=require", "unknown parameter")] {
            XCTAssertThrowsError(try StorageURL(text, environment: [:]), text) { XCTAssertTrue("\($0)".contains(expected), "\(text): \($0)") }
        }
        let url = try StorageURL("postgresql://me:secret@db.example:6000/runs?schema=exp1", environment: [:])
        XCTAssertEqual(url.description, "postgresql://me@db.example:6000/runs?schema=exp1", "the password never shows")
        XCTAssertEqual(url.password, "secret")
        XCTAssertEqual(try StorageURL("postgresql://me@h/d", environment: ["PGPASSWORD": "p"]).password, "p")

        // Nothing listens on a port just closed.
        let port = Self.closedPort()
        XCTAssertThrowsError(try PostgresDatabase(url: try StorageURL("postgresql://nasc@127.0.0.1:\(port)/postgres", environment: [:]))) {
            XCTAssertTrue("\($0)".contains("cannot connect") && "\($0)".contains("127.0.0.1:\(port)"), "\($0)")
        }
        guard let good = try Self.postgresURL() else { return }
        var wrong = URLComponents(string: good)!
        wrong.password = "not-the-password"
        XCTAssertThrowsError(try PostgresDatabase(url: try StorageURL(wrong.string!, environment: [:]))) {
            XCTAssertTrue("\($0)".contains("password authentication failed"), "\($0)")
            XCTAssertFalse("\($0)".contains("not-the-password"), "the message never shows the password")
        }
        var missing = URLComponents(string: good)!
        missing.path = "/no_such_database"
        XCTAssertThrowsError(try PostgresDatabase(url: try StorageURL(missing.string!, environment: [:]))) {
            XCTAssertTrue("\($0)".contains("no_such_database") && "\($0)".contains("does not exist"), "\($0)")
        }
    }

    static func closedPort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        close(fd)
        return Int(UInt16(bigEndian: addr.sin_port))
    }
}
