import Foundation
import NascIR

/// The machine code of every kernel of a graph, and the modules that hold it.
public struct KernelCode {
    public let addresses: [UnsafeRawPointer]
    public let modules: [CompiledModule]
}

/// Where the time of compiling a graph went, and what the cache served.
public struct CompileTimings: Sendable {
    public var passes = 0.0
    public var lowering = 0.0
    public var llvm = CompileTimes()
    public var kernels = 0
    /// Kernels with distinct text: kernels that differ only in shape
    /// share one (see KernelLowering), and the cache is asked per text.
    public var distinctKernels = 0
    public var cacheHits = 0
    public var cacheMisses = 0
    /// Of the misses, kernels linked from the cache's folder on disk.
    public var diskHits = 0
    /// Of the misses, kernels linked from the library (compiled ahead of time).
    public var libraryHits = 0
    public var total: Double { passes + lowering + llvm.parse + llvm.optimize + llvm.codegen }
    public init() {}
}

/// Finds the machine code of lowered kernels in the cache, or compiles it:
/// all the backend does for the runtime, which binds memory and runs it.
public enum MachineCode {
    /// Functions the kernels call: OpenBLAS, libm, LLVM intrinsics, and nasc's own exp.
    public static let declarations = """
        declare void @cblas_sgemm(i32, i32, i32, i32, i32, i32, float, float*, i32, float*, i32, float, float*, i32)
        declare void @cblas_sgemv(i32, i32, i32, i32, float, float*, i32, float*, i32, float, float*, i32)
        declare float @expf(float)
        declare float @logf(float)
        declare float @llvm.fabs.f32(float)
        declare float @llvm.copysign.f32(float, float)
        declare float @llvm.sqrt.f32(float)
        declare float @llvm.floor.f32(float)
        declare void @llvm.memset.p0i8.i64(i8*, i8, i64, i1)
        declare void @llvm.masked.store.v16f32.p0v16f32(<16 x float>, <16 x float>*, i32, <16 x i1>)
        declare <16 x float> @llvm.masked.load.v16f32.p0v16f32(<16 x float>*, i32, <16 x i1>, <16 x float>)
        declare float @llvm.vector.reduce.fadd.v16f32(float, <16 x float>)
        ; exp(x) for the kernels (Cephes' expf): x = n ln2 + r with |r| <= ln2/2,
        ; exp(r) by a degree-7 polynomial, 2^n from the exponent bits. Inlined
        ; and branch-free, so the loop vectorizer handles loops that call it,
        ; which libm's expf prevents. Relative error about 2e-7. `contract`
        ; lets each multiply and add become one fused multiply-add (a third
        ; fewer instructions in a 10,000-word softmax, and one rounding less).
        define internal float @nasc_expf(float %x) alwaysinline {
          %below = fcmp olt float %x, 0x4056000000000000
          %x1 = select i1 %below, float %x, float 0x4056000000000000
          %above = fcmp ogt float %x1, 0xC055C00000000000
          %x2 = select i1 %above, float %x1, float 0xC055C00000000000
          %t = fmul contract float %x2, 0x3FF7154760000000
          %t1 = fadd contract float %t, 0x3FE0000000000000
          %n = call float @llvm.floor.f32(float %t1)
          %a = fmul contract float %n, 0x3FE6300000000000
          %r1 = fsub contract float %x2, %a
          %b = fmul contract float %n, 0xBF2BD01060000000
          %r = fsub contract float %r1, %b
          %q0 = fmul contract float %r, 0x3F2A0D2CE0000000
          %q1 = fadd contract float %q0, 0x3F56E879C0000000
          %q2 = fmul contract float %q1, %r
          %q3 = fadd contract float %q2, 0x3F81112100000000
          %q4 = fmul contract float %q3, %r
          %q5 = fadd contract float %q4, 0x3FA5553820000000
          %q6 = fmul contract float %q5, %r
          %q7 = fadd contract float %q6, 0x3FC5555540000000
          %q8 = fmul contract float %q7, %r
          %q9 = fadd contract float %q8, 0x3FE0000000000000
          %rr = fmul contract float %r, %r
          %q10 = fmul contract float %q9, %rr
          %q11 = fadd contract float %q10, %r
          %e = fadd contract float %q11, 0x3FF0000000000000
          %ni = fptosi float %n to i32
          %biased = add i32 %ni, 127
          %bits = shl i32 %biased, 23
          %scale = bitcast i32 %bits to float
          %result = fmul contract float %e, %scale
          ret float %result
        }
        ; tanh(x) for the kernels (Cephes' tanhf): an odd polynomial for
        ; |x| <= 0.625, 1 - 2 / (exp(2|x|) + 1) with x's sign above. Both are
        ; computed and one selected, so loops that call it vectorize, as
        ; with nasc_expf (libm's tanhf is a call per element). Relative
        ; error about 2e-7.
        define internal float @nasc_tanhf(float %x) alwaysinline {
          %ax = call float @llvm.fabs.f32(float %x)
          %twice = fmul contract float %ax, \(IRWriter.literal(2.0))
          %e = call float @nasc_expf(float %twice)
          %e1 = fadd contract float %e, \(IRWriter.literal(1.0))
          %q = fdiv float \(IRWriter.literal(2.0)), %e1
          %far = fsub contract float \(IRWriter.literal(1.0)), %q
          %farSigned = call float @llvm.copysign.f32(float %far, float %x)
          %z = fmul contract float %x, %x
          %p0 = fmul contract float %z, \(IRWriter.literal(-0.00570498872745))
          %p1 = fadd contract float %p0, \(IRWriter.literal(0.0206390887954))
          %p2 = fmul contract float %p1, %z
          %p3 = fadd contract float %p2, \(IRWriter.literal(-0.0537397155531))
          %p4 = fmul contract float %p3, %z
          %p5 = fadd contract float %p4, \(IRWriter.literal(0.133314422036))
          %p6 = fmul contract float %p5, %z
          %p7 = fadd contract float %p6, \(IRWriter.literal(-0.333332819422))
          %p8 = fmul contract float %p7, %z
          %p9 = fmul contract float %p8, %x
          %near = fadd contract float %p9, %x
          %isFar = fcmp ogt float %ax, \(IRWriter.literal(0.625))
          %result = select i1 %isFar, float %farSigned, float %near
          ret float %result
        }

        """

    public static func build(_ lowered: [LoweredKernel], cache: KernelCache, threads: Int, timings: inout CompileTimings) throws -> KernelCode {
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
        let version = "nasc kernel object 1\n\(jit.pipeline)\n\(MachineCode.declarations)\(jit.functionAttributes)\n"
        var versionHashed = SHA256()  // the common prefix, hashed once
        versionHashed.update(version)
        let hashes = missing.map { var h = versionHashed; h.update($0.key); return h.finalizeHex() }
        let symbols = hashes.map { "nasc_" + $0.prefix(32) }
        var clock = Date()
        let kept = hashes.map { cache.object($0) }
        var objects = kept.map { $0?.data }
        timings.llvm.parse += Date().timeIntervalSince(clock)
        timings.diskHits = kept.filter { $0 != nil && !$0!.fromLibrary }.count
        timings.libraryHits = kept.filter { $0?.fromLibrary == true }.count
        let toCompile = objects.indices.filter { objects[$0] == nil }
        let compiled = try jit.objects(for: toCompile.map { MachineCode.declarations + missing[$0].kernel.text(named: symbols[$0]) + "\n" + jit.functionAttributes + "\n" },
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
