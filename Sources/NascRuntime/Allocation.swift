import Foundation
import NascIR

/// The runtime's large buffers (arenas, parameters, workspaces, input
/// copies), from the system allocator with the failure checked: memory the
/// system will not give (an address-space or cgroup limit that the memory
/// check did not foresee, another process's use) is an error naming the
/// size and the buffer, where Swift's own allocation would abort the
/// process. Free them with `free`.
enum Allocation {
    /// `count` bytes (at least 64), aligned to 64 for vector loads.
    static func bytes(_ count: Int, for what: String) throws -> UnsafeMutableRawPointer {
        var p: UnsafeMutableRawPointer?
        guard posix_memalign(&p, 64, max(count, 64)) == 0, let p else {
            throw RuntimeError(message: "cannot allocate \(MemoryLimit.human(count)) for \(what): the system refused it "
                               + "(the memory limit in force is \(MemoryLimit.human(MemoryLimit.inForce.bytes)), \(MemoryLimit.inForce.source)); "
                               + "use a smaller --batch or smaller shapes, or set a lower \(MemoryLimit.variable) so that graphs are refused before they allocate", exceedsMemoryLimit: true)
        }
        return p
    }

    static func floats(_ count: Int, for what: String) throws -> UnsafeMutablePointer<Float> {
        let (size, overflow) = max(count, 1).multipliedReportingOverflow(by: 4)
        guard !overflow else { throw RuntimeError(message: "\(what) has more elements than memory can hold", exceedsMemoryLimit: true) }
        return try bytes(size, for: what).bindMemory(to: Float.self, capacity: max(count, 1))
    }
}
