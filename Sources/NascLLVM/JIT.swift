import CLLVM
import Foundation

/// The backend's one error type: a kernel that cannot be lowered, LLVM
/// refusing a module, a symbol that does not link.
public struct BackendError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// Code one `JIT.compile` produced; freed (its resource tracker removed from
/// the JIT) when the last kernel or graph using it lets go.
public final class CompiledModule: @unchecked Sendable {
    fileprivate let tracker: LLVMOrcResourceTrackerRef
    public let symbols: [String: UnsafeRawPointer]
    private unowned let jit: JIT

    fileprivate init(tracker: LLVMOrcResourceTrackerRef, symbols: [String: UnsafeRawPointer], jit: JIT) {
        self.tracker = tracker
        self.symbols = symbols
        self.jit = jit
    }

    deinit { jit.remove(self) }
}

private final class WeakModule {
    weak var module: CompiledModule?
    init(_ module: CompiledModule) { self.module = module }
}

/// Seconds spent in each stage of turning LLVM IR text into machine code.
public struct CompileTimes: Sendable {
    public var parse = 0.0
    public var optimize = 0.0
    public var codegen = 0.0
}

/// One ORC LLJIT for the process, targeting the host CPU with its features
/// (LLVM 14 names some CPUs after older siblings; the features, not the
/// name, enable AVX-512). JIT'd code calls OpenBLAS and libm through a
/// search of the process's own symbols.
public final class JIT: @unchecked Sendable {
    public static let shared: Result<JIT, BackendError> = {
        do { return .success(try JIT()) } catch let e as BackendError { return .failure(e) } catch { return .failure(BackendError(message: "\(error)")) }
    }()

    /// The process's JIT, or the reason it could not start.
    public static func get() throws -> JIT { try shared.get() }

    let jit: LLVMOrcLLJITRef
    /// Two threads compiling through LLJIT's own compiler at once crashed
    /// inside LLVM 14, so LLJIT only links finished object files, under
    /// `lock`. Everything before (parsing, passes, code generation) runs
    /// on the caller's threads, each with its own LLVM context and a target
    /// machine taken from `idleMachines` (LLVM's are not shared).
    private let lock = NSLock()
    /// Linked modules by function name, under `lock`. Kernel functions are
    /// named after their text (so their object files can be kept on disk),
    /// and LLJIT refuses a second definition of a name: an object whose
    /// functions are already linked (a kernel the cache forgot while a
    /// graph still runs it) reuses the linked module.
    private var linked: [String: WeakModule] = [:]
    private let machinesLock = NSLock()
    private var idleMachines: [LLVMTargetMachineRef] = []

    /// The optimization pipeline (LLVM's new pass manager syntax).
    public let pipeline = "default<O2>"
    public let host: HostTarget

    /// Attributes every kernel function carries.
    public var functionAttributes: String {
        "attributes #0 = { nounwind \"target-cpu\"=\"\(host.cpu)\" \"target-features\"=\"\(host.features)\" \"prefer-vector-width\"=\"512\" }"
    }

    private init() throws {
        LLVMInitializeX86TargetInfo()
        LLVMInitializeX86Target()
        LLVMInitializeX86TargetMC()
        LLVMInitializeX86AsmPrinter()
        let host = HostTarget.detect()
        self.host = host
        let builder = LLVMOrcCreateLLJITBuilder()
        LLVMOrcLLJITBuilderSetJITTargetMachineBuilder(builder, LLVMOrcJITTargetMachineBuilderCreateFromTargetMachine(try JIT.machine(for: host)))
        var jit: LLVMOrcLLJITRef?
        try JIT.check(LLVMOrcCreateLLJIT(&jit, builder), "creating the JIT")
        self.jit = jit!
        var generator: LLVMOrcDefinitionGeneratorRef?
        try JIT.check(LLVMOrcCreateDynamicLibrarySearchGeneratorForProcess(&generator, LLVMOrcLLJITGetGlobalPrefix(jit), nil, nil),
                      "searching the process's symbols")
        LLVMOrcJITDylibAddGenerator(LLVMOrcLLJITGetMainJITDylib(jit), generator)
    }

