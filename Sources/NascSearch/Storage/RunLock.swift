import Foundation

/// One search at a time per run folder: an exclusive `flock` on
/// `search.lock`, held for the life of the search. The kernel drops it when
/// the process ends in any way (kill -9 included), so a dead search never
/// blocks the next one; a live one makes the next refuse with its pid.
final class RunLock {
    private let fd: Int32

    init(directory: String) throws {
        let path = "\(directory)/search.lock"
        fd = open(path, O_RDWR | O_CREAT, 0o644)
        guard fd >= 0 else { throw SearchError(message: "cannot open the run folder's lock: \(String(cString: strerror(errno)))", file: path) }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let holder = (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            close(fd)
            throw SearchError(message: "another nasc search is running on this folder\(holder.isEmpty ? "" : " (\(holder))"); "
                              + "wait for it to finish, or pass another --out", file: directory)
        }
        let note = "pid \(getpid()), since \(ISO8601DateFormatter().string(from: Date()))\n"
        _ = ftruncate(fd, 0)
        _ = note.withCString { write(fd, $0, strlen($0)) }
    }

    deinit {
        flock(fd, LOCK_UN)
        close(fd)
    }
}
