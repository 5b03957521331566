import Foundation

// Built by `make fuzz` (-sanitize=fuzzer,address -DNASC_LIBFUZZER), this is
// a libFuzzer binary running the target NASC_FUZZ_TARGET names. In a normal
// build it replays inputs through a target (to reproduce a crash without
// instrumentation) and writes the seed inputs.
#if NASC_LIBFUZZER
typealias FuzzCallback = @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt

@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                         _ callback: FuzzCallback) -> CInt

/// SwiftPM links an executable's entry point under this name; libFuzzer's
/// driver takes over from it.
@_cdecl("nasc_fuzz_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    FuzzTargets.limitMemory()
    var count = argc
    var vector = argv
    return LLVMFuzzerRunDriver(&count, &vector, fuzzTestOneInput)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let name = ProcessInfo.processInfo.environment["NASC_FUZZ_TARGET"] ?? ""
    guard let target = FuzzTargets.target(name) else {
        fatalError("set NASC_FUZZ_TARGET to one of \(FuzzTargets.names.joined(separator: ", "))")
    }
    target(data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? [])
    return 0
}
#else
@main
struct FuzzReplay {
    static func main() throws {
        let arguments = Array(CommandLine.arguments.dropFirst())
        if arguments.first == "seeds", arguments.count == 2 {
            for (target, files) in FuzzTargets.seeds() {
                try FileManager.default.createDirectory(atPath: "\(arguments[1])/\(target)", withIntermediateDirectories: true)
                for (name, bytes) in files { try Data(bytes).write(to: URL(fileURLWithPath: "\(arguments[1])/\(target)/\(name)")) }
            }
        } else if let name = arguments.first, let target = FuzzTargets.target(name), arguments.count >= 2 {
            FuzzTargets.limitMemory()
            for path in arguments.dropFirst() {
                guard let data = FileManager.default.contents(atPath: path) else { fatalError("cannot read \(path)") }
                target([UInt8](data))
                print("\(path): ok")
            }
        } else {
            FileHandle.standardError.write(Data("""
                usage: nasc-fuzz TARGET FILE...   replay inputs through a fuzz target (\(FuzzTargets.names.joined(separator: ", ")))
                       nasc-fuzz seeds DIR        write seed inputs for the targets that do not read IR
                (make fuzz builds the libFuzzer binary)

                """.utf8))
            exit(2)
        }
    }
}
#endif
