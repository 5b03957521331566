import CLLVM
import Foundation

public struct JITError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// Code one `JIT.compile` produced; freed (its resource tracker removed from
/// the JIT) when the last kernel or graph using it lets go.
public final class CompiledModule: @unchecked Sendable {
    fileprivate let tracker: LLVMOrcResourceTrackerRef
    public let symbols: [String: UnsafeRawPointer]

    fileprivate init(tracker: LLVMOrcResourceTrackerRef, symbols: [String: UnsafeRawPointer]) {
        self.tracker = tracker
        self.symbols = symbols
    }

    deinit {
        if let error = LLVMOrcResourceTrackerRemove(tracker) { LLVMConsumeError(error) }
        LLVMOrcReleaseResourceTracker(tracker)
    }
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
    public static let shared: Result<JIT, JITError> = {
        do { return .success(try JIT()) } catch let e as JITError { return .failure(e) } catch { return .failure(JITError(message: "\(error)")) }
    }()

    /// The process's JIT, or the reason it could not start.
    public static func get() throws -> JIT { try shared.get() }

    let jit: LLVMOrcLLJITRef
    /// Target machines for the optimization pipeline (the JIT owns its own).
    /// Compiling two modules on two threads at once crashed inside LLVM 14
    /// (tried: a target machine per thread), so compiles are serial.
    let passMachines: [LLVMTargetMachineRef]
    var passMachine: LLVMTargetMachineRef { passMachines[0] }
    public static let compileThreads = 1
    public let host: HostTarget
    private let lock = NSLock()

