import Foundation

/// Writes the safetensors format (an 8-byte little-endian header length, a
/// JSON header of names, dtypes, shapes and byte ranges, then the raw
/// little-endian data): what PyTorch users load weights from without
/// unpickling anything, readable with `safetensors.torch.load_file` or the
/// few lines of plain Python that export-pytorch writes beside the module.
public struct SafeTensors {
    public enum Values {
        case f32([Float])
        case i64([Int64])
    }

    private var entries: [(name: String, shape: [Int], values: Values)] = []
    public var metadata: [String: String] = [:]

    public init() {}

    public mutating func add(_ name: String, shape: [Int], _ values: Values) {
        entries.append((name, shape, values))
    }

    public func serialized() throws -> Data {
        var header: [String: Any] = [:]
        var body = Data()
        for e in entries {
            let start = body.count
            let dtype: String
            switch e.values {
            case .f32(let v):
                dtype = "F32"
                v.map(\.bitPattern.littleEndian).withUnsafeBytes { body.append(contentsOf: $0) }
            case .i64(let v):
                dtype = "I64"
                v.map(\.littleEndian).withUnsafeBytes { body.append(contentsOf: $0) }
            }
            header[e.name] = ["dtype": dtype, "shape": e.shape, "data_offsets": [start, body.count]] as [String: Any]
        }
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        // The data starts 8-byte aligned, as the format recommends.
        while (8 + json.count) % 8 != 0 { json.append(UInt8(ascii: " ")) }
        var out = Data()
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(json)
        out.append(body)
        return out
    }
}
