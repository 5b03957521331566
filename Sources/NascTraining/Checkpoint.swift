import Foundation
import NascData
import NascIR
import NascRuntime

/// Parameters, states and optimizer buffers in one versioned, checksummed
/// file:
///
///     "NASCCKPT"  u32 version  u32 header-length  header (JSON)  data  SHA-256
///
/// The header names every tensor with its shape and offset and records the
/// graph's structural hash and where training stopped; the data is
/// little-endian f32; the SHA-256 covers everything before it.
public struct Checkpoint: Sendable, Equatable {
    public static let magic = Array("NASCCKPT".utf8)
    public static let version: UInt32 = 1

    public var graphName: String
    public var graphHash: String
    public var epoch: Int
    public var step: Int
    public var tensors: [String: Tensor]

    public init(graphName: String, graphHash: String, epoch: Int, step: Int, tensors: [String: Tensor]) {
        self.graphName = graphName
        self.graphHash = graphHash
        self.epoch = epoch
        self.step = step
        self.tensors = tensors
    }

    /// Everything a compiled training step holds (parameters, states,
    /// optimizer buffers), keyed by the graph it was compiled from.
    public init(of step: CompiledGraph, trainedFrom graph: Graph, epoch: Int, step stepCount: Int) {
        self.init(graphName: graph.name, graphHash: StructuralHash.hash(graph), epoch: epoch, step: stepCount, tensors: step.sources())
    }

    struct Header: Codable {
        struct Entry: Codable { var name: String; var shape: [Int]; var offset: Int }
        var graph: String
        var hash: String
        var epoch: Int
        var step: Int
        var tensors: [Entry]
    }

    /// Writes the checkpoint beside `path`, then renames it over `path`:
    /// a crash, a kill or a full disk never leaves half a checkpoint, and
    /// the previous one stays readable until the new one is whole.
    public func write(to path: String) throws {
        try DurableFile.write(try encoded(), to: path, what: "the checkpoint")
    }

    /// The checkpoint's bytes, as `write` stores them (a search keeps its
    /// controller's in its trial store).
    public func encoded() throws -> Data {
        var entries: [Header.Entry] = []
        var data = Data()
        for name in tensors.keys.sorted() {
            let t = tensors[name]!
            entries.append(Header.Entry(name: name, shape: t.shape, offset: data.count))
            for v in t.data { withUnsafeBytes(of: Float(v).bitPattern.littleEndian) { data.append(contentsOf: $0) } }
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let header = try encoder.encode(Header(graph: graphName, hash: graphHash, epoch: epoch, step: step, tensors: entries))
        var file = Data(Checkpoint.magic)
        withUnsafeBytes(of: Checkpoint.version.littleEndian) { file.append(contentsOf: $0) }
        withUnsafeBytes(of: UInt32(header.count).littleEndian) { file.append(contentsOf: $0) }
        file.append(header)
        file.append(data)
        var sha = SHA256()
        sha.update([UInt8](file))
        file.append(contentsOf: sha.finalize())
        return file
    }

    public static func read(_ path: String) throws -> Checkpoint {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw DatasetError(path, FileManager.default.fileExists(atPath: path) ? "cannot read the checkpoint" : "no such checkpoint")
        }
        return try decode([UInt8](data), path: path)
    }

