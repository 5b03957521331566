import Foundation
import XCTest

/// nasc under the limits a container or a shell puts on a process: an
/// address-space limit (`ulimit -v`), a cgroup's memory limit, a file-size
/// limit standing for a full disk (`ulimit -f`). Each is met with a message
/// that names the size or the file, never an abort, and nothing already
/// written is lost.
final class ProcessLimitTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("nasc-limits-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    var nascPath: String { IRSpecTests.nascDirectory.appendingPathComponent("nasc").path }

    /// nasc run by bash after `setup` (a ulimit, say).
    func nasc(after setup: String, _ arguments: [String], timeout: Double = 120) throws -> MutatedSpecTests.Outcome {
        try MutatedSpecTests.run(URL(fileURLWithPath: "/bin/bash"), ["-c", "\(setup) && exec \"$0\" \"$@\"", nascPath] + arguments, timeout: timeout)
    }

    /// A verified graph whose parameters alone take 4.3 GB: within 80% of
    /// this machine's memory, beyond a 4 GiB address space.
    func largeGraph() throws -> String {
        let path = dir.appendingPathComponent("large.nasir").path
        try """
            graph @large(%x: f32[N,1000], %y: i32[N]) -> (loss: f32[], logits: f32[N,10]) {
              %w1 = param {init = he_normal} : f32[1000,1075200]
              %z1 = matmul %x, %w1 {transpose_a = false, transpose_b = false} : f32[N,1075200]
              %w2 = param {init = glorot_uniform} : f32[1075200,10]
              %logits = matmul %z1, %w2 {transpose_a = false, transpose_b = false} : f32[N,10]
              %loss = softmax_cross_entropy %logits, %y : f32[]
              return %loss, %logits
            }
            """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func testAGraphBeyondTheAddressSpaceLimitIsRefusedWithItsSize() throws {
        let graph = try largeGraph()
        for command in [["compile", graph, "--after", "verify", "--batch", "1"], ["run", graph, "--batch", "1"]] {
            let r = try nasc(after: "ulimit -v 4194304", command)
            XCTAssertFalse(r.signalled || r.timedOut, "nasc \(command[0]) aborted or hung: \(r.output)")
            XCTAssertEqual(r.status, 1, r.output)
            XCTAssertTrue(r.output.contains("needs") && r.output.contains("the address-space limit of 4.00 GiB (RLIMIT_AS, ulimit -v)"), r.output)
        }
        let version = try nasc(after: "ulimit -v 4194304", ["version"])
        XCTAssertTrue(version.output.contains("memory limit:") && version.output.contains("address-space limit of 4.00 GiB"), version.output)
    }

    /// A real cgroup where this machine lets the test make one (as root,
    /// with a writable v1 memory hierarchy or v2 unified one); the parsing
    /// of every layout is tested on fixture files in MemoryLimitTests.
    func testACgroupMemoryLimitIsTheLimitInForce() throws {
        let name = "nasc-test-\(getpid())"
        let v1 = "/sys/fs/cgroup/memory", v2 = "/sys/fs/cgroup"
        var group = "", limitFile = ""
        if mkdir("\(v1)/\(name)", 0o755) == 0 {
            (group, limitFile) = ("\(v1)/\(name)", "memory.limit_in_bytes")
        } else if FileManager.default.fileExists(atPath: "\(v2)/cgroup.controllers"), mkdir("\(v2)/\(name)", 0o755) == 0 {
            (group, limitFile) = ("\(v2)/\(name)", "memory.max")
        }
        guard !group.isEmpty else { throw XCTSkip("this machine does not let the test make a cgroup (\(String(cString: strerror(errno))))") }
        defer { rmdir(group) }
        guard (try? "524288000".write(toFile: "\(group)/\(limitFile)", atomically: false, encoding: .utf8)) != nil else {
            throw XCTSkip("the cgroup \(group) takes no memory limit here")
        }
        let r = try nasc(after: "echo $$ > \(group)/cgroup.procs", ["version"])
        XCTAssertEqual(r.status, 0, r.output)
        XCTAssertTrue(r.output.contains("memory limit: 400.00 MiB, 80% of the 500.00 MiB memory limit of this process's cgroup"), r.output)
    }

    /// A checkpoint that cannot be written whole (the file-size limit
    /// stands for a full disk) is an error naming it; the one before stays
    /// as it was and loads.
    func testAFullDiskLeavesThePreviousCheckpointReadable() throws {
        let data = dir.appendingPathComponent("data")
        try WorkerTests.writeQuadrants(to: data)
        let graph = try WorkerTests.writeQuadrantsGraph(in: dir)
        let checkpoint = dir.appendingPathComponent("q.ckpt").path
        let train = ["train", graph, "--data", data.path, "--validation", "40", "--batch", "16", "--threads", "1", "--save", checkpoint]
        let first = try MutatedSpecTests.nasc(train + ["--epochs", "1"], timeout: 120)
        XCTAssertEqual(first.status, 0, first.output)
        let before = try Data(contentsOf: URL(fileURLWithPath: checkpoint))
        XCTAssertGreaterThan(before.count, 10 * 1024)
        let full = try nasc(after: "ulimit -f 10", train + ["--epochs", "2", "--resume", checkpoint])
        XCTAssertFalse(full.signalled, "a file-size limit must not kill nasc (SIGXFSZ): \(full.output)")
        XCTAssertEqual(full.status, 1, full.output)
        XCTAssertTrue(full.output.contains("\(checkpoint): error: cannot write the checkpoint") && full.output.contains("the previous file is unchanged"), full.output)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: checkpoint)), before)
        XCTAssertFalse(FileManager.default.fileExists(atPath: checkpoint + ".partial"), "no partial file is left behind")
        let resumed = try MutatedSpecTests.nasc(train + ["--epochs", "2", "--resume", checkpoint], timeout: 120)
        XCTAssertEqual(resumed.status, 0, resumed.output)
        XCTAssertTrue(resumed.output.contains("resumed from \(checkpoint) after epoch 1"), resumed.output)
    }

    /// A trial store that cannot grow (a file-size limit standing for a
    /// full disk) stops the search with the database's error naming the
    /// store; what was committed stays whole, and the same command, with
    /// room again, finishes the search.
    func testAFullDiskStopsASearchWithItsStoreWhole() throws {
        let data = dir.appendingPathComponent("data")
        try WorkerTests.writeQuadrants(to: data)
        let run = dir.appendingPathComponent("run").path
        let search = ["search", "--children", "40", "--layers", "1", "--train-images", "96", "--validation-images", "64", "--batch", "16",
                      "--data", data.path, "--threads", "1", "--in-process", "--strategy", "random", "--out", run]
        let full = try nasc(after: "ulimit -f 300", search, timeout: 300)
        XCTAssertFalse(full.signalled, full.output)
        XCTAssertEqual(full.status, 1, full.output)
        XCTAssertTrue(full.output.contains("\(run)/trials.db: error:"), full.output)
        let status = try MutatedSpecTests.nasc(["status", run, "--check"], timeout: 60)
        XCTAssertEqual(status.status, 0, status.output)
        XCTAssertTrue(status.output.contains("integrity: ok"), status.output)
        let again = try MutatedSpecTests.nasc(search, timeout: 300)
        XCTAssertEqual(again.status, 0, again.output)
        XCTAssertTrue(again.output.contains("[40/40]"), again.output)
    }
}
