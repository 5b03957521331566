import Foundation
import NascIR

/// The kernel cache on disk: one object file per compiled kernel, named by
/// the SHA-256 of everything its machine code depends on (kernel text,
/// declarations, target, pipeline, this format), so a stale or foreign
/// file is never found. A file starts with a magic and the SHA-256 of the
/// object; one that does not check out is ignored and compiled again. The
/// cache is an optimization: a directory that cannot be written only costs
/// a warning.
extension KernelCache {
    /// NASC_KERNEL_CACHE (a folder, or `off`), else $XDG_CACHE_HOME/nasc/kernels,
    /// else ~/.cache/nasc/kernels.
    public static func defaultDirectory(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> URL? {
        if let setting = environment["NASC_KERNEL_CACHE"] {
            return setting.isEmpty || setting == "off" ? nil : URL(fileURLWithPath: setting)
        }
        if let xdg = environment["XDG_CACHE_HOME"], !xdg.isEmpty { return URL(fileURLWithPath: xdg).appendingPathComponent("nasc/kernels") }
        if let home = environment["HOME"], !home.isEmpty { return URL(fileURLWithPath: home).appendingPathComponent(".cache/nasc/kernels") }
        return nil
    }

    /// NASC_KERNEL_LIBRARY (a folder, or `off`), else the folder
    /// `nasc-kernels` beside the running executable, where `make release`
    /// builds it; nil when there is none.
    public static func defaultLibrary(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> URL? {
        if let setting = environment["NASC_KERNEL_LIBRARY"] {
            return setting.isEmpty || setting == "off" ? nil : URL(fileURLWithPath: setting)
        }
        guard let executable = Bundle.main.executableURL?.resolvingSymlinksInPath() else { return nil }
        let folder = executable.deletingLastPathComponent().appendingPathComponent(libraryFolderName)
        var isFolder: ObjCBool = false
        return FileManager.default.fileExists(atPath: folder.path, isDirectory: &isFolder) && isFolder.boolValue ? folder : nil
    }

    /// The library's folder name beside the executable.
    public static let libraryFolderName = "nasc-kernels"

    static let magic = Array("nasc-o1\n".utf8)

    func file(_ hash: String, in folder: URL? = nil) -> URL? { (folder ?? directory)?.appendingPathComponent(hash + ".o") }

    /// The object file stored under `hash` in the cache's folder, else in
    /// the library, if there is one and it checks out.
    func object(_ hash: String) -> (data: Data, fromLibrary: Bool)? {
        if let url = file(hash), let data = KernelCache.checked(url) { return (data, false) }
        if let library, let url = file(hash, in: library), let data = KernelCache.checked(url) { return (data, true) }
        return nil
    }

    /// The object in the file at `url`, if its magic and checksum check out.
    static func checked(_ url: URL) -> Data? {
        guard let data = try? Data(contentsOf: url) else { return nil }
        let header = KernelCache.magic.count + 32
        guard data.count > header, Array(data.prefix(KernelCache.magic.count)) == KernelCache.magic else { return nil }
        let object = data.subdata(in: header..<data.count)
        var digest = SHA256()
        digest.update(object)
        guard digest.finalize() == Array(data[KernelCache.magic.count..<header]) else { return nil }
        return object
    }

    /// Stores an object file under `hash` (written aside, then renamed, so
    /// a reader never sees half a file).
    func store(_ object: Data, _ hash: String) {
        guard let directory, let url = file(hash) else { return }
        var digest = SHA256()
        digest.update(object)
        var data = Data(KernelCache.magic)
        data.append(contentsOf: digest.finalize())
        data.append(object)
        let aside = directory.appendingPathComponent("\(hash).\(getpid()).tmp")
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            try data.write(to: aside)
            guard rename(aside.path, url.path) == 0 else { throw CocoaError(.fileWriteUnknown) }
        } catch {
            try? FileManager.default.removeItem(at: aside)
            diskLock.lock()
            defer { diskLock.unlock() }
            guard !diskWarningShown else { return }
            diskWarningShown = true
            FileHandle.standardError.write(Data("nasc: warning: cannot keep compiled kernels in \(directory.path): \(error.localizedDescription) (set NASC_KERNEL_CACHE to another folder, or to off)\n".utf8))
        }
    }
}
