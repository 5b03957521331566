import Foundation
import NascIR
import XCTest

/// Property: whatever bytes it is given, the front end returns a graph or
/// diagnostics, never crashes or hangs; and any graph it accepts prints,
/// re-parses to the same graph, and hashes. Inputs are the repository's own
/// IR files, mutated at random (seeded: a failure names its seed and case).
final class MutationFuzzTests: XCTestCase {
    /// Fragments that push the parser and the shape rules to their edges.
    static let fragments: [String] = Op.allCases.map(\.name) + [
        "%", "@", "{", "}", "[", "]", "(", ")", ",", ":", "=", "->", "//", "\n", "\t", "\r",
        "0", "-1", "1", "7", "2147483647", "2147483648", "9223372036854775807", "99999999999999999999",
        "1e308", "1e999", "-0.0", "1.5", ".", "e", "N", "f32", "i32", "f32[]", "f32[N]", "[N,N]",
        "true", "false", "same", "valid", "train", "infer", "stride", "pad", "axis", "window", "pads",
        "init", "scale", "value", "return", "graph", "%x", "%y", "%w1", "%h1", "%loss",
        "\u{00e9}", "\u{1F600}", "\0",
    ]

    enum Mutation: CaseIterable {
        case deleteRange, insertFragment, replaceToken, duplicateLine, swapLines, truncate, flipByte, replaceNumber
    }

    static func mutate(_ input: [UInt8], _ rng: inout SeededRandom) -> [UInt8] {
        var bytes = input
        guard !bytes.isEmpty else { return Array(fragments.randomElement(using: &rng)!.utf8) }
        let at = Int.random(in: 0..<bytes.count, using: &rng)
        switch Mutation.allCases.randomElement(using: &rng)! {
        case .deleteRange:
            let n = Int.random(in: 1...16, using: &rng)
            bytes.removeSubrange(at..<min(bytes.count, at + n))
        case .insertFragment:
            bytes.insert(contentsOf: Array(fragments.randomElement(using: &rng)!.utf8), at: at)
        case .replaceToken:
            // Replace the word under `at` with a fragment.
            var start = at, end = at
            while start > 0, isWordByte(bytes[start - 1]) { start -= 1 }
            while end < bytes.count, isWordByte(bytes[end]) { end += 1 }
            bytes.replaceSubrange(start..<max(end, start + 1 > bytes.count ? bytes.count : start + 1),
                                  with: Array(fragments.randomElement(using: &rng)!.utf8))
        case .duplicateLine, .swapLines:
            var lines = bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).map(Array.init)
            let i = Int.random(in: 0..<lines.count, using: &rng), j = Int.random(in: 0..<lines.count, using: &rng)
            if Mutation.allCases.randomElement(using: &rng)! == .duplicateLine {
                lines.insert(lines[i], at: j)
            } else {
                lines.swapAt(i, j)
            }
            bytes = Array(lines.joined(separator: [UInt8(ascii: "\n")]))
        case .truncate:
            bytes.removeSubrange(at...)
        case .flipByte:
            bytes[at] ^= UInt8(truncatingIfNeeded: 1 << Int.random(in: 0..<8, using: &rng))
        case .replaceNumber:
            // Swap some digit run for an extreme or small number: reaches the shape rules.
            guard let s = bytes[at...].firstIndex(where: { $0 >= 0x30 && $0 <= 0x39 }) else { break }
            var e = s
            while e < bytes.count, bytes[e] >= 0x30, bytes[e] <= 0x39 { e += 1 }
            let numbers = ["0", "1", "2", "3", "5", "7", "64", "100000", "2147483647", "46341", "4294967296"]
            bytes.replaceSubrange(s..<e, with: Array(numbers.randomElement(using: &rng)!.utf8))
        }
        return bytes
    }

    static func isWordByte(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x5F
    }

    func testMutatedFilesNeverCrashTheFrontEnd() throws {
        let seed: UInt64 = UInt64(ProcessInfo.processInfo.environment["NASC_FUZZ_SEED"] ?? "") ?? 20261129
        let cases = Int(ProcessInfo.processInfo.environment["NASC_FUZZ_CASES"] ?? "") ?? 6000
        let corpus = Fixtures.irFiles().map(\.bytes)
        XCTAssertGreaterThan(corpus.count, 30)
        var rng = SeededRandom(seed: seed)
        var accepted = 0, rejected = 0
        var messages: [String: Int] = [:]
        let start = Date()
        for k in 0..<cases {
            var bytes = corpus.randomElement(using: &rng)!
            for _ in 0..<Int.random(in: 1...3, using: &rng) { bytes = Self.mutate(bytes, &rng) }
            do {
                let graph = try Verifier.parseAndVerify(bytes)
                accepted += 1
                // Accepted graphs must print, re-parse identically, and hash.
                let text = Printer.print(graph.sorted())
                guard let again = try? Verifier.parseAndVerify(Array(text.utf8)) else {
                    XCTFail("seed \(seed) case \(k): printed graph does not verify:\n\(text)")
                    continue
                }
                XCTAssertEqual(Printer.print(again), text, "seed \(seed) case \(k)")
                XCTAssertEqual(StructuralHash.hash(again), StructuralHash.hash(graph), "seed \(seed) case \(k)")
            } catch {
                rejected += 1
                for d in error.diagnostics {
                    XCTAssertGreaterThan(d.loc.line, 0, "seed \(seed) case \(k): error without a location: \(d.message)")
                    XCTAssertFalse(d.message.isEmpty)
                    // Rendering must work on any input, even cut mid-character.
                    _ = d.render(file: "fuzz.nasir", source: SourceText(bytes))
                }
                let kind = error.diagnostics[0].message.prefix(while: { $0 != "'" && $0 != ":" })
                messages[String(kind), default: 0] += 1
            }
        }
        let seconds = Date().timeIntervalSince(start)
        print("fuzz: \(cases) mutated files (seed \(seed)) in \(String(format: "%.1f", seconds)) s: "
              + "\(accepted) verified graphs, \(rejected) rejected with \(messages.count) kinds of error")
        XCTAssertGreaterThan(accepted, cases / 50, "mutations should still produce some valid graphs")
        XCTAssertGreaterThan(messages.count, 20, "mutations should reach many different checks")
    }
}
