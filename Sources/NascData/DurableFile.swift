import Foundation

/// Files written whole or not at all: the bytes go to `PATH.partial`, are
/// flushed to the disk, and the file is renamed over `PATH` (rename is
/// atomic). A write that fails (a full disk, a file-size limit, a folder
/// that is not writable) is an error naming the file and the system's
/// reason; the partial file is removed and the previous `PATH` is left as
/// it was.
public enum DurableFile {
    public static func write(_ data: Data, to path: String, what: String) throws {
        let temporary = path + ".partial"
        func failure(_ step: String) -> DatasetError {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            return DatasetError(path, "cannot write \(what) (\(step): \(reason)); \(FileManager.default.fileExists(atPath: path) ? "the previous file is unchanged" : "nothing was written")")
        }
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw failure("opening \(temporary)") }
        var written = 0
        let ok = data.withUnsafeBytes { (bytes: UnsafeRawBufferPointer) -> Bool in
            while written < bytes.count {
                let n = Foundation.write(fd, bytes.baseAddress! + written, bytes.count - written)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { return false }
                written += n
            }
            return true
        }
        guard ok, fsync(fd) == 0 else {
            let saved = errno
            close(fd)
            errno = saved
            throw failure("writing")
        }
        guard close(fd) == 0 else { throw failure("closing") }
        guard rename(temporary, path) == 0 else { throw failure("renaming \(temporary)") }
    }
}

extension Data {
    /// This data as the file `path`, written whole or not at all (DurableFile).
    public func writeWhole(to path: String, what: String = "the file") throws {
        try DurableFile.write(self, to: path, what: what)
    }
}

extension String {
    /// This text as the file `path` in UTF-8, written whole or not at all (DurableFile).
    public func writeWhole(to path: String, what: String = "the file") throws {
        try DurableFile.write(Data(utf8), to: path, what: what)
    }
}