    static func machine(for host: HostTarget) throws -> LLVMTargetMachineRef {
        var target: LLVMTargetRef?
        var message: UnsafeMutablePointer<CChar>?
        guard LLVMGetTargetFromTriple(host.triple, &target, &message) == 0, let target else {
            defer { LLVMDisposeMessage(message) }
            throw BackendError(message: "LLVM has no target for \(host.triple): \(message.map { String(cString: $0) } ?? "")")
        }
        guard let tm = LLVMCreateTargetMachine(target, host.triple, host.cpu, host.features,
                                               LLVMCodeGenLevelAggressive, LLVMRelocPIC, LLVMCodeModelJITDefault) else {
            throw BackendError(message: "cannot create a target machine for \(host.cpu)")
        }
        return tm
    }

    static func check(_ error: LLVMErrorRef?, _ what: String) throws {
        guard let error else { return }
        let message = LLVMGetErrorMessage(error)
        defer { LLVMDisposeErrorMessage(message) }
        throw BackendError(message: "LLVM error \(what): \(message.map { String(cString: $0) } ?? "unknown")")
    }

    /// Compiles LLVM IR modules to object files on `threads` threads side by
    /// side: each thread takes the next module, parses, verifies, optimizes
    /// and generates code with its own LLVM context and target machine. The
    /// times are the slowest thread's per stage. A module that does not
    /// verify is an error with LLVM's explanation, never a crash.
    public func objects(for modules: [String], threads: Int, times: inout CompileTimes) throws -> [Data] {
        let workers = SideBySide.workers(modules.count, threads: threads)
        let machines = try takeMachines(workers)
        defer { returnMachines(machines) }
        var workerTimes = [CompileTimes](repeating: CompileTimes(), count: workers)
        let objects = try workerTimes.withUnsafeMutableBufferPointer { workerTimes in
            try SideBySide.map(modules.count, threads: threads) { i, w in
                var clock = Date()
                func lap() -> Double { let now = Date(); defer { clock = now }; return now.timeIntervalSince(clock) }
                let context = LLVMContextCreate()
                defer { LLVMContextDispose(context) }
                do {
                    let module = try parseVerified(modules[i], in: context, machine: machines[w])
                    defer { LLVMDisposeModule(module) }
                    workerTimes[w].parse += lap()
                    try optimize(module, machine: machines[w])
                    workerTimes[w].optimize += lap()
                    var message: UnsafeMutablePointer<CChar>?
                    var object: LLVMMemoryBufferRef?
                    if LLVMTargetMachineEmitToMemoryBuffer(machines[w], module, LLVMObjectFile, &message, &object) != 0 {
                        defer { LLVMDisposeMessage(message) }
                        throw BackendError(message: "LLVM could not generate code: \(message.map { String(cString: $0) } ?? "")")
                    }
                    defer { LLVMDisposeMemoryBuffer(object) }
                    let data = Data(bytes: LLVMGetBufferStart(object)!, count: LLVMGetBufferSize(object))
                    workerTimes[w].codegen += lap()
                    return data
                } catch {
                    throw BackendError(message: "\(error)")
                }
            }
        }
        times.parse += workerTimes.map(\.parse).max() ?? 0
        times.optimize += workerTimes.map(\.optimize).max() ?? 0
        times.codegen += workerTimes.map(\.codegen).max() ?? 0
        return objects
    }

    /// Links object files into the process and looks up their functions:
    /// one module each, freed when the last user lets go of it.
    public func link(_ objects: [(object: Data, functions: [String])], times: inout CompileTimes) throws -> [CompiledModule] {
        let start = Date()
        lock.lock()
        defer { lock.unlock() }
        var out: [CompiledModule] = []
        for (object, functions) in objects {
            // A module being freed on another thread holds its names until
            // its deinit gets the lock.
            while functions.contains(where: { linked[$0] != nil && linked[$0]!.module == nil }) {
                lock.unlock()
                usleep(100)
                lock.lock()
            }
            if let name = functions.first, let module = linked[name]?.module {
                out.append(module)
                continue
            }
            let tracker = LLVMOrcJITDylibCreateResourceTracker(LLVMOrcLLJITGetMainJITDylib(jit))!
            let buffer = object.withUnsafeBytes { LLVMCreateMemoryBufferWithMemoryRangeCopy($0.baseAddress!.assumingMemoryBound(to: CChar.self), $0.count, "nasc-object") }
            // The JIT takes ownership of the buffer.
            try JIT.check(LLVMOrcLLJITAddObjectFileWithRT(jit, tracker, buffer), "adding an object file")
            var symbols: [String: UnsafeRawPointer] = [:]
            for name in functions {
                var address: LLVMOrcExecutorAddress = 0
                try JIT.check(LLVMOrcLLJITLookup(jit, &address, name), "linking \(name)")
                symbols[name] = UnsafeRawPointer(bitPattern: UInt(address))
            }
            let module = CompiledModule(tracker: tracker, symbols: symbols, jit: self)
            for name in functions { linked[name] = WeakModule(module) }
            out.append(module)
        }
        times.codegen += Date().timeIntervalSince(start)
        return out
    }

