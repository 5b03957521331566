import ArgumentParser
import Foundation
import NascLLVM
import NascRuntime
import NascPasses

struct CacheCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cache",
        abstract: "Show or clear the compiled kernels kept on disk.",
        discussion: """
            nasc keeps every kernel it compiles as an object file, so a later \
            process links it instead of compiling it (a child whose kernels \
            are all there compiles in about 20 ms instead of about 150). The \
            folder is NASC_KERNEL_CACHE (a folder, or off), else \
            $XDG_CACHE_HOME/nasc/kernels, else ~/.cache/nasc/kernels. Files \
            are named by a hash of everything their code depends on, so a \
            stale file is never used; clearing only costs compile time.

            Examples:
              nasc cache            # where, how many kernels, how much space
              nasc cache --clear
            """)

    @Flag(help: "Remove every kept kernel.")
    var clear = false

    func run() throws {
        guard let folder = KernelCache.defaultDirectory() else {
            print("the kernel cache on disk is off (NASC_KERNEL_CACHE=off)")
            return
        }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        let files = names.filter { $0.hasSuffix(".o") }
        let bytes = files.reduce(0) { total, name in
            total + ((try? FileManager.default.attributesOfItem(atPath: folder.appendingPathComponent(name).path)[.size] as? Int) ?? 0)
        }
        if clear {
            // Leftovers of a process stopped while writing a kernel go too.
            for name in names where name.hasSuffix(".tmp") { try? FileManager.default.removeItem(at: folder.appendingPathComponent(name)) }
            var removed = 0
            for name in files where (try? FileManager.default.removeItem(at: folder.appendingPathComponent(name))) != nil { removed += 1 }
            print("\(folder.path): removed \(removed) kernels (\(MemoryPlan.human(bytes)))")
            if removed < files.count { throw CommandError("\(folder.path): error: \(files.count - removed) kernels could not be removed") }
            return
        }
        print("\(folder.path): \(files.count) kernels, \(MemoryPlan.human(bytes))")
    }
}
