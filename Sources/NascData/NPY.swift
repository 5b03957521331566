import Foundation

/// NumPy's .npy format for float32 arrays (a magic string, a Python-dict
/// header padded to 64 bytes, then the raw little-endian values): how nasc
/// hands arrays (logits, the images a network saw) to Python checks and
/// users, readable with `numpy.load`.
public enum NPY {
    public static func float32(_ values: [Float], shape: [Int]) -> Data {
        precondition(shape.reduce(1, *) == values.count, "shape \(shape) does not hold \(values.count) values")
        let dims = shape.count == 1 ? "\(shape[0])," : shape.map(String.init).joined(separator: ", ")
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': (\(dims)), }"
        while (10 + header.utf8.count + 1) % 64 != 0 { header += " " }
        header += "\n"
        var out = Data([0x93] + Array("NUMPY".utf8) + [1, 0])
        withUnsafeBytes(of: UInt16(header.utf8.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(contentsOf: Array(header.utf8))
        values.map(\.bitPattern.littleEndian).withUnsafeBytes { out.append(contentsOf: $0) }
        return out
    }
}
