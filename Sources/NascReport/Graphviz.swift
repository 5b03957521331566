import Foundation

/// Graphviz's `dot`, run as a process: it lays out what GraphDot writes.
public enum Graphviz {
    public struct Missing: Error, CustomStringConvertible {
        public var description: String { "Graphviz's dot is not installed: apt-get install graphviz" }
    }

    public struct Failed: Error, CustomStringConvertible {
        public var message: String
        public var description: String { "dot failed: \(message)" }
    }

    /// The dot binary, if installed.
    public static var executable: String? {
        ["/usr/bin/dot", "/usr/local/bin/dot"].first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// `text` laid out as an SVG document.
    public static func svg(_ text: String) throws -> String {
        guard let dot = executable else { throw Missing() }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: dot)
        p.arguments = ["-Tsvg"]
        let input = Pipe(), output = Pipe(), errors = Pipe()
        p.standardInput = input
        p.standardOutput = output
        p.standardError = errors
        try p.run()
        // Feed and drain at once: a large graph fills either pipe.
        let writer = Thread {
            input.fileHandleForWriting.write(Data(text.utf8))
            try? input.fileHandleForWriting.close()
        }
        writer.start()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        let message = errors.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw Failed(message: String(decoding: message, as: UTF8.self)) }
        return String(decoding: data, as: UTF8.self)
    }
}
