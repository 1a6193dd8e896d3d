import Foundation
import XCTest
import ZIPFoundation
@testable import YOLOKit

final class TorchCheckpointTests: XCTestCase {
    // MARK: - Helpers

    /// All temp files of this test process live under one folder, removed when the class finishes.
    static let tempRoot = FileManager.default.temporaryDirectory.appendingPathComponent("torch-ckpt-tests-\(ProcessInfo.processInfo.processIdentifier)")

    override class func tearDown() {
        try? FileManager.default.removeItem(at: tempRoot)
        super.tearDown()
    }

    static func tempDirectory() throws -> URL {
        let dir = tempRoot.appendingPathComponent(UUID().uuidString)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    /// Writes a zip (ZIPFoundation, create mode) with the given entries into a fresh temp dir; returns its path.
    static func makeZip(_ entries: [(path: String, bytes: [UInt8])], compression: CompressionMethod = .none) throws -> String {
        let url = try tempDirectory().appendingPathComponent("checkpoint.pt")
        let archive = try Archive(url: url, accessMode: .create)
        for (path, bytes) in entries {
            let data = Data(bytes)
            try archive.addEntry(with: path, type: .file, uncompressedSize: Int64(data.count), compressionMethod: compression) { position, size in
                data.subdata(in: Int(position)..<(Int(position) + size))
            }
        }
        return url.path
    }

    static func writeFile(_ bytes: [UInt8]) throws -> String {
        let url = try tempDirectory().appendingPathComponent("file.pt")
        try Data(bytes).write(to: url)
        return url.path
    }

    /// The bytes of one entry of a zip file.
    static func entryBytes(_ zipPath: String, _ entryPath: String) throws -> [UInt8] {
        let archive = try Archive(url: URL(fileURLWithPath: zipPath), accessMode: .read)
        guard let entry = archive[entryPath] else { throw CocoaError(.fileNoSuchFile) }
        var out = [UInt8]()
        _ = try archive.extract(entry) { out.append(contentsOf: $0) }
        return out
    }

    static func floatBytes(_ values: [Float]) -> [UInt8] { values.flatMap { PickleBuilder.le($0.bitPattern) } }

    /// A checkpoint `archive/` with one float32 tensor pickle and the given storage entries.
    func checkpoint(pickle: [UInt8], storages: [(key: String, bytes: [UInt8])], extra: [(String, [UInt8])] = []) throws -> String {
        var entries: [(path: String, bytes: [UInt8])] = [("archive/data.pkl", pickle), ("archive/byteorder", Array("little".utf8))]
        for s in storages { entries.append(("archive/data/" + s.key, s.bytes)) }
        for e in extra { entries.append((e.0, e.1)) }
        return try TorchCheckpointTests.makeZip(entries)
    }

    struct Expected: Decodable {
        let shape: [Int]
        let stride: [Int]
        let offset: Int
        let dtype: String
        let values: [ValueOrString]
    }

    enum ValueOrString: Decodable {
        case number(Double)
        case special(String)
        init(from decoder: Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let d = try? c.decode(Double.self) { self = .number(d) } else { self = .special(try c.decode(String.self)) }
        }
        var double: Double {
            switch self {
            case .number(let d): return d
            case .special(let s): return s == "inf" ? .infinity : s == "-inf" ? -.infinity : .nan
            }
        }
    }

    struct ExpectedFile: Decodable { let tensors: [String: Expected] }

    // MARK: - A torch.save'd fixture read back exactly

    func testTinyCheckpointMatchesPyTorch() throws {
        let path = TestPaths.fixture("pickle/tiny_checkpoint.pt")
        let expected = try JSONDecoder().decode(ExpectedFile.self, from: Data(readBytes(TestPaths.fixture("pickle/tiny_checkpoint.json")))).tensors
        let ckpt = try TorchCheckpoint(path: path)
        XCTAssertEqual(ckpt.archivePrefix, "tiny_checkpoint")
        XCTAssertEqual(ckpt.root.value(forKey: "epoch")?.intValue, 3)
        XCTAssertEqual(ckpt.root.value(forKey: "note")?.stringValue, "tiny")
        guard let tensors = ckpt.root.value(forKey: "tensors")?.dictItems else { return XCTFail("no tensors dict") }
        XCTAssertEqual(tensors.compactMap { $0.key.stringValue }, ["f32", "f16", "bf16", "f64", "i64", "i32", "i16", "i8", "u8", "bool",
                                                               "transposed", "offset_view", "scalar", "empty", "half_subnormal", "param"],
                       "OrderedDict order is kept")
        let dtypeNames: [TorchDType: String] = [.float32: "float32", .float16: "float16", .bfloat16: "bfloat16", .float64: "float64",
                                                .int64: "int64", .int32: "int32", .int16: "int16", .int8: "int8", .uint8: "uint8", .bool: "bool"]
        var checked = 0
        func check(_ name: String, _ tensor: TorchTensor) throws {
            guard let e = expected[name] else { return XCTFail("no expectation for \(name)") }
            XCTAssertEqual(tensor.shape, e.shape, name)
            XCTAssertEqual(tensor.strides, e.stride, name)
            XCTAssertEqual(tensor.storageOffset, e.offset, name)
            XCTAssertEqual(dtypeNames[tensor.dtype], e.dtype, name)
            XCTAssertEqual(tensor.count, e.values.count, name)
            let floats = try ckpt.floats(tensor)
            XCTAssertEqual(floats.count, e.values.count, name)
            for (i, (got, want)) in zip(floats, e.values).enumerated() {
                let w = Float(want.double)
                XCTAssertTrue(got == w && got.sign == w.sign || (got.isNaN && w.isNaN), "\(name)[\(i)]: \(got) != \(w)")
            }
            if [.int64, .int32, .int16, .int8, .uint8, .bool].contains(tensor.dtype) {
                XCTAssertEqual(try ckpt.int64s(tensor), e.values.map { Int64($0.double) }, name)
            } else {
                assertLoadError(["not an integer tensor"]) { _ = try ckpt.int64s(tensor) }
            }
            checked += 1
        }
        for (key, value) in tensors {
            guard case .tensor(let t) = value else { return XCTFail("\(key) is not a tensor") }
            try check(key.stringValue!, t)
        }
        // The shared storage: transposed and offset views read f32's storage.
        XCTAssertEqual(tensors[10].value.tensorValue?.storageKey, tensors[0].value.tensorValue?.storageKey)
        XCTAssertFalse(tensors[10].value.tensorValue!.isContiguous)

        // The nn.Sequential(Conv2d, BatchNorm2d, SiLU) through TorchModule.
        guard case .object(let seqObject)? = ckpt.root.value(forKey: "module") else { return XCTFail("module is not an object") }
        let seq = try TorchModule(seqObject, path: path)
        XCTAssertEqual(seq.typeName, "torch.nn.modules.container.Sequential")
        XCTAssertEqual(seq.className, "Sequential")
        XCTAssertEqual(seq.children.map(\.name), ["0", "1", "2"])
        let conv = try XCTUnwrap(seq.child("0"))
        XCTAssertEqual(conv.typeName, "torch.nn.modules.conv.Conv2d")
        XCTAssertEqual(try conv.int("in_channels"), 2)
        XCTAssertEqual(try conv.int("out_channels"), 3)
        XCTAssertEqual(try conv.ints("kernel_size"), [3, 3])
        XCTAssertEqual(try conv.ints("stride"), [2, 2])
        XCTAssertEqual(try conv.ints("padding"), [1, 1])
        XCTAssertEqual(try conv.ints("groups"), [1])
        XCTAssertEqual(try conv.string("padding_mode"), "zeros")
        XCTAssertEqual(try conv.bool("training"), false)
        XCTAssertEqual(conv.parameters.map(\.name), ["weight"], "bias=None is skipped")
        try check("module.0.weight", try XCTUnwrap(conv.parameter("weight")))
        let bn = try XCTUnwrap(seq.module(at: "1"))
        XCTAssertEqual(bn.className, "BatchNorm2d")
        XCTAssertEqual(try bn.double("eps"), 1e-5)
        XCTAssertEqual(bn.parameters.map(\.name), ["weight", "bias"])
        XCTAssertEqual(bn.buffers.map(\.name), ["running_mean", "running_var", "num_batches_tracked"])
        try check("module.1.running_var", try XCTUnwrap(bn.buffer("running_var")))
        try check("module.1.num_batches_tracked", try XCTUnwrap(bn.buffer("num_batches_tracked")))
        XCTAssertEqual(seq.child("2")?.className, "SiLU")
        XCTAssertEqual(checked, 19)

        // Attribute errors name the module type and the key.
        assertLoadError(["torch.nn.modules.conv.Conv2d", "'nope' is missing"]) { _ = try conv.int("nope") }
        assertLoadError(["torch.nn.modules.conv.Conv2d", "'padding_mode' is a string, expected an int"]) { _ = try conv.int("padding_mode") }
        assertLoadError(["'kernel_size' is a tuple, expected a bool"]) { _ = try conv.bool("kernel_size") }
        assertLoadError(["'in_channels' is an int, expected a string"]) { _ = try conv.string("in_channels") }
        // A value that is not a module.
        assertLoadError(["expected an nn.Module object, found a dict"]) { _ = try TorchModule(ckpt.root, path: path) }
        guard case .object(let dev) = try Unpickler.load(deviceObjectPickle()) else { return XCTFail() }
        assertLoadError(["torch.device: not an nn.Module"]) { _ = try TorchModule(dev, path: path) }
    }

    func deviceObjectPickle() -> [UInt8] {
        var p = PickleBuilder()
        p.proto()
        p.global("torch", "device")
        p.string("cpu")
        p.tuple1()
        p.reduce()
        p.stop()
        return p.bytes
    }

    func testStridedReadsFromSyntheticCheckpoint() throws {
        // storage 0: 0, 1, …, 23 (float32); storage 1: the same as float16; storage 2: int32
        let values = (0..<24).map(Float.init)
        var p = PickleBuilder()
        p.proto()
        p.mark()
        p.tensor(key: "0", numel: 24, offset: 1, size: [2, 3], stride: [1, 2])          // [[1,3,5],[2,4,6]]
        p.tensor(storageClass: "HalfStorage", key: "1", numel: 24, offset: 20, size: [2, 2], stride: [0, 3])  // broadcast rows
        p.tensor(storageClass: "IntStorage", key: "2", numel: 24, offset: 0, size: [2, 1, 3], stride: [12, 99, 4])
        p.tensor(key: "0", numel: 24, offset: 23, size: [1], stride: [1])
        p.tuple()
        p.stop()
        let half: [UInt8] = values.flatMap { v -> [UInt8] in
            // exact small integers in binary16: sign 0, exponent/mantissa computed from Float bits
            let bits = v.bitPattern
            if bits == 0 { return [0, 0] }
            let e = Int((bits >> 23) & 0xFF) - 127 + 15
            let m = (bits >> 13) & 0x3FF
            return PickleBuilder.le(UInt16(e << 10) | UInt16(m))
        }
        let ints = (0..<24).flatMap { PickleBuilder.le(Int32($0 * -2)) }
        let path = try checkpoint(pickle: p.bytes, storages: [("0", TorchCheckpointTests.floatBytes(values)), ("1", half), ("2", ints)])
        let ckpt = try TorchCheckpoint(path: path)
        let t = ckpt.root.items!.map { $0.tensorValue! }
        XCTAssertEqual(try ckpt.floats(t[0]), [1, 3, 5, 2, 4, 6])
        XCTAssertEqual(try ckpt.floats(t[1]), [20, 23, 20, 23])
        XCTAssertEqual(try ckpt.int64s(t[2]), [0, -8, -16, -24, -32, -40])
        XCTAssertEqual(try ckpt.floats(t[2]), [0, -8, -16, -24, -32, -40])
        XCTAssertEqual(try ckpt.floats(t[3]), [23])
        XCTAssertEqual(try ckpt.floats(t[0]), [1, 3, 5, 2, 4, 6], "cached storage")

        // Deflate-compressed entries read the same.
        let compressed = try TorchCheckpointTests.makeZip([("archive/data.pkl", p.bytes), ("archive/data/0", TorchCheckpointTests.floatBytes(values)),
                                                           ("archive/data/1", half), ("archive/data/2", ints)], compression: .deflate)
        let c = try TorchCheckpoint(path: compressed)
        XCTAssertEqual(try c.floats(c.root.items![0].tensorValue!), [1, 3, 5, 2, 4, 6])
    }

    func testHalfToFloatIsExactForAllPatterns() {
        #if !(os(macOS) && arch(x86_64))
        for bits in 0...UInt16.max {
            let want = Float(Float16(bitPattern: bits))
            let got = halfToFloat(bits)
            if want.isNaN {
                XCTAssertTrue(got.isNaN, "\(bits)")
            } else {
                XCTAssertEqual(got.bitPattern, want.bitPattern, "half 0x\(String(bits, radix: 16))")
            }
        }
        #endif
        XCTAssertEqual(halfToFloat(0x3C00), 1)
        XCTAssertEqual(halfToFloat(0xC000), -2)
        XCTAssertEqual(halfToFloat(0x0001), 5.9604645e-08)
        XCTAssertEqual(halfToFloat(0x7BFF), 65504)
    }

    // MARK: - The real Ultralytics checkpoint

    struct Golden: Decodable {
        struct Weight: Decodable { let shape: [Int]; let dtype: String; let first16: [Double]; let sum: Double }
        let model_class: String
        let names: [String: String]
        let stride: [Double]
        let layers: [String]
        let conv0_weight: Weight
        let detect_dfl_weight_first8: [Double]
        let model_22_cv3_2_2_bias: [Double]
        let num_tensors_in_model: Int
    }

    func testRealUltralyticsCheckpoint() throws {
        let path = try TestPaths.requireModel("fall-yolov8s.pt")
        let golden = try JSONDecoder().decode(Golden.self, from: Data(readBytes(TestPaths.fixture("pickle/fall_yolov8s_golden.json"))))
        let ckpt = try TorchCheckpoint(path: path)
        XCTAssertEqual(ckpt.archivePrefix, "best")
        guard case .object(let modelObject)? = ckpt.root.value(forKey: "model") else { return XCTFail("root['model'] is not an object") }
        XCTAssertEqual(modelObject.qualifiedName, golden.model_class)
        let model = try TorchModule(modelObject, path: path)
        XCTAssertEqual(model.className, "DetectionModel")
        XCTAssertEqual(try model.int("nc"), 2)

        // names {0: 'Normal', 1: 'Fall'}
        guard let names = model.attributes["names"]?.dictItems else { return XCTFail("names is not a dict") }
        XCTAssertEqual(names.map { $0.key.intValue ?? -1 }, [0, 1])
        XCTAssertEqual(names.map { $0.value.stringValue ?? "" }, [golden.names["0"]!, golden.names["1"]!])
        XCTAssertEqual(try ckpt.floats(try model.tensor("stride")), golden.stride.map(Float.init))

        let seq = try XCTUnwrap(model.child("model"))
        XCTAssertEqual(seq.className, "Sequential")
        XCTAssertEqual(seq.children.map(\.name), (0...22).map(String.init))
        XCTAssertEqual(seq.children.map(\.module.className), golden.layers)
        for (index, (_, layer)) in seq.children.enumerated() {
            XCTAssertEqual(try layer.int("i"), index)
            let from = try layer.ints("f")
            XCTAssertFalse(from.isEmpty)
            XCTAssertEqual(try layer.string("type"), layer.typeName)
        }
        XCTAssertEqual(try seq.child("22")?.ints("f"), [15, 18, 21])
        XCTAssertEqual(try seq.child("11")?.ints("f"), [-1, 6])

        // Conv = conv (Conv2d, fp16 weight [Cout, Cin/g, k, k]) + bn (BatchNorm2d) + act (SiLU)
        let conv0 = try XCTUnwrap(seq.child("0"))
        XCTAssertEqual(conv0.typeName, "ultralytics.nn.modules.conv.Conv")
        XCTAssertEqual(conv0.children.map(\.name), ["conv", "bn", "act"])
        let conv2d = try XCTUnwrap(conv0.child("conv"))
        XCTAssertEqual(conv2d.className, "Conv2d")
        let weight = try XCTUnwrap(conv2d.parameter("weight"))
        XCTAssertEqual(weight.shape, golden.conv0_weight.shape)
        XCTAssertEqual(weight.dtype, .float16)
        XCTAssertNil(conv2d.parameter("bias"))
        let w = try ckpt.floats(weight)
        XCTAssertEqual(Array(w.prefix(16)), golden.conv0_weight.first16.map(Float.init), "fp16 → Float equals PyTorch's .float()")
        XCTAssertEqual(Double(w.reduce(0, +)), golden.conv0_weight.sum, accuracy: 1e-3)
        let bn = try XCTUnwrap(conv0.child("bn"))
        XCTAssertEqual(bn.className, "BatchNorm2d")
        XCTAssertEqual(bn.parameters.map(\.name), ["weight", "bias"])
        XCTAssertEqual(bn.buffers.map(\.name), ["running_mean", "running_var", "num_batches_tracked"])
        XCTAssertEqual(try bn.double("eps"), 0.001)
        XCTAssertEqual(conv0.child("act")?.className, "SiLU")
        XCTAssertTrue(conv0.child("act") === seq.child("1")?.child("act"), "the shared default SiLU is one module")

        let detect = try XCTUnwrap(seq.child("22"))
        XCTAssertEqual(detect.className, "Detect")
        XCTAssertEqual(try detect.int("nc"), 2)
        XCTAssertEqual(try detect.int("reg_max"), 16)
        let dfl = try XCTUnwrap(detect.module(at: "dfl.conv"))
        XCTAssertEqual(Array(try ckpt.floats(try XCTUnwrap(dfl.parameter("weight"))).prefix(8)), golden.detect_dfl_weight_first8.map(Float.init))
        let cls = try XCTUnwrap(detect.module(at: "cv3.2.2"))
        XCTAssertEqual(try ckpt.floats(try XCTUnwrap(cls.parameter("bias"))), golden.model_22_cv3_2_2_bias.map(Float.init))

        // state_dict size: every parameter and buffer reachable by path.
        var stateDictCount = 0
        var stack: [TorchModule] = [model]
        while let m = stack.popLast() {
            stateDictCount += m.parameters.count + m.buffers.count
            stack.append(contentsOf: m.children.map(\.module))
        }
        XCTAssertEqual(stateDictCount, golden.num_tensors_in_model)
        // Every tensor of the checkpoint converts (validated against its storage, no crash).
        var total = 0
        for t in ckpt.tensors { total += try ckpt.floats(t).count }
        XCTAssertGreaterThan(total, 11_000_000)
    }

    // MARK: - Hostile files

    func testNotAZip() throws {
        assertLoadError(["not a PyTorch checkpoint (not a zip archive)", "empty"]) { _ = try TorchCheckpoint(path: try TorchCheckpointTests.writeFile([])) }
        assertLoadError(["not a PyTorch checkpoint (not a zip archive)"]) {
            _ = try TorchCheckpoint(path: try TorchCheckpointTests.writeFile(Array("hello, this is text\n".utf8)))
        }
        assertLoadError(["not a PyTorch checkpoint (not a zip archive)", "legacy"]) { _ = try TorchCheckpoint(path: TestPaths.fixture("pickle/legacy.pt")) }
        assertLoadError(["not a PyTorch checkpoint (not a zip archive)"]) {
            _ = try TorchCheckpoint(path: try TorchCheckpointTests.writeFile([0x50, 0x4B, 3, 4] + [UInt8](repeating: 0xAB, count: 100)))
        }
        assertLoadError(["not found"]) { _ = try TorchCheckpoint(path: "/nonexistent/model.pt") }
        assertLoadError(["not a regular file"]) { _ = try TorchCheckpoint(path: try TorchCheckpointTests.tempDirectory().path) }
        // A darknet weights file is not a checkpoint either.
        assertLoadError(["not a zip archive"]) { _ = try TorchCheckpoint(path: TestPaths.fixture("tiny-v4/tiny-v4.weights")) }
    }

    func testTruncatedZipIsAnErrorNotACrash() throws {
        let bytes = try readBytes(TestPaths.fixture("pickle/tiny_checkpoint.pt"))
        for n in Array(stride(from: 0, to: bytes.count, by: 97)) + [bytes.count - 1, bytes.count - 22, bytes.count - 23] {
            let path = try TorchCheckpointTests.writeFile(Array(bytes[0..<n]))
            do {
                _ = try TorchCheckpoint(path: path)
                XCTFail("truncated to \(n) bytes but loaded")
            } catch is ModelLoadError {
            }
        }
        // Corrupt bytes in the middle (storage data and pickle): an error or a checkpoint, never a crash.
        var rng = SeededRandom(seed: 7)
        for _ in 0..<60 {
            var corrupt = bytes
            for _ in 0..<4 { corrupt[Int(rng.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: rng.next()) }
            let path = try TorchCheckpointTests.writeFile(corrupt)
            if let ckpt = try? TorchCheckpoint(path: path) { for t in ckpt.tensors { _ = try? ckpt.floats(t) } }
        }
    }

    func testUnsafeEntryPaths() throws {
        let pickle = PickleBuilder.tensorPickle(numel: 2, size: [2], stride: [1])
        let storage = TorchCheckpointTests.floatBytes([1, 2])
        for evil in ["../evil", "archive/../../evil", "archive/data/..", "/etc/passwd", "..\\evil", "C:/x"] {
            let path = try checkpoint(pickle: pickle, storages: [("0", storage)], extra: [(evil, [1])])
            assertLoadError(["unsafe path in checkpoint archive", evil]) { _ = try TorchCheckpoint(path: path) }
        }
        // The benign version loads.
        let ok = try checkpoint(pickle: pickle, storages: [("0", storage)], extra: [("archive/version", Array("3\n".utf8))])
        let ckpt = try TorchCheckpoint(path: ok)
        XCTAssertEqual(try ckpt.floats(ckpt.root.tensorValue!), [1, 2])
    }

    func testArchiveLayoutErrors() throws {
        let pickle = PickleBuilder.tensorPickle(numel: 2, size: [2], stride: [1])
        let storage = TorchCheckpointTests.floatBytes([1, 2])
        // no data.pkl
        var path = try TorchCheckpointTests.makeZip([("archive/data/0", storage)])
        assertLoadError(["no <folder>/data.pkl"]) { _ = try TorchCheckpoint(path: path) }
        // data.pkl not in a top folder
        path = try TorchCheckpointTests.makeZip([("data.pkl", pickle), ("data/0", storage)])
        assertLoadError(["no <folder>/data.pkl"]) { _ = try TorchCheckpoint(path: path) }
        // two of them
        path = try checkpoint(pickle: pickle, storages: [("0", storage)], extra: [("other/data.pkl", pickle)])
        assertLoadError(["2 data.pkl entries"]) { _ = try TorchCheckpoint(path: path) }
        // duplicate entries
        path = try checkpoint(pickle: pickle, storages: [("0", storage), ("0", storage)])
        assertLoadError(["duplicate entry", "archive/data/0"]) { _ = try TorchCheckpoint(path: path) }
        // big-endian
        path = try TorchCheckpointTests.makeZip([("archive/data.pkl", pickle), ("archive/byteorder", Array("big".utf8)), ("archive/data/0", storage)])
        assertLoadError(["byte order \"big\""]) { _ = try TorchCheckpoint(path: path) }
    }

    func testStorageErrors() throws {
        // referenced storage key missing from the zip
        var path = try checkpoint(pickle: PickleBuilder.tensorPickle(key: "17", numel: 2, size: [2], stride: [1]),
                                  storages: [("0", TorchCheckpointTests.floatBytes([1, 2]))])
        assertLoadError(["storage '17'", "missing from the archive"]) { _ = try TorchCheckpoint(path: path) }
        // byte size disagrees with numel × dtype size
        path = try checkpoint(pickle: PickleBuilder.tensorPickle(numel: 12, size: [2], stride: [1]),
                              storages: [("0", TorchCheckpointTests.floatBytes(Array(repeating: 1, count: 10)))])
        assertLoadError(["storage '0' holds 40 bytes", "12 float32 elements (48 bytes)"]) { _ = try TorchCheckpoint(path: path) }
        path = try checkpoint(pickle: PickleBuilder.tensorPickle(storageClass: "HalfStorage", numel: 2, size: [2], stride: [1]),
                              storages: [("0", TorchCheckpointTests.floatBytes([1, 2]))])
        assertLoadError(["holds 8 bytes", "2 float16 elements (4 bytes)"]) { _ = try TorchCheckpoint(path: path) }
        // absurd numel (overflows bytes)
        path = try checkpoint(pickle: PickleBuilder.tensorPickle(storageClass: "DoubleStorage", numel: Int.max / 2, size: [2], stride: [1]),
                              storages: [("0", TorchCheckpointTests.floatBytes([1, 2]))])
        assertLoadError(["storage '0'", "overflow"]) { _ = try TorchCheckpoint(path: path) }
        // tensor beyond its storage (the pickle lies about the view, the storage is honest)
        path = try checkpoint(pickle: PickleBuilder.tensorPickle(numel: 4, offset: 1, size: [2, 2], stride: [2, 1]),
                              storages: [("0", TorchCheckpointTests.floatBytes([1, 2, 3, 4]))])
        assertLoadError(["reach element 4", "storage has 4 elements"]) { _ = try TorchCheckpoint(path: path) }
        // a hostile pickle inside an otherwise fine archive
        var p = PickleBuilder()
        p.proto()
        p.global("os", "system")
        p.string("rm -rf /")
        p.tuple1()
        p.reduce()
        p.stop()
        path = try checkpoint(pickle: p.bytes, storages: [])
        assertLoadError(["refusing to call os.system: not on the allow-list"]) { _ = try TorchCheckpoint(path: path) }
    }
}