    /// Frees a module's code (its last user let go of it).
    fileprivate func remove(_ module: CompiledModule) {
        lock.lock()
        defer { lock.unlock() }
        if let error = LLVMOrcResourceTrackerRemove(module.tracker) { LLVMConsumeError(error) }
        LLVMOrcReleaseResourceTracker(module.tracker)
        for name in module.symbols.keys where linked[name]?.module == nil { linked[name] = nil }
    }

    private func takeMachines(_ count: Int) throws -> [LLVMTargetMachineRef] {
        machinesLock.lock()
        defer { machinesLock.unlock() }
        while idleMachines.count < count { idleMachines.append(try JIT.machine(for: host)) }
        defer { idleMachines.removeLast(count) }
        return Array(idleMachines.suffix(count))
    }

    private func returnMachines(_ machines: [LLVMTargetMachineRef]) {
        machinesLock.lock()
        defer { machinesLock.unlock() }
        idleMachines += machines
    }

    /// O2 for the host, vectorizing, without unrolling: unrolling
    /// multiplied compile time by five (2 s -> 0.35 s for a 3-layer child's
    /// training step) for no measurable speed, since the time goes to
    /// OpenBLAS and the vectorizer already widens the loops. `--emit llvm`
    /// shows exactly what the JIT compiles.
    private func optimize(_ module: LLVMModuleRef, machine: LLVMTargetMachineRef) throws {
        let options = LLVMCreatePassBuilderOptions()
        defer { LLVMDisposePassBuilderOptions(options) }
        LLVMPassBuilderOptionsSetLoopVectorization(options, 1)
        LLVMPassBuilderOptionsSetSLPVectorization(options, 1)
        LLVMPassBuilderOptionsSetLoopUnrolling(options, 0)
        LLVMPassBuilderOptionsSetLoopInterleaving(options, 0)
        try JIT.check(LLVMRunPasses(module, pipeline, machine, options), "optimizing")
    }

    /// Parses LLVM IR text and verifies it, set up for the host target: a
    /// lowering bug becomes an error with LLVM's explanation, never an abort.
    private func parseVerified(_ text: String, in context: LLVMContextRef?, machine: LLVMTargetMachineRef) throws -> LLVMModuleRef {
        let buffer = text.withCString { LLVMCreateMemoryBufferWithMemoryRangeCopy($0, strlen($0), "nasc-kernels") }
        var module: LLVMModuleRef?
        var message: UnsafeMutablePointer<CChar>?
        guard LLVMParseIRInContext(context, buffer, &module, &message) == 0, let module else {
            defer { LLVMDisposeMessage(message) }
            throw BackendError(message: "lowering produced LLVM IR that does not parse: \(message.map { String(cString: $0) } ?? "")")
        }
        if LLVMVerifyModule(module, LLVMReturnStatusAction, &message) != 0 {
            defer { LLVMDisposeMessage(message); LLVMDisposeModule(module) }
            throw BackendError(message: "lowering produced invalid LLVM IR: \(message.map { String(cString: $0) } ?? "")")
        }
        LLVMDisposeMessage(message)
        LLVMSetTarget(module, host.triple)
        let layout = LLVMCreateTargetDataLayout(machine)
        LLVMSetModuleDataLayout(module, layout)
        LLVMDisposeTargetData(layout)
        return module
    }

    /// The module as LLVM optimizes it (for `--emit llvm`).
    public func optimizedText(_ text: String) throws -> String {
        let machine = try takeMachines(1)
        defer { returnMachines(machine) }
        let context = LLVMContextCreate()
        defer { LLVMContextDispose(context) }
        let module = try parseVerified(text, in: context, machine: machine[0])
        defer { LLVMDisposeModule(module) }
        try optimize(module, machine: machine[0])
        let printed = LLVMPrintModuleToString(module)
        defer { LLVMDisposeMessage(printed) }
        return String(cString: printed!)
    }
}
