import ArgumentParser
import Foundation
import NascLLVM
import NascRuntime
import NascPasses
import NascTraining

struct CacheCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cache",
        abstract: "Show or clear the compiled kernels kept on disk; build the kernel library.",
        discussion: """
            nasc keeps every kernel it compiles as an object file, so a later \
            process links it instead of compiling it (a child whose kernels \
            are all there compiles in about 20 ms instead of about 150). The \
            folder is NASC_KERNEL_CACHE (a folder, or off), else \
            $XDG_CACHE_HOME/nasc/kernels, else ~/.cache/nasc/kernels. Files \
            are named by a hash of everything their code depends on, so a \
            stale file is never used; clearing only costs compile time.

            The kernel library is a folder of kernels compiled ahead of time, \
            read when the cache lacks a kernel and never written: \
            NASC_KERNEL_LIBRARY (a folder, or off), else nasc-kernels beside \
            the nasc executable. --build-library fills it with the kernels of \
            --children children sampled from the CNN space (every depth, \
            stride and pooling setting) and a sixth as many from the cell \
            space (every operation at every plane size), on Fashion-MNIST's \
            and CIFAR-10's images (SGD and Adam steps and the inference \
            graph), so that the first compile of a new child in a fresh \
            process mostly links; `make release` builds it.

            Examples:
              nasc cache            # where, how many kernels, how much space
              nasc cache --clear
              nasc cache --build-library .build/release/nasc-kernels
            """)

    @Flag(help: "Remove every kept kernel.")
    var clear = false

    @Option(name: .customLong("build-library"), help: ArgumentHelp("Compile the kernels of sampled children into this folder (replaced whole).", valueName: "folder"))
    var buildLibrary: String?

    @Option(help: "Children sampled for --build-library.")
    var children = 300

    @Option(help: "Seed of the children sampled for --build-library.")
    var seed: UInt64 = 0

    @OptionGroup var threadFlags: ThreadFlags

    func validate() throws {
        try FlagCheck.int(children, "--children", 1...100_000)
        if buildLibrary != nil && clear { throw ValidationError("--clear and --build-library do not go together") }
    }

    func run() throws {
        if let buildLibrary {
            try reportingErrors { try build(URL(fileURLWithPath: buildLibrary)) }
            return
        }
        if let library = KernelCache.defaultLibrary() {
            let count = (try? KernelLibrary.kernels(in: library)) ?? 0
            print("\(library.path): kernel library, \(count) kernels (read only)")
        }
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

    func build(_ folder: URL) throws {
        let start = Date()
        let sample = KernelLibrary.sample(children, seed: seed)
        let progress = Progress(total: sample.count, label: "children")
        let (count, failures) = try KernelLibrary.build(into: folder, children: sample, threads: threadFlags.threads) { done, kernels in
            progress.update(done, "\(kernels) kernels")
        }
        progress.finish()
        for failure in failures.prefix(5) { FileHandle.standardError.write(Data("nasc: warning: left out of the library: \(failure)\n".utf8)) }
        print(String(format: "\(folder.path): %d kernels from %d children in %.1f s", count, sample.count - failures.count, Date().timeIntervalSince(start))
              + (failures.isEmpty ? "" : " (\(failures.count) children did not compile, left out)"))
    }
}
