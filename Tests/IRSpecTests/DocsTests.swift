import Foundation
import XCTest

/// Docs that cannot rot: every `nasc SUBCOMMAND --flag`, `make TARGET` and
/// file path that README.md and docs/ name in code exists; every NASC_*
/// variable the code reads is in docs/environment.md, and nothing there is
/// unread; docs/cli.md is what `--help` prints (NASC_UPDATE_DOCS=1
/// rewrites it: `make docs`).
final class DocsTests: XCTestCase {
    static let root = IRSpecTests.packageRoot

    /// README.md and every page under docs/, journal included.
    static func pages() throws -> [(path: String, text: String)] {
        var out: [(path: String, text: String)] = [("README.md", try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8))]
        let docs = root.appendingPathComponent("docs")
        for case let file as String in FileManager.default.enumerator(atPath: docs.path)! where file.hasSuffix(".md") {
            out.append(("docs/\(file)", try String(contentsOf: docs.appendingPathComponent(file), encoding: .utf8)))
        }
        return out.sorted { $0.path < $1.path }
    }

    /// The text in code: fenced blocks and `inline spans`, with their line numbers.
    static func code(_ text: String) -> [(line: Int, text: String)] {
        var out: [(Int, String)] = []
        var fenced = false
        for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            if line.hasPrefix("```") { fenced.toggle(); continue }
            if fenced { out.append((n + 1, String(line))); continue }
            let spans = line.split(separator: "`", omittingEmptySubsequences: false)
            for (k, span) in spans.enumerated() where k % 2 == 1 { out.append((n + 1, String(span))) }
        }
        return out
    }

    static func matches(_ pattern: String, _ text: String) -> [[String]] {
        let regex = try! NSRegularExpression(pattern: pattern)
        return regex.matches(in: text, range: NSRange(text.startIndex..., in: text)).map { m in
            (0..<m.numberOfRanges).map { Range(m.range(at: $0), in: text).map { String(text[$0]) } ?? "" }
        }
    }

    static func help(_ arguments: [String]) throws -> String {
        let r = try MutatedSpecTests.nasc(arguments, timeout: 60, environment: ["COLUMNS": "80"])
        XCTAssertEqual(r.status, 0, "nasc \(arguments.joined(separator: " ")): \(r.output)")
        return r.output
    }

    /// The subcommands `nasc --help` lists, in its order.
    static func subcommands() throws -> [String] {
        var out: [String] = [], listing = false
        for line in try help(["--help"]).split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasSuffix("SUBCOMMANDS:") { listing = true; continue }
            if line.isEmpty || !line.hasPrefix("  ") { listing = false; continue }
            if listing, let name = line.split(separator: " ").first, !line.hasPrefix("   ") { out.append(String(name)) }
        }
        return out
    }

    func testEveryCommandAndFlagTheDocsNameExists() throws {
        let commands = try Self.subcommands()
        XCTAssertGreaterThan(commands.count, 20, "the subcommands of `nasc --help`")
        var helps: [String: String] = [:]
        var problems: [String] = []
        for (path, text) in try Self.pages() where path != "docs/cli.md" {
            for (line, code) in Self.code(text) {
                // `nasc SUB ...` where a command starts (a line, a prompt, a
                // path to the binary, after a pipe or &&), up to its end; a
                // shell comment is no command.
                let uncommented = code.components(separatedBy: " #").first!
                for m in Self.matches(#"(?:^\s*|\$ |/|\(|&& |\| |; )nasc ([a-z][a-z-]*)((?:[^|;&#\n])*)"#, uncommented) {
                    let (command, rest) = (m[1], m[2])
                    if command == "help" { continue }
                    guard commands.contains(command) else {
                        problems.append("\(path):\(line): `nasc \(command)` is no subcommand")
                        continue
                    }
                    if helps[command] == nil { helps[command] = try Self.help(["help", command]) }
                    for flag in Self.matches(#"(?:^|\s)(--[a-z][a-z0-9-]*)"#, rest).map({ $0[1] }) {
                        let known = helps[command]!.contains(flag + " ") || helps[command]!.contains(flag + "\n") || helps[command]!.contains(flag + ",")
                            || helps[command]!.contains(flag + "=") || flag == "--help"
                        if !known { problems.append("\(path):\(line): `nasc \(command)` has no \(flag)") }
                    }
                }
            }
        }
        XCTAssertEqual(problems, [], problems.joined(separator: "\n"))
    }

    func testEveryMakeTargetAndFileTheDocsNameExists() throws {
        let makefile = try String(contentsOf: Self.root.appendingPathComponent("Makefile"), encoding: .utf8)
        let targets = Set(Self.matches(#"(?m)^([a-z][a-z-]*):"#, makefile).map { $0[1] })
        var problems: [String] = []
        for (path, text) in try Self.pages() {
            for (line, code) in Self.code(text) {
                for m in Self.matches(#"(?:^|[\s$(])make ([a-z][a-z-]*)"#, code) where !targets.contains(m[1]) {
                    problems.append("\(path):\(line): `make \(m[1])` is no target of the Makefile")
                }
                // Paths into the repository, as code names them (globs and placeholders aside).
                for m in Self.matches(#"(?:^|[\s(`'"=])((?:Sources|Tests|ir-specs|docs|generated|\.ci)/[A-Za-z0-9_./-]*[A-Za-z0-9_/])"#, code)
                where !m[1].contains("*") && !m[1].contains("NAME") {
                    if !FileManager.default.fileExists(atPath: Self.root.appendingPathComponent(m[1]).path) {
                        problems.append("\(path):\(line): no file \(m[1])")
                    }
                }
            }
            // Relative links, from the page's own folder.
            let folder = (path as NSString).deletingLastPathComponent
            for m in Self.matches(#"\]\(([^)\s#]+)(?:#[^)]*)?\)"#, text) where !m[1].hasPrefix("http") {
                let target = Self.root.appendingPathComponent(folder).appendingPathComponent(m[1]).standardized.path
                if !FileManager.default.fileExists(atPath: target) { problems.append("\(path): the link \(m[1]) leads nowhere") }
            }
        }
        XCTAssertEqual(problems, [], problems.joined(separator: "\n"))
    }

    /// Every NASC_* name that sources, tests, scripts and the Makefile use
    /// is documented in docs/environment.md, and every name documented
    /// there is used.
    func testEveryEnvironmentVariableIsDocumentedAndEveryDocumentedOneIsRead() throws {
        var used = Set<String>()
        let fm = FileManager.default
        for folder in ["Sources", "Tests", ".ci"] {
            guard let files = fm.enumerator(atPath: Self.root.appendingPathComponent(folder).path) else { continue }
            for case let file as String in files where [".swift", ".sh", ".py", "run"].contains(where: file.hasSuffix) {
                let text = (try? String(contentsOf: Self.root.appendingPathComponent(folder).appendingPathComponent(file), encoding: .utf8)) ?? ""
                used.formUnion(Self.matches(#"NASC_[A-Z0-9_]*[A-Z0-9]"#, text).map { $0[0] })
            }
        }
        used.formUnion(Self.matches(#"NASC_[A-Z0-9_]*[A-Z0-9]"#, try String(contentsOf: Self.root.appendingPathComponent("Makefile"), encoding: .utf8)).map { $0[0] })
        let page = try String(contentsOf: Self.root.appendingPathComponent("docs/environment.md"), encoding: .utf8)
        let documented = Set(Self.matches(#"`(NASC_[A-Z0-9_]*[A-Z0-9])`"#, page).map { $0[1] })
        XCTAssertEqual(used.subtracting(documented).sorted(), [], "read by the code, missing from docs/environment.md")
        XCTAssertEqual(documented.subtracting(used).sorted(), [], "in docs/environment.md, read by nothing")
    }

    /// docs/cli.md is every subcommand's --help, grouped as `nasc --help`
    /// groups them: flags are documented once, in the code.
    func testTheCLIReferenceIsWhatHelpPrints() throws {
        var text = """
            # Command-line reference

            Generated from `nasc --help` and `nasc help SUBCOMMAND` by `make docs`
            (a test checks that it matches the binary). The guides in this folder
            show the commands at work.


            """
        text += "```\n" + (try Self.help(["--help"])).trimmingCharacters(in: .whitespacesAndNewlines) + "\n```\n"
        for command in try Self.subcommands() {
            text += "\n## nasc \(command)\n\n```\n" + (try Self.help(["help", command])).trimmingCharacters(in: .whitespacesAndNewlines) + "\n```\n"
        }
        let path = Self.root.appendingPathComponent("docs/cli.md").path
        if ProcessInfo.processInfo.environment["NASC_UPDATE_DOCS"] == "1" {
            try text.write(toFile: path, atomically: true, encoding: .utf8)
        }
        let committed = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        XCTAssertTrue(committed == text, "docs/cli.md is not what --help prints: run `make docs` and commit it")
    }
}