    /// The optimization pipeline (LLVM's new pass manager syntax).
    public var pipeline = ProcessInfo.processInfo.environment["NASC_LLVM_PIPELINE"] ?? "default<O2>"

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
        func machine() throws -> LLVMTargetMachineRef {
            var target: LLVMTargetRef?
            var message: UnsafeMutablePointer<CChar>?
            guard LLVMGetTargetFromTriple(host.triple, &target, &message) == 0, let target else {
                defer { LLVMDisposeMessage(message) }
                throw JITError(message: "LLVM has no target for \(host.triple): \(message.map { String(cString: $0) } ?? "")")
            }
            let level = ProcessInfo.processInfo.environment["NASC_CODEGEN_LEVEL"].flatMap(UInt32.init).map { LLVMCodeGenOptLevel(rawValue: $0) }
                ?? LLVMCodeGenLevelAggressive
            guard let tm = LLVMCreateTargetMachine(target, host.triple, host.cpu, host.features,
                                                   level, LLVMRelocPIC, LLVMCodeModelJITDefault) else {
                throw JITError(message: "cannot create a target machine for \(host.cpu)")
            }
            return tm
        }
        passMachines = try (0..<JIT.compileThreads).map { _ in try machine() }
        let builder = LLVMOrcCreateLLJITBuilder()
        LLVMOrcLLJITBuilderSetJITTargetMachineBuilder(builder, LLVMOrcJITTargetMachineBuilderCreateFromTargetMachine(try machine()))
        var jit: LLVMOrcLLJITRef?
        try JIT.check(LLVMOrcCreateLLJIT(&jit, builder), "creating the JIT")
        self.jit = jit!
        var generator: LLVMOrcDefinitionGeneratorRef?
        try JIT.check(LLVMOrcCreateDynamicLibrarySearchGeneratorForProcess(&generator, LLVMOrcLLJITGetGlobalPrefix(jit), nil, nil),
                      "searching the process's symbols")
        LLVMOrcJITDylibAddGenerator(LLVMOrcLLJITGetMainJITDylib(jit), generator)
    }

    static func check(_ error: LLVMErrorRef?, _ what: String) throws {
        guard let error else { return }
        let message = LLVMGetErrorMessage(error)
        defer { LLVMDisposeErrorMessage(message) }
        throw JITError(message: "LLVM error \(what): \(message.map { String(cString: $0) } ?? "unknown")")
    }

    /// Parses, verifies, optimizes (O2) and compiles a module of LLVM IR text,
    /// and returns the addresses of `functions`. A module that does not verify
    /// is an error with LLVM's explanation, never a crash.
    public func compile(_ text: String, functions: [String], times: inout CompileTimes, thread: Int = 0) throws -> CompiledModule {
        let passMachine = passMachines[thread % passMachines.count]
        lock.lock()
        defer { lock.unlock() }
        var clock = Date()
        func lap() -> Double { let now = Date(); defer { clock = now }; return now.timeIntervalSince(clock) }

        let tsContext = LLVMOrcCreateNewThreadSafeContext()
        defer { LLVMOrcDisposeThreadSafeContext(tsContext) }
        let module = try parseVerified(text, in: LLVMOrcThreadSafeContextGetContext(tsContext), machine: passMachine)
        times.parse += lap()

        let options = LLVMCreatePassBuilderOptions()
        defer { LLVMDisposePassBuilderOptions(options) }
        let env = ProcessInfo.processInfo.environment
        LLVMPassBuilderOptionsSetLoopVectorization(options, env["NASC_NO_VEC"] == nil ? 1 : 0)
        LLVMPassBuilderOptionsSetSLPVectorization(options, env["NASC_NO_SLP"] == nil ? 1 : 0)
        // Unrolling multiplies compile time by five (2 s -> 0.35 s for a
        // 3-layer child's training step) for no measurable speed: the time
        // goes to OpenBLAS, and the vectorizer already widens the loops.
        LLVMPassBuilderOptionsSetLoopUnrolling(options, env["NASC_UNROLL"] == nil ? 0 : 1)
        LLVMPassBuilderOptionsSetLoopInterleaving(options, env["NASC_UNROLL"] == nil ? 0 : 1)
        try JIT.check(LLVMRunPasses(module, pipeline, passMachine, options), "optimizing")
        times.optimize += lap()

        let tracker = LLVMOrcJITDylibCreateResourceTracker(LLVMOrcLLJITGetMainJITDylib(jit))!
        try JIT.check(LLVMOrcLLJITAddLLVMIRModuleWithRT(jit, tracker, LLVMOrcCreateNewThreadSafeModule(module, tsContext)), "adding the module")
        var symbols: [String: UnsafeRawPointer] = [:]
        for name in functions {
            var address: LLVMOrcExecutorAddress = 0
            try JIT.check(LLVMOrcLLJITLookup(jit, &address, name), "compiling \(name)")
            symbols[name] = UnsafeRawPointer(bitPattern: UInt(address))
        }
        times.codegen += lap()
        return CompiledModule(tracker: tracker, symbols: symbols)
    }

    /// Parses LLVM IR text and verifies it, set up for the host target: a
    /// lowering bug becomes an error with LLVM's explanation, never an abort.
    private func parseVerified(_ text: String, in context: LLVMContextRef?, machine: LLVMTargetMachineRef) throws -> LLVMModuleRef {
        let buffer = text.withCString { LLVMCreateMemoryBufferWithMemoryRangeCopy($0, strlen($0), "nasc-kernels") }
        var module: LLVMModuleRef?
        var message: UnsafeMutablePointer<CChar>?
        guard LLVMParseIRInContext(context, buffer, &module, &message) == 0, let module else {
            defer { LLVMDisposeMessage(message) }
            throw JITError(message: "lowering produced LLVM IR that does not parse: \(message.map { String(cString: $0) } ?? "")")
        }
        if LLVMVerifyModule(module, LLVMReturnStatusAction, &message) != 0 {
            defer { LLVMDisposeMessage(message); LLVMDisposeModule(module) }
            throw JITError(message: "lowering produced invalid LLVM IR: \(message.map { String(cString: $0) } ?? "")")
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
        lock.lock()
        defer { lock.unlock() }
        let context = LLVMContextCreate()
        defer { LLVMContextDispose(context) }
        let module = try parseVerified(text, in: context, machine: passMachine)
        defer { LLVMDisposeModule(module) }
        let options = LLVMCreatePassBuilderOptions()
        defer { LLVMDisposePassBuilderOptions(options) }
        try JIT.check(LLVMRunPasses(module, pipeline, passMachine, options), "optimizing")
        let printed = LLVMPrintModuleToString(module)
        defer { LLVMDisposeMessage(printed) }
        return String(cString: printed!)
    }
}
