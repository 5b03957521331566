import Foundation
import NascIR
import XCTest

final class SHA256Tests: XCTestCase {
    /// Test vectors from FIPS 180-4's examples and the NIST CAVP short messages.
    func testKnownVectors() {
        XCTAssertEqual(SHA256.hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(SHA256.hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(SHA256.hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
                       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        XCTAssertEqual(SHA256.hex(String(repeating: "a", count: 1000)),
                       "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3")
    }

    func testIncrementalUpdateMatchesOneShot() {
        var h = SHA256()
        h.update("abcdbcdecdefdefgefghfghighij")
        h.update("hijkijkljklmklmnlmnomnopnopq")
        let hex = h.finalize().map { String(format: "%02x", $0) }.joined()
        XCTAssertEqual(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
    }

    /// Messages of lengths either side of the padding and block boundaries
    /// (55/56 bytes: whether the length fits the last block), hashed in one
    /// piece and split at every position, as bytes and through a
    /// non-contiguous sequence. Digests from Python's hashlib.
    func testBlockBoundariesAndSplits() {
        let expected: [Int: String] = [
            55: "e7313d333c272e639f790978283f9eb392e843d0f29b7016828bb1daa4aac70b",
            56: "4324d65f3c103567f5589c710bc08f8523f929a9272e3af36fc968e52abc6c27",
            63: "81c80242132f230c3bd41b3e63bbcff16107339549214a99614ff26664625055",
            64: "39e3d7b6b5d075d37d053ad89b24b41bef4f3c29760c84447cab3f3be1882241",
            65: "aacca6ff74fdbb296d165a45cecfa04e5127bc008770fbbdd48006f2d2fae95e",
            119: "9ce7368e4daf32341631b492e80359dc9f594b48453cd0dd5bf0b19279cc177e",
            120: "7836b787757e95e58b3ca5aec90b1b004e8deba1e50e9675af9cabf1a13a04b5",
            200: "2c7e18c942ef065b526a2d4e5546283749cd3ddfb51d8fc71f42717363685f46",
        ]
        func hex(_ digest: [UInt8]) -> String { digest.map { String(format: "%02x", $0) }.joined() }
        for (n, digest) in expected {
            let message = (0..<n).map { UInt8(($0 * 7 + 3) % 256) }
            var whole = SHA256()
            whole.update(message)
            XCTAssertEqual(hex(whole.finalize()), digest, "\(n) bytes in one piece")
            for cut in 0...n {
                var split = SHA256()
                split.update(message[..<cut])
                split.update(message[cut...].lazy.map { $0 })  // not contiguous: the fallback path
                XCTAssertEqual(hex(split.finalize()), digest, "\(n) bytes cut at \(cut)")
            }
        }
    }
}
