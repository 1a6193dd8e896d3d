import Foundation
import XCTest
@testable import YOLOKit

/// State-dict `.pt` writer: read back through the project's own checkpoint reader (zip + restricted
/// unpickler), the zip layout torch uses (64-byte aligned records), and its rejections.
final class StateDictWriterTests: TemporaryFolderTestCase {
    /// Reads `path` back as (name, tensor, elements as Float) in pickle order.
    func readBack(_ path: String) throws -> (TorchCheckpoint, [(String, TorchTensor)]) {
        let checkpoint = try TorchCheckpoint(path: path)
        guard let items = checkpoint.root.dictItems else { XCTFail("root is \(checkpoint.root.kindDescription)"); return (checkpoint, []) }
        return (checkpoint, try items.map { item in
            guard let name = item.key.stringValue, let tensor = item.value.tensorValue else {
                XCTFail("item is not name → tensor"); throw CocoaError(.fileReadCorruptFile)
            }
            return (name, tensor)
        })
    }

    func testRoundTripThroughTorchCheckpoint() throws {
        let tensors = SafetensorsTests.sampleTensors().filter { $0.dtype.torchDType != nil }
        XCTAssertEqual(tensors.count, 13)  // 10 dtypes + scalar + empty + conv weight
        let path = tempDir.appendingPathComponent("best.pt").path
        try StateDictWriter.write(tensors, to: path)
        let (checkpoint, items) = try readBack(path)
        XCTAssertEqual(checkpoint.archivePrefix, "best")
        XCTAssertEqual(items.map(\.0), tensors.map(\.name))
        for ((name, tensor), t) in zip(items, tensors) {
            XCTAssertEqual(tensor.dtype, t.dtype.torchDType, name)
            XCTAssertEqual(tensor.shape, t.shape, name)
            XCTAssertEqual(tensor.strides, StateDictWriter.contiguousStrides(t.shape), name)
            XCTAssertEqual(tensor.storageOffset, 0)
            XCTAssertEqual(tensor.storageCount, t.elementCount)
            XCTAssertTrue(tensor.isContiguous)
            let floats = try checkpoint.floats(tensor)
            XCTAssertEqual(floats.count, t.elementCount)
            if t.dtype != .bool {  // the checkpoint reader maps any non-zero byte to 1, WeightTensor too
                XCTAssertEqual(floats.map(\.bitPattern), t.floats().map(\.bitPattern), name)
            }
            if !t.dtype.isFloatingPoint {
                XCTAssertEqual(try checkpoint.int64s(tensor).map { Float($0) }, t.floats(), name)
            }
        }
        XCTAssertEqual(try checkpoint.int64s(items.first { $0.0 == "scalar" }!.1), [-7])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: tempDir.path), ["best.pt"])
        // Deterministic: the same tensors give the same bytes.
        let again = tempDir.appendingPathComponent("again/best.pt").path
        try FileManager.default.createDirectory(atPath: (again as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try StateDictWriter.write(tensors, to: again)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path)), try Data(contentsOf: URL(fileURLWithPath: again)))
    }

    /// Local headers parsed by hand: entry names in torch's order, every record's data 64-byte aligned.
    func testZipLayoutMatchesTorch() throws {
        let path = tempDir.appendingPathComponent("my-model.v2.pt").path
        try StateDictWriter.write([WeightTensor(name: "w", shape: [3], floats: [1, 2, 3]),
                                   WeightTensor(name: "n", shape: [], int64s: [5])], to: path)
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        func u16(_ i: Int) -> Int { Int(bytes[i]) | Int(bytes[i + 1]) << 8 }
        func u32(_ i: Int) -> Int { u16(i) | u16(i + 2) << 16 }
        var offset = 0
        var names: [String] = []
        while u32(offset) == 0x0403_4B50 {
            XCTAssertEqual(u16(offset + 8), 0, "stored, not compressed")
            let size = u32(offset + 18), nameLength = u16(offset + 26), extraLength = u16(offset + 28)
            names.append(String(decoding: bytes[(offset + 30)..<(offset + 30 + nameLength)], as: UTF8.self))
            let data = offset + 30 + nameLength + extraLength
            XCTAssertEqual(data % 64, 0, names.last!)
            XCTAssertEqual(u16(offset + 30 + nameLength), 0x4246)  // "FB" padding field
            offset = data + size
        }
        XCTAssertEqual(names, ["my-model.v2/data.pkl", "my-model.v2/.format_version", "my-model.v2/.storage_alignment",
                               "my-model.v2/byteorder", "my-model.v2/data/0", "my-model.v2/data/1", "my-model.v2/version"])
        XCTAssertEqual(u32(offset), 0x0201_4B50, "central directory follows the records")
        XCTAssertEqual(StateDictWriter.defaultArchiveName("/x/y/best.pt"), "best")
        XCTAssertEqual(StateDictWriter.defaultArchiveName("/x/..pt"), "archive")
        XCTAssertEqual(StateDictWriter.defaultArchiveName("/x/mödel.pt"), "archive")
        XCTAssertEqual(StateDictWriter.contiguousStrides([2, 3, 4]), [12, 4, 1])
        XCTAssertEqual(StateDictWriter.contiguousStrides([2, 0, 4]), [4, 4, 1])
        XCTAssertEqual(StateDictWriter.contiguousStrides([]), [])
    }

    /// More than 1000 tensors (two SETITEMS batches, the second of one item: a SETITEM) and more than 256
    /// memo entries (LONG_BINPUT / LONG_BINGET).
    func testManyTensorsAndLongMemoIndices() throws {
        let tensors = (0..<1001).map { WeightTensor(name: "model.\($0).bn.running_mean", shape: [1], floats: [Float($0)]) }
        let path = tempDir.appendingPathComponent("many.pt").path
        try StateDictWriter.write(tensors, to: path)
        let (checkpoint, items) = try readBack(path)
        XCTAssertEqual(items.map(\.0), tensors.map(\.name))
        XCTAssertEqual(try items.map { try checkpoint.floats($0.1)[0] }, (0..<1001).map(Float.init))
    }

    func testPickleIntegersAndTuples() throws {
        let values = [0, 1, 255, 256, 65535, 65536, -1, -256, Int(Int32.max), Int(Int32.min), 1 << 31, -(1 << 31) - 1, 1 << 40, Int.max, Int.min]
        var w = PickleWriter()
        w.tuple(values.count) { w in for v in values { w.int(v) } }
        w.stop()
        let result = try Unpickler.unpickle(w.bytes, path: "ints.pkl")
        XCTAssertEqual(result.root.items?.compactMap { $0.intValue }, values)
        XCTAssertEqual(Array(w.bytes.prefix(8)), [0x80, 0x02, 0x28, 0x4B, 0x00, 0x4B, 0x01, 0x4B])  // PROTO 2, MARK, K 0, K 1, K …
    }

    func testRejections() throws {
        let path = tempDir.appendingPathComponent("bad.pt").path
        let good = WeightTensor(name: "a", shape: [1], floats: [1])
        let cases: [([WeightTensor], String)] = [
            ([WeightTensor(name: "u", dtype: .uint16, shape: [1], data: [0, 0])], "tensor 'u' is U16, which a PyTorch state dict cannot store"),
            ([good, good], "two tensors are named 'a'"),
            ([WeightTensor(name: "a", dtype: .float16, shape: [2], data: [0, 0])], "tensor 'a' has 2 bytes but shape [2] of F16 needs 4"),
        ]
        for (tensors, expected) in cases {
            XCTAssertThrowsError(try StateDictWriter.write(tensors, to: path)) {
                XCTAssertEqual(($0 as? WeightsWriteError), WeightsWriteError(path: path, reason: expected))
            }
        }
        XCTAssertThrowsError(try StateDictWriter.write([good], to: path, archiveName: "../x")) {
            XCTAssertTrue(($0 as? WeightsWriteError)?.reason.contains("archive name") == true, "\($0)")
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: tempDir.path), [])
    }
}
