import Foundation

/// The machine code of every kernel of a graph, and the modules that hold it.
struct KernelCode {
    let addresses: [UnsafeRawPointer]
    let modules: [CompiledModule]
}

/// Finds the machine code of lowered kernels in the cache, or compiles it.
enum MachineCode {
    static func build(_ lowered: [LoweredKernel], cache: KernelCache, timings: inout CompiledGraph.Timings) throws -> KernelCode {
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

        // One module per thread, of about equal text, largest kernels first.
        let symbols = missing.map { _ in newSymbol() }
        let texts = zip(missing, symbols).map { m, symbol in m.kernel.text(named: symbol) + "\n" }
        let groupCount = min(max(BLASThreads.current, 1), missing.count)
        var groups = [(text: String, functions: [String])](repeating: ("", []), count: groupCount)
        for i in texts.indices.sorted(by: { texts[$0].utf8.count > texts[$1].utf8.count }) {
            let g = groups.indices.min { groups[$0].text.utf8.count < groups[$1].text.utf8.count }!
            groups[g].text += texts[i]
            groups[g].functions.append(symbols[i])
        }
        let modules = try jit.compile(modules: groups.map { (CompiledGraph.declarations + $0.text + jit.functionAttributes + "\n", $0.functions) },
                                      times: &timings.llvm)
        var owner: [String: CompiledModule] = [:]
        for m in modules { for name in m.symbols.keys { owner[name] = m } }
        for (m, symbol) in zip(missing, symbols) {
            let address = owner[symbol]!.symbols[symbol]!
            for i in m.uses { addresses[i] = address }
            cache.insert(m.key, KernelCache.Entry(address: address, module: owner[symbol]!))
        }
        return KernelCode(addresses: addresses.map { $0! }, modules: cachedModules + modules)
    }

    nonisolated(unsafe) private static var symbolCount = 0
    private static let symbolLock = NSLock()
    /// A JIT symbol name no other kernel of this process has.
    static func newSymbol() -> String {
        symbolLock.lock()
        defer { symbolLock.unlock() }
        symbolCount += 1
        return "nasc_kernel\(symbolCount)"
    }
}
