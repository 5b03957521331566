import NascIR

/// The IDX format of MNIST and Fashion-MNIST: a magic number (0x0000 0803
/// for images, 0x0000 0801 for labels), big-endian dimension sizes, then
/// unsigned bytes. Files may be gzip-compressed.
public enum IDX {
    /// Reads an IDX file of unsigned bytes with `rank` dimensions. The
    /// header is checked before the data is read (or inflated): sizes are
    /// multiplied with overflow checks, against the memory limit.
    public static func read(_ path: String, rank: Int) throws -> (dims: [Int], bytes: [UInt8]) {
        let headerLength = 4 + 4 * rank
        var dims: [Int] = []
        let data = try FileBytes.read(path, headerLength: headerLength) { header in
            dims = try parseHeader(header, rank: rank, path: path)
            return headerLength + dims.reduce(1, *)   // parseHeader checked the product
        }
        if dims.isEmpty { dims = try parseHeader(data, rank: rank, path: path) }
        let count = dims.reduce(1, *)
        let body = data.count - headerLength
        guard body == count else {
            throw DatasetError(path, body < count ? "truncated: the header promises \(count) bytes of data, the file has \(body)"
                                                  : "\(body - count) bytes of data beyond what the header declares")
        }
        return (dims, Array(data[headerLength...]))
    }

    /// The dimensions a header declares, refused when their product
    /// overflows or exceeds what memory can hold.
    static func parseHeader(_ data: [UInt8], rank: Int, path: String) throws -> [Int] {
        guard data.count >= 4 + 4 * rank else { throw DatasetError(path, "too short for an IDX header (\(data.count) bytes)") }
        let expected: UInt8 = rank == 3 ? 0x03 : 0x01
        guard data[0] == 0, data[1] == 0, data[2] == 0x08, data[3] == UInt8(rank) else {
            let magic = data[0..<4].map { String(format2($0)) }.joined()
            throw DatasetError(path, "wrong magic number 0x\(magic): expected 0x000008\(String(format2(expected))) (IDX unsigned bytes, \(rank) dimension\(rank == 1 ? "" : "s"))")
        }
        var dims: [Int] = []
        for d in 0..<rank {
            let at = 4 + 4 * d
            dims.append(Int(data[at]) << 24 | Int(data[at + 1]) << 16 | Int(data[at + 2]) << 8 | Int(data[at + 3]))
        }
        var count = 1
        for d in dims {
            let (p, overflow) = count.multipliedReportingOverflow(by: d)
            guard !overflow else { throw DatasetError(path, "header declares dimensions \(dims), more bytes than can be counted") }
            count = p
        }
        // Pixels become 4-byte floats: the data must fit in memory that way.
        do {
            try MemoryLimit.check(count.multipliedReportingOverflow(by: 5).overflow ? nil : count * 5,
                                  for: "\(path): data of dimensions \(dims)", advice: "is the header right?")
        } catch { throw DatasetError(path, "header declares dimensions \(dims): \(error.message)") }
        return dims
    }

    private static func format2(_ b: UInt8) -> String {
        let s = String(b, radix: 16)
        return s.count == 1 ? "0" + s : s
    }

    /// Images and labels of one split, as a dataset (pixels scaled to [0, 1]).
    public static func load(images: String, labels: String, classes: Int = 10) throws -> ImageDataset {
        let (dims, pixels) = try read(images, rank: 3)
        guard dims[0] > 0 else { throw DatasetError(images, "holds no images (the header's count is 0)") }
        guard dims[1] > 0, dims[2] > 0 else { throw DatasetError(images, "images of \(dims[1])x\(dims[2]) pixels hold nothing") }
        let (labelDims, labelBytes) = try read(labels, rank: 1)
        guard dims[0] == labelDims[0] else {
            throw DatasetError(labels, "\(labelDims[0]) labels for \(dims[0]) images in \(images)")
        }
        if let bad = labelBytes.firstIndex(where: { Int($0) >= classes }) {
            throw DatasetError(labels, "label \(labelBytes[bad]) at position \(bad) is not a class (0..<\(classes))")
        }
        return ImageDataset(channels: 1, height: dims[1], width: dims[2], classes: classes,
                            pixels: pixels.map { Float($0) / 255 }, labels: labelBytes.map { Int32($0) }, origin: images)
    }
}
