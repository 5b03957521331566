import Foundation

/// Runs `command` with bash in `dir`: its exit status, standard output and
/// standard error (both drained at once, so neither can fill and stall it).
public func shell(_ command: String, in dir: String) throws -> (status: Int32, out: String, err: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/bin/bash")
    p.arguments = ["-c", command]
    p.currentDirectoryURL = URL(fileURLWithPath: dir)
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    let errors = ErrorText()
    let reader = Thread { errors.data = err.fileHandleForReading.readDataToEndOfFile(); errors.done.signal() }
    reader.start()
    let o = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    errors.done.wait()
    return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: errors.data, as: UTF8.self))
}

private final class ErrorText: @unchecked Sendable {
    var data = Data()
    let done = DispatchSemaphore(value: 0)
}
