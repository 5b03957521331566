import Foundation
import NascIR

/// The machine code of every kernel of a graph, and the modules that hold it.
struct KernelCode {
    let addresses: [UnsafeRawPointer]
    let modules: [CompiledModule]
}

/// Finds the machine code of lowered kernels in the cache, or compiles it.
enum MachineCode {
    static func build(_ lowered: [LoweredKernel], cache: KernelCache, threads: Int, timings: inout CompiledGraph.Timings) throws -> KernelCode {
        let jit = try JIT.get()
        let target = "\(jit.host.triple) \(jit.host.cpu) \(jit.host.features)"
        var addresses: [UnsafeRawPointer?] = Array(repeating: nil, count: lowered.count)
        var cachedModules: [CompiledModule] = []
        // Kernels the cache lacks, by text: equal kernels of a graph compile once.
        var missing: [(key: String, kernel: LoweredKernel, uses: [Int])] = []
        var found: [String: KernelCache.Entry] = [:]
        var missingIndex: [String: Int] = [:]
        for (i, k) in lowered.enumerated() {
            let key = target + "\n" + k.text
            if let entry = found[key] {
                addresses[i] = entry.address
                continue
            }
            if let m = missingIndex[key] {
                missing[m].uses.append(i)
                continue
            }
            timings.distinctKernels += 1
            if let entry = cache.lookup(key) {
                addresses[i] = entry.address
                cachedModules.append(entry.module)
                found[key] = entry
                timings.cacheHits += 1
                continue
            }
            timings.cacheMisses += 1
            missingIndex[key] = missing.count
            missing.append((key, k, [i]))
        }
        timings.kernels = lowered.count
        guard !missing.isEmpty else { return KernelCode(addresses: addresses.map { $0! }, modules: cachedModules) }

        // Each missing kernel is its own module, named after what its code
        // depends on, so its object file can be kept on disk: linked from
        // there when a file checks out, else compiled (modules side by side,
        // one thread each) and stored.
        let version = "nasc kernel object 1\n\(jit.pipeline)\n\(CompiledGraph.declarations)\(jit.functionAttributes)\n"
        let hashes = missing.map { SHA256.hex(version + $0.key) }
        let symbols = hashes.map { "nasc_" + $0.prefix(32) }
        var clock = Date()
        var objects = hashes.map { cache.object($0) }
        timings.llvm.parse += Date().timeIntervalSince(clock)
        timings.diskHits = objects.filter { $0 != nil }.count
        let toCompile = objects.indices.filter { objects[$0] == nil }
        let compiled = try jit.objects(for: toCompile.map { CompiledGraph.declarations + missing[$0].kernel.text(named: symbols[$0]) + "\n" + jit.functionAttributes + "\n" },
                                       threads: threads, times: &timings.llvm)
        clock = Date()
        for (i, object) in zip(toCompile, compiled) {
            objects[i] = object
            cache.store(object, hashes[i])
        }
        timings.llvm.codegen += Date().timeIntervalSince(clock)
        let modules = try jit.link(zip(objects, symbols).map { ($0!, [$1]) }, times: &timings.llvm)
        for (m, module) in zip(missing, modules) {
            let address = module.symbols.values.first!
            for i in m.uses { addresses[i] = address }
            cache.insert(m.key, KernelCache.Entry(address: address, module: module))
        }
        return KernelCode(addresses: addresses.map { $0! }, modules: cachedModules + modules)
    }
}