    /// A checkpoint from its bytes; `path` names them in errors.
    public static func decode(_ bytes: [UInt8], path: String) throws -> Checkpoint {
        guard bytes.count >= 8 + 8 + 32, Array(bytes[0..<8]) == magic else { throw DatasetError(path, "not a nasc checkpoint (bad magic)") }
        func u32(_ at: Int) -> UInt32 { UInt32(bytes[at]) | UInt32(bytes[at + 1]) << 8 | UInt32(bytes[at + 2]) << 16 | UInt32(bytes[at + 3]) << 24 }
        let version = u32(8)
        guard version == Checkpoint.version else { throw DatasetError(path, "checkpoint version \(version); this nasc reads version \(Checkpoint.version)") }
        var sha = SHA256()
        sha.update(bytes[0..<(bytes.count - 32)])
        guard sha.finalize() == Array(bytes[(bytes.count - 32)...]) else {
            throw DatasetError(path, "checksum mismatch: the checkpoint is corrupt or truncated")
        }
        let headerLength = Int(u32(12))
        guard 16 + headerLength <= bytes.count - 32 else { throw DatasetError(path, "header length \(headerLength) runs past the end") }
        let header: Header
        do { header = try JSONDecoder().decode(Header.self, from: Data(bytes[16..<(16 + headerLength)])) } catch {
            throw DatasetError(path, "unreadable header: \(error)")
        }
        let body = Array(bytes[(16 + headerLength)..<(bytes.count - 32)])
        var tensors: [String: Tensor] = [:]
        for e in header.tensors {
            // Sizes from the header are checked with overflow-safe arithmetic
            // against the data's real length before anything is allocated.
            var count = 1
            for d in e.shape {
                let (p, overflow) = count.multipliedReportingOverflow(by: d)
                guard d >= 0, !overflow else { throw DatasetError(path, "tensor '\(e.name)' has an impossible shape \(e.shape)") }
                count = p
            }
            let (bytes, o1) = count.multipliedReportingOverflow(by: 4)
            let (end, o2) = e.offset.addingReportingOverflow(bytes)
            guard e.offset >= 0, !o1, !o2, end <= body.count else {
                throw DatasetError(path, "tensor '\(e.name)' (shape \(e.shape), offset \(e.offset)) lies outside the \(body.count) bytes of data")
            }
            var values = [Double](repeating: 0, count: count)
            for i in 0..<count {
                let at = e.offset + 4 * i
                let bits = UInt32(body[at]) | UInt32(body[at + 1]) << 8 | UInt32(body[at + 2]) << 16 | UInt32(body[at + 3]) << 24
                values[i] = Double(Float(bitPattern: bits))
            }
            tensors[e.name] = Tensor(shape: e.shape, data: values)
        }
        return Checkpoint(graphName: header.graph, graphHash: header.hash, epoch: header.epoch, step: header.step, tensors: tensors)
    }

    /// Checks the checkpoint was saved from `forward` (by structural hash, so
    /// renaming values is harmless): another graph whose parameter shapes
    /// happen to match (max pool swapped for average pool) is refused unless
    /// `allowOther`.
    public func checkGraph(_ forward: Graph, path: String, allowOther: Bool) throws {
        let hash = StructuralHash.hash(forward)
        guard allowOther || graphHash == hash else {
            throw DatasetError(path, "was saved from @\(graphName) with structural hash \(graphHash.prefix(16)), but this @\(forward.name) hashes to \(hash.prefix(16)): "
                               + "another architecture, whose parameter shapes may match by chance. Pass --allow-other-graph to use the weights anyway")
        }
    }

    /// Loads the checkpoint into a compiled training step after checking it
    /// was saved for `graph` (unless `allowOtherGraph`) and holds every
    /// tensor the step reads, with its shape.
    public func load(into step: CompiledGraph, of graph: Graph, path: String, allowOtherGraph: Bool) throws {
        try checkGraph(graph, path: path, allowOther: allowOtherGraph)
        try check(against: step.graph, path: path)
        try step.setSources(tensors)
    }

    /// Checks the checkpoint holds every tensor `graph` needs with the right shape.
    public func check(against graph: Graph, path: String) throws {
        for n in graph.nodes where n.op == .param || n.op == .state {
            let shape = n.type!.bound(batch: 1)
            guard let t = tensors[n.result] else {
                throw DatasetError(path, "no tensor for '%\(n.result)' (\(n.op.name) \(n.type!)); was it saved from @\(graph.name)?")
            }
            guard t.shape == shape else {
                throw DatasetError(path, "'%\(n.result)' is \(t.shape) in the checkpoint but \(n.type!) in @\(graph.name)")
            }
        }
    }
}
