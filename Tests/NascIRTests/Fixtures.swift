import Foundation
import NascIR

/// Access to the repository's IR files and a small seeded random generator,
/// so every randomized test is reproducible from its seed.
enum Fixtures {
    static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Every .nasir file under ir-specs/, as (relative path, bytes).
    static func irFiles() -> [(path: String, bytes: [UInt8])] {
        let root = packageRoot.appendingPathComponent("ir-specs")
        let walker = FileManager.default.enumerator(atPath: root.path)
        var files: [(String, [UInt8])] = []
        while let path = walker?.nextObject() as? String {
            guard path.hasSuffix(".nasir"),
                  let data = FileManager.default.contents(atPath: root.appendingPathComponent(path).path) else { continue }
            files.append(("ir-specs/" + path, Array(data)))
        }
        return files.sorted { $0.0 < $1.0 }
    }

    /// The files that verify (round-trip, reference models, positive specs).
    static func validGraphs() -> [(path: String, graph: Graph)] {
        irFiles().compactMap { file in
            (try? Verifier.parseAndVerify(file.bytes)).map { (file.path, $0) }
        }
    }

    static func model(_ name: String) throws -> Graph {
        let url = packageRoot.appendingPathComponent("ir-specs/models/\(name).nasir")
        return try Verifier.parseAndVerify(Array(try Data(contentsOf: url)))
    }
}

/// SplitMix64: tiny, fast, and the same sequence on every machine.
struct SeededRandom: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
