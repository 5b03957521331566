import Foundation
import NascIR
import XCTest

/// The memory limit is the smallest bound that applies to the process:
/// read here from fixture files laid out as /proc and /sys are, and from
/// rlimits given by the test.
final class MemoryLimitTests: XCTestCase {
    let GiB = 1 << 30
    var root: String!

    override func setUpWithError() throws {
        root = NSTemporaryDirectory() + "nasc-memory-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: root + "/proc/self", withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: root) }

    func write(_ path: String, _ text: String) throws {
        let full = root + path
        try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try text.write(toFile: full, atomically: true, encoding: .utf8)
    }

    func bounds(_ environment: [String: String] = [:], limits: [MemoryLimit.Resource: Int] = [:], mapped: Int = 0) -> [MemoryLimit.Bound] {
        MemoryLimit.bounds(environment: environment, root: root, physical: 32 * GiB, limits: { limits[$0] }, mapped: { _ in mapped })
    }

    func smallest(_ b: [MemoryLimit.Bound]) -> MemoryLimit.Bound { b.min { $0.bytes < $1.bytes }! }

    func testWithNoLimitsItIsEightyPercentOfPhysicalMemory() throws {
        try write("/proc/self/cgroup", "0::/user.slice\n")
        let b = bounds()
        XCTAssertEqual(b.count, 1)
        XCTAssertEqual(b[0].bytes, Int(Double(32 * GiB) * 0.8))
        XCTAssertTrue(b[0].source.contains("80% of this machine's 32.00 GiB"), b[0].source)
    }

    func testCgroupV2LimitsOfTheGroupAndItsAncestors() throws {
        try write("/proc/self/cgroup", "0::/kubepods/pod1/worker\n")
        try write("/sys/fs/cgroup/kubepods/pod1/worker/memory.max", "max\n")
        try write("/sys/fs/cgroup/kubepods/pod1/memory.max", "4294967296\n")
        try write("/sys/fs/cgroup/kubepods/memory.max", "8589934592\n")
        let limit = smallest(bounds())
        XCTAssertEqual(limit.bytes, Int(Double(4 * GiB) * 0.8), "the pod's 4 GiB, the smallest on the path; 'max' is none")
        XCTAssertTrue(limit.source.contains("80% of the 4.00 GiB memory limit of this process's cgroup")
                      && limit.source.contains("/sys/fs/cgroup/kubepods/pod1/memory.max"), limit.source)
    }

    func testCgroupV2InANamespacedMountReadsTheMountRoot() throws {
        // Inside a container the group's own path is not visible: /sys/fs/cgroup is the group.
        try write("/proc/self/cgroup", "0::/\n")
        try write("/sys/fs/cgroup/memory.max", "2147483648\n")
        XCTAssertEqual(smallest(bounds()).bytes, Int(Double(2 * GiB) * 0.8))
    }

    func testCgroupV1HierarchicalLimitAndUnlimitedValues() throws {
        try write("/proc/self/cgroup", "5:cpu,cpuacct:/job\n4:memory:/job/7\n0::/\n")
        try write("/sys/fs/cgroup/memory/job/7/memory.limit_in_bytes", "9223372036854771712\n")
        try write("/sys/fs/cgroup/memory/job/7/memory.stat", "cache 0\nhierarchical_memory_limit 3221225472\nrss 12\n")
        let limit = smallest(bounds())
        XCTAssertEqual(limit.bytes, Int(Double(3 * GiB) * 0.8), "memory.stat's hierarchical limit; 2^63 - 4096 means none")
        try write("/sys/fs/cgroup/memory/job/7/memory.stat", "hierarchical_memory_limit 9223372036854771712\n")
        XCTAssertEqual(bounds().count, 1, "no cgroup bound when every value means none")
    }

    func testAddressSpaceAndDataLimitsCountWhatIsMappedAlready() throws {
        try write("/proc/self/cgroup", "0::/\n")
        let b = bounds(limits: [.addressSpace: 4 * GiB, .data: 6 * GiB], mapped: GiB / 2)
        let limit = smallest(b)
        XCTAssertEqual(limit.bytes, 4 * GiB - GiB / 2)
        XCTAssertTrue(limit.source.contains("the address-space limit of 4.00 GiB (RLIMIT_AS, ulimit -v) less the 512.00 MiB"), limit.source)
        XCTAssertEqual(b.count, 3)
    }

    func testTheEnvironmentReplacesTheShareOfPhysicalMemoryButNotTheOtherBounds() throws {
        try write("/proc/self/cgroup", "0::/\n")
        try write("/sys/fs/cgroup/memory.max", "\(GiB)\n")
        var limit = smallest(bounds([MemoryLimit.variable: "64G"]))
        XCTAssertEqual(limit.bytes, Int(Double(GiB) * 0.8), "NASC_MEMORY_LIMIT cannot lift the cgroup's limit")
        try FileManager.default.removeItem(atPath: root + "/sys/fs/cgroup/memory.max")
        limit = smallest(bounds([MemoryLimit.variable: "64G"]))
        XCTAssertEqual(limit.bytes, 32 * GiB, "nor the machine's memory")
        limit = smallest(bounds([MemoryLimit.variable: "2G"]))
        XCTAssertEqual(limit, MemoryLimit.Bound(bytes: 2 * GiB, source: "set by NASC_MEMORY_LIMIT"))
    }

    func testThisProcessHasALimitInForce() {
        let limit = MemoryLimit.inForce
        XCTAssertGreaterThan(limit.bytes, 0)
        XCTAssertTrue(MemoryLimit.bounds().contains(limit))
    }
}
