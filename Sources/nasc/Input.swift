import ArgumentParser
import Foundation
import NascData
import NascIR
import NascSearch
import NascTraining

/// Reading IR files for commands: `-` means standard input. Errors are printed
/// compiler-style to standard error and end the command with exit code 1.
enum IRInput {
    /// IR files larger than this are refused before they are read.
    static let maxBytes = 256 << 20

    static func read(_ path: String) throws -> (bytes: [UInt8], name: String) {
        if path == "-" {
            return (Array(FileHandle.standardInput.readDataToEndOfFile()), "<stdin>")
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw CommandError("\(path): error: no such file")
        }
        guard !isDirectory.boolValue else { throw CommandError("\(path): error: is a directory, expected a .nasir file") }
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        guard size <= maxBytes else {
            throw CommandError("\(path): error: is \(MemoryLimit.human(size)), more than any IR file nasc reads (\(MemoryLimit.human(maxBytes)))")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CommandError("\(path): error: cannot read the file")
        }
        return (Array(data), path)
    }

    /// Parses and verifies `path`, or prints its diagnostics and fails.
    static func load(_ path: String) throws -> Graph { try loadWithText(path).graph }

    /// `load`, with the text the graph was parsed from (one read of the file).
    static func loadWithText(_ path: String) throws -> (graph: Graph, text: String) {
        let (bytes, name) = try read(path)
        do {
            return (try Verifier.parseAndVerify(bytes), String(decoding: bytes, as: UTF8.self))
        } catch {
            throw CommandError(error.render(file: name, source: SourceText(bytes)))
        }
    }
}

/// Refuses, before any work is done, an output path nasc could not write
/// at the end of it (a missing or read-only folder, a directory in its place).
/// Whether `path` names an existing folder (commands that take files or a run folder).
func isFolder(_ path: String) -> Bool {
    var isDirectory: ObjCBool = false
    return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
}

func checkWritable(_ path: String, flag: String) throws {
    var isDirectory: ObjCBool = false
    if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
        throw CommandError("\(path): error: \(flag) names a directory; give a file path")
    }
    let folder = (path as NSString).deletingLastPathComponent
    let dir = folder.isEmpty ? "." : folder
    guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDirectory), isDirectory.boolValue else {
        throw CommandError("\(path): error: \(flag): no folder '\(dir)' to write it in")
    }
    guard FileManager.default.isWritableFile(atPath: dir) else { throw CommandError("\(path): error: \(flag): the folder '\(dir)' is not writable") }
}

/// A failure already worded for the user: printed to standard error as is, exit code 1.
struct CommandError: Error, CustomStringConvertible {
    let message: String
    init(_ message: String) { self.message = message }
    var description: String { message }
}

extension ParsableArguments {
    /// Runs `body`, turning a `CommandError` into its message on standard error and exit code 1.
    /// A command stopped by SIGINT or SIGTERM (see `Interruption`) says so,
    /// with `whenStopped`'s word on how to continue, and exits 130 or 143.
    func reportingErrors(whenStopped: () -> String = { "" }, _ body: () throws -> Void) throws {
        do {
            try body()
        } catch let stop as Interrupted {
            let hint = stop.continuation.isEmpty ? whenStopped() : stop.continuation
            FileHandle.standardError.write(Data("nasc: \(stop)\(hint.isEmpty ? "" : "; " + hint)\n".utf8))
            throw ExitCode(stop.exitStatus)
        } catch let error as CommandError {
            FileHandle.standardError.write(Data((error.message + "\n").utf8))
            throw ExitCode.failure
        } catch let error as DatasetError {
            FileHandle.standardError.write(Data((error.description + "\n").utf8))
            throw ExitCode.failure
        } catch let error as SearchError where error.file != nil {
            FileHandle.standardError.write(Data((error.description + "\n").utf8))
            throw ExitCode.failure
        } catch let error as ExitCode {
            throw error
        } catch {
            // Every other failure is still a message and status 1, never a trap.
            FileHandle.standardError.write(Data(("error: \(error)\n").utf8))
            throw ExitCode.failure
        }
    }
}
