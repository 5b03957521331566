import Foundation
import NascData
import XCTest

/// The loaders on small files written here in the exact official formats,
/// and every way a file can be wrong.
final class LoaderTests: XCTestCase {
    var dir = ""

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "nasc-data-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    func write(_ name: String, _ bytes: [UInt8]) -> String {
        let path = "\(dir)/\(name)"
        FileManager.default.createFile(atPath: path, contents: Data(bytes))
        return path
    }

    func be32(_ v: Int) -> [UInt8] { [UInt8(v >> 24 & 255), UInt8(v >> 16 & 255), UInt8(v >> 8 & 255), UInt8(v & 255)] }

    func idxImages(_ n: Int, _ h: Int, _ w: Int) -> [UInt8] {
        [0, 0, 8, 3] + be32(n) + be32(h) + be32(w) + (0..<(n * h * w)).map { UInt8($0 % 256) }
    }

    func idxLabels(_ labels: [UInt8]) -> [UInt8] { [0, 0, 8, 1] + be32(labels.count) + labels }

    func gzip(_ path: String) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/gzip")
        p.arguments = ["-kf", path]
        try p.run()
        p.waitUntilExit()
        return path + ".gz"
    }

    func assertError(_ body: @autoclosure () throws -> Any, _ fragment: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try body(), file: file, line: line) { error in
            XCTAssertTrue("\(error)".contains(fragment), "\(error) does not mention '\(fragment)'", file: file, line: line)
        }
    }

    func testIDXRawAndGzip() throws {
        let images = write("img", idxImages(3, 2, 2)), labels = write("lab", idxLabels([1, 0, 9]))
        let d = try IDX.load(images: images, labels: labels)
        XCTAssertEqual(d.count, 3)
        XCTAssertEqual(d.labels, [1, 0, 9])
        XCTAssertEqual(d.pixels[5], 5 / 255)
        let z = try IDX.load(images: try gzip(images), labels: try gzip(labels))
        XCTAssertEqual(z.pixels, d.pixels)
        XCTAssertEqual(z.labels, d.labels)
    }

    func testIDXErrorsNameTheFileAndTheProblem() throws {
        let good = write("img", idxImages(3, 2, 2))
        var badMagic = idxImages(3, 2, 2); badMagic[3] = 1
        assertError(try IDX.load(images: write("magic", badMagic), labels: write("l", idxLabels([0, 0, 0]))),
                    "magic: error: wrong magic number 0x00000801: expected 0x00000803")
        assertError(try IDX.load(images: good, labels: write("l2", idxLabels([0, 0]))), "l2: error: 2 labels for 3 images")
        assertError(try IDX.load(images: write("short", Array(idxImages(3, 2, 2).dropLast(2))), labels: write("l3", idxLabels([0, 0, 0]))),
                    "short: error: truncated: the header promises 12 bytes of data, the file has 10")
        assertError(try IDX.load(images: good, labels: write("l4", idxLabels([0, 12, 0]))), "l4: error: label 12 at position 1 is not a class")
        assertError(try IDX.load(images: "\(dir)/missing", labels: good), "missing: error: no such file")
        let gz = try gzip(good)
        let bytes = [UInt8](FileManager.default.contents(atPath: gz)!)
        assertError(try IDX.load(images: write("cut.gz", Array(bytes.prefix(bytes.count / 2))), labels: write("l5", idxLabels([0, 0, 0]))),
                    "cut.gz: error: the gzip stream is truncated")
    }

    func cifarRecords(_ labels: [UInt8]) -> [UInt8] {
        labels.flatMap { l in [l] + (0..<3072).map { UInt8(($0 / 1024) * 100 + Int(l)) } }
    }

    func testCIFAR10BinaryBatches() throws {
        for i in 1...5 { _ = write("data_batch_\(i).bin", cifarRecords([UInt8(i), 0])) }
        _ = write("test_batch.bin", cifarRecords([7]))
        let train = try CIFAR10.load(directory: dir), test = try CIFAR10.load(directory: dir, test: true)
        XCTAssertEqual(train.count, 10)
        XCTAssertEqual(train.labels, [1, 0, 2, 0, 3, 0, 4, 0, 5, 0])
        XCTAssertEqual(test.labels, [7])
        // Record 0 of batch 1: red plane bytes are 1, green 101, blue 201; normalized per channel.
        XCTAssertEqual(train.pixels[0], (1 / 255 - 0.4914) / 0.2470, accuracy: 1e-6)
        XCTAssertEqual(train.pixels[1024], (101 / 255 - 0.4822) / 0.2435, accuracy: 1e-6)
        XCTAssertEqual(train.pixels[2048], (201 / 255 - 0.4465) / 0.2616, accuracy: 1e-6)
        assertError(try CIFAR10.read(write("short.bin", Array(cifarRecords([1, 2]).dropLast(100)))),
                    "short.bin: error: 6046 bytes is not a whole number of 3073-byte records (the last record is short by 100 bytes)")
        assertError(try CIFAR10.read(write("label.bin", cifarRecords([1, 11]))), "label.bin: error: record 1 has label 11")
    }

    func testCIFAR10AugmentationCropsAndFlipsDeterministically() throws {
        var a = (0..<(2 * 3072)).map { Float($0 % 3072) }
        var b = a
        CIFAR10.augment(&a, count: 2, seed: 9)
        CIFAR10.augment(&b, count: 2, seed: 9)
        XCTAssertEqual(a, b)
        XCTAssertNotEqual(a, (0..<(2 * 3072)).map { Float($0 % 3072) })
        // Every value is a pixel of the same channel or padding.
        for k in 0..<2 { for c in 0..<3 { for i in 0..<1024 {
            let v = a[k * 3072 + c * 1024 + i]
            XCTAssertTrue(v == 0 || (Float(c * 1024) <= v && v < Float((c + 1) * 1024)))
        } } }
    }

    func testPennTreebankVocabularyIdsAndBatches() throws {
        _ = write("ptb.train.txt", Array(" the cat sat \n the dog <unk> \n".utf8))
        _ = write("ptb.valid.txt", Array(" the cat \n".utf8))
        _ = write("ptb.test.txt", Array(" a dog \n".utf8))
        let ptb = try PennTreebank.load(directory: dir)
        XCTAssertEqual(ptb.vocabulary.first, "<eos>")  // most frequent first (ties alphabetical)
        XCTAssertEqual(ptb.train.count, 8)
        XCTAssertEqual(ptb.test[0], ptb.index["<unk>"])  // "a" is not in the training vocabulary
        let batches = PennTreebank.batches(Array(0..<20), batch: 2, steps: 3)
        XCTAssertEqual(batches.count, 3)
        XCTAssertEqual(batches[0].tokens, [0, 1, 2, 10, 11, 12])
        XCTAssertEqual(batches[0].targets, [1, 2, 3, 11, 12, 13])
        XCTAssertEqual(batches[1].tokens, [3, 4, 5, 13, 14, 15])
        try FileManager.default.removeItem(atPath: "\(dir)/ptb.valid.txt")
        assertError(try PennTreebank.load(directory: dir), "ptb.valid.txt: error: no such file")
    }

    /// Text files a language model cannot read: each is an error naming the file.
    func testBadPennTreebankFilesAreClearErrors() throws {
        _ = write("ptb.train.txt", Array(" the cat sat \n".utf8))
        _ = write("ptb.valid.txt", Array(" the cat \n".utf8))
        _ = write("ptb.test.txt", [])
        assertError(try PennTreebank.load(directory: dir), "ptb.test.txt: error: no words")
        _ = write("ptb.test.txt", Array("  \n \n".utf8))
        assertError(try PennTreebank.load(directory: dir), "ptb.test.txt: error: no words")
        _ = write("ptb.test.txt", [0x20, 0x63, 0xFF, 0xFE, 0x61, 0x0A])   // Latin-1, not UTF-8
        assertError(try PennTreebank.load(directory: dir), "ptb.test.txt: error: not UTF-8 text")
        _ = write("ptb.test.txt", Array(" a cat \n".utf8))
        assertError(try PennTreebank.load(directory: dir), "ptb.test.txt: error: word 0 ('a') is not in the training vocabulary and there is no <unk>")
        _ = write("ptb.test.txt", Array(" sat cat \n".utf8))
        XCTAssertNoThrow(try PennTreebank.load(directory: dir))
        try FileManager.default.removeItem(atPath: "\(dir)/ptb.train.txt")
        assertError(try PennTreebank.load(directory: dir), "ptb.train.txt: error: no such file")
        assertError(try PennTreebank.load(directory: dir + "/missing"), "ptb.train.txt: error: no such file")
    }

    func testSplitAndShuffleAreSeeded() throws {
        let d = ImageDataset(channels: 1, height: 1, width: 1, classes: 2, pixels: (0..<10).map(Float.init), labels: Array(repeating: 0, count: 10))
        let (train, validation) = d.split(validation: 3)
        XCTAssertEqual(train.pixels, (0..<7).map(Float.init))
        XCTAssertEqual(validation.pixels, [7, 8, 9])
        XCTAssertEqual(d.shuffled(seed: 4), d.shuffled(seed: 4))
        XCTAssertNotEqual(d.shuffled(seed: 4), d.shuffled(seed: 5))
        XCTAssertEqual(d.shuffled(seed: 4).sorted(), Array(0..<10))
    }

    /// The real corpus, when `make ptb` has exported it: Mikolov's split has a
    /// 10,000-word vocabulary (with <unk> and <eos>).
    func testPennTreebankExport() throws {
        let base = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path + "/data/ptb"
        guard FileManager.default.fileExists(atPath: base + "/ptb.train.txt") else {
            if ProcessInfo.processInfo.environment["CI"] != nil { XCTFail("make test exports Penn Treebank (make ptb)") }
            throw XCTSkip("run `make ptb` to export Penn Treebank")
        }
        let ptb = try PennTreebank.load(directory: base)
        XCTAssertEqual(ptb.vocabulary.count, 10_000)
        XCTAssertGreaterThan(ptb.train.count, 900_000)
        XCTAssertGreaterThan(ptb.valid.count, 70_000)
    }

    func testFashionMNISTFromTheDebianPackage() throws {
        let base = "/usr/share/datasets/fashion-mnist"
        guard FileManager.default.fileExists(atPath: base) else { throw XCTSkip("dataset-fashion-mnist is not installed") }
        let test = try IDX.load(images: "\(base)/t10k-images-idx3-ubyte.gz", labels: "\(base)/t10k-labels-idx1-ubyte.gz")
        XCTAssertEqual(test.count, 10_000)
        XCTAssertEqual(test.height, 28)
        XCTAssertEqual(Set(test.labels).count, 10)
    }
}
