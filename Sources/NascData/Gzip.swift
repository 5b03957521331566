import CZlib
import Foundation
import NascIR

/// Reads a file, inflating it if it is gzip-compressed (by its magic bytes,
/// not its name). `expectedSize`, given the first `headerLength` bytes of the
/// (inflated) content, returns the whole content's size as the header
/// declares it, or throws if the header is bad: inflating stops as soon as
/// the content outgrows that size, so a small file that inflates to
/// gigabytes costs no more memory than its header admits. Without a header
/// rule the content is capped by the memory limit.
enum FileBytes {
    static func read(_ path: String, headerLength: Int = 0,
                     expectedSize: (([UInt8]) throws -> Int)? = nil) throws -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw DatasetError(path, FileManager.default.fileExists(atPath: path) ? "cannot read the file" : "no such file")
        }
        let bytes = [UInt8](data)
        guard bytes.count >= 2, bytes[0] == 0x1F, bytes[1] == 0x8B else { return bytes }
        return try gunzip(bytes, path, headerLength: headerLength, expectedSize: expectedSize)
    }

    static func gunzip(_ input: [UInt8], _ path: String, headerLength: Int = 0,
                       expectedSize: (([UInt8]) throws -> Int)? = nil) throws -> [UInt8] {
        var stream = z_stream()
        guard inflateInit2_(&stream, 16 + MAX_WBITS, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw DatasetError(path, "cannot start gzip decompression")
        }
        defer { inflateEnd(&stream) }
        let memoryCap = MemoryLimit.bytes / 4
        var limit: Int? = expectedSize == nil ? memoryCap : nil
        var output = [UInt8]()
        output.reserveCapacity(min(input.count * 4, memoryCap))
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        var status: Int32 = Z_OK
        var thrown: Error? = nil
        input.withUnsafeBufferPointer { inPtr in
            stream.next_in = UnsafeMutablePointer(mutating: inPtr.baseAddress)
            stream.avail_in = uInt(inPtr.count)
            repeat {
                chunk.withUnsafeMutableBufferPointer { outPtr in
                    stream.next_out = outPtr.baseAddress
                    stream.avail_out = uInt(outPtr.count)
                    status = inflate(&stream, Z_NO_FLUSH)
                    output.append(contentsOf: outPtr[0..<(outPtr.count - Int(stream.avail_out))])
                }
                do {
                    if limit == nil, output.count >= headerLength, let expectedSize {
                        limit = try expectedSize(Array(output.prefix(headerLength)))
                    }
                    if let limit, output.count > limit {
                        throw DatasetError(path, expectedSize == nil
                            ? "inflates to more than \(MemoryLimit.human(limit)) (a quarter of the memory limit); is it the right file?"
                            : "inflates to more than the \(limit) bytes its header declares")
                    }
                } catch {
                    thrown = error
                    return
                }
            } while status == Z_OK
        }
        if let thrown { throw thrown }
        guard status == Z_STREAM_END else {
            throw DatasetError(path, status == Z_BUF_ERROR ? "the gzip stream is truncated" : "the gzip data is corrupt (zlib error \(status))")
        }
        if limit == nil, let expectedSize { _ = try expectedSize(output) }  // shorter than a header: let the rule say so
        return output
    }
}
