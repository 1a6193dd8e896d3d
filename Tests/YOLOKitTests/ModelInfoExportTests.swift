import Foundation
import XCTest
@testable import YOLOKit

/// `info` counts against Ultralytics (Tests/Fixtures/ultralytics/model_info.json, scripts/reference/model_info_golden.py),
/// exports whose tensors are exactly `state_dict()`, round trips through safetensors (raw outputs bit-identical),
/// and exported files that lie about themselves.
final class ModelInfoExportTests: XCTestCase {
    struct Golden: Decodable {
        let parameters: Int
        let gflops: Double
        let layer_parameters: [Int]
        let state_dict: [[StringOrShape]]?
    }
    enum StringOrShape: Decodable {
        case string(String), shape([Int])
        init(from decoder: Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let s = try? c.decode(String.self) { self = .string(s) } else { self = .shape(try c.decode([Int].self)) }
        }
        var string: String? { if case .string(let s) = self { return s }; return nil }
        var shape: [Int]? { if case .shape(let s) = self { return s }; return nil }
    }
    static let fixtures = ["yolov8-tiny.pt", "yolo11-tiny.pt", "yolo26-tiny.pt", "yolo26-tiny-soft.pt"]

    func golden() throws -> [String: Golden] {
        try JSONDecoder().decode([String: Golden].self, from: Data(contentsOf: URL(fileURLWithPath: TestPaths.fixture("ultralytics/model_info.json"))))
    }

    func paths() throws -> [(name: String, path: String)] {
        var out = Self.fixtures.map { ($0, TestPaths.fixture("ultralytics/" + $0)) }
        out.append(("fall-yolov8s.pt", try TestPaths.requireModel("fall-yolov8s.pt")))
        return out
    }

    func testInfoCountsMatchUltralytics() throws {
        let golden = try golden()
        for (name, path) in try paths() {
            let g = try XCTUnwrap(golden[name], name)
            let info = try ModelFile.load(path, options: ExecutionOptions(threads: 1)).info(imageSize: nil)
            XCTAssertEqual(info.parameters, g.parameters, name)
            XCTAssertEqual(info.gflops, g.gflops, accuracy: g.gflops * 1e-6, name)  // the issue allows 1 %; the counts are exact
            XCTAssertEqual(info.layers.map(\.parameters), g.layer_parameters, name)
            XCTAssertEqual(info.inputShape, [3, 640, 640])
            XCTAssertEqual(info.strides, [8, 16, 32])
        }
        // The figures for the fall checkpoint, and the JSON fields.
        let fall = try ModelFile.load(try TestPaths.requireModel("fall-yolov8s.pt"), options: ExecutionOptions(threads: 1)).info(imageSize: nil)
        XCTAssertEqual(fall.parameters, 11_136_374)
        XCTAssertEqual((fall.gflops * 1000).rounded() / 1000, 28.644)
        XCTAssertEqual(fall.names, ["Normal", "Fall"])
        XCTAssertEqual(fall.metadata.first { $0.key == "train_args.optimizer" }?.value, "AdamW")
        XCTAssertEqual(fall.metadata.first { $0.key == "version" }?.value, "8.3.202")
        let json = fall.json.serialized()
        for key in ["\"parameters\": 11136374", "\"gflops\"", "\"layers\"", "\"names\": [\"Normal\", \"Fall\"]"] {
            XCTAssertTrue(json.contains(key), key)
        }
        // Another size: shapes follow it.
        let small = try ModelFile.load(TestPaths.fixture("ultralytics/yolov8-tiny.pt"), options: ExecutionOptions(threads: 1)).info(imageSize: 320)
        XCTAssertEqual(small.layers.last?.outputShape, [4 + 3, 1, 40 * 40 + 20 * 20 + 10 * 10])
        XCTAssertEqual(small.gflops, golden["yolov8-tiny.pt"]!.gflops / 4, accuracy: 1e-6)
    }

    /// Darknet: the cfg's unfused parameters = the .weights floats less the BatchNorm rolling mean and variance.
    func testDarknetInfo() throws {
        let cfg = try TestPaths.requireModel("yolov3-tiny.cfg")
        let info = try ModelFile.load(cfg, options: ExecutionOptions(threads: 1)).info(imageSize: nil)
        let weights = try DarknetWeights(path: TestPaths.model("yolov3-tiny.weights"))
        let fileFloats = (try Data(contentsOf: URL(fileURLWithPath: weights.path), options: .alwaysMapped).count - weights.headerSize) / 4
        let bnFilters = [16, 32, 64, 128, 256, 512, 1024, 256, 512, 128, 256].reduce(0, +)  // batch_normalize=1 layers
        XCTAssertEqual(info.parameters, fileFloats - 2 * bnFilters)
        XCTAssertEqual(info.parameters, 8_852_366)
        XCTAssertEqual(info.inputShape, [3, 416, 416])
        XCTAssertEqual(info.strides, [32, 16])
        XCTAssertEqual(info.metadata.first { $0.key == "seen" }?.value, "\(weights.seen)")
        XCTAssertEqual(info.gflops, 5.565, accuracy: 0.001)  // conv multiply-accumulates × 2, scripts/reference (hand count from the cfg)
    }

    func testStateDictIsExactlyPyTorchs() throws {
        let golden = try golden()
        for name in Self.fixtures {
            let expected = try XCTUnwrap(golden[name]?.state_dict, name)
            let model = try UltralyticsModel(path: TestPaths.fixture("ultralytics/" + name))
            let (tensors, change) = try model.stateDict(dtype: .float32)
            XCTAssertEqual(tensors.map(\.name), expected.map { $0[0].string! }, name)
            XCTAssertEqual(tensors.map(\.shape), expected.map { $0[2].shape! }, name)
            XCTAssertEqual(tensors.map(\.dtype), expected.map { $0[1].string == "int64" ? WeightDType.int64 : .float32 }, name)
            XCTAssertEqual(change, 0)
            // The checkpoints hold fp16: an fp16 export stores them unchanged.
            XCTAssertEqual(try model.stateDict(dtype: .float16).largestChange, 0, name)
        }
    }

    func testSafetensorsRoundTripBitIdentical() throws {
        let dir = try TorchCheckpointTests.tempDirectory()
        let image = try ImageDecoder.decode(contentsOf: TestPaths.fixture("ultralytics/input_256x320.png"))
        for (name, path) in try paths() {
            let source = try ModelFile.load(path)
            let expected = source.rawOutputs(for: image)
            for dtype in [WeightDType.float32, .float16] {
                let out = dir.appendingPathComponent("\(name)-\(dtype.rawValue).safetensors").path
                let report = try source.export(to: out, format: .safetensors, dtype: dtype)
                XCTAssertEqual(report.largestWeightChange, 0)
                let file = try SafetensorsFile(path: out)
                XCTAssertEqual(file.metadata["source_sha256"], try SHA256.hex(ofFile: path))
                XCTAssertEqual(file.metadata["names"].map { $0.contains("\"") }, true)
                let loaded = try ModelFile.load(out)
                XCTAssertEqual(loaded.names, source.names)
                let got = loaded.rawOutputs(for: image)
                XCTAssertEqual(got.map(\.bitPattern), expected.map(\.bitPattern), "\(name) \(dtype)")
                XCTAssertEqual(try loaded.info(imageSize: nil).parameters, try source.info(imageSize: nil).parameters)
            }
            // End-to-end YOLO26 heads: the one-to-one branch round-trips too.
            if name.hasPrefix("yolo26") {
                let out = dir.appendingPathComponent("\(name)-F32.safetensors").path
                let e2e = try ModelFile.load(out, endToEnd: true).rawOutputs(for: image)
                XCTAssertEqual(e2e.map(\.bitPattern), try ModelFile.load(path, endToEnd: true).rawOutputs(for: image).map(\.bitPattern))
            }
            // A state-dict .pt: same names, values as F32.
            let pt = dir.appendingPathComponent("\(name).pt").path
            _ = try source.export(to: pt, format: .pt, dtype: .float32)
            let checkpoint = try TorchCheckpoint(path: pt)
            let items = try XCTUnwrap(checkpoint.root.dictItems)
            let model = try UltralyticsModel(path: path)
            let (tensors, _) = try model.stateDict()
            XCTAssertEqual(items.map { $0.key.stringValue ?? "" }, tensors.map(\.name))
            if let first = items.first?.value.tensorValue { XCTAssertEqual(try checkpoint.floats(first), tensors[0].floats()) }
        }
        // bf16 changes the weights a little, and the detections stay close.
        let bf16 = dir.appendingPathComponent("bf16.safetensors").path
        let report = try ModelFile.load(TestPaths.fixture("ultralytics/yolov8-tiny.pt")).export(to: bf16, format: .safetensors, dtype: .bfloat16)
        XCTAssertGreaterThan(report.largestWeightChange, 0)
        XCTAssertEqual(try SafetensorsFile(path: bf16).entry(named: "model.0.conv.weight")?.dtype, .bfloat16)
        XCTAssertEqual(try ModelFile.load(bf16).names, ["alpha", "beta", "gamma"])
    }

    func testLyingExportsAreErrorsNamingTheTensor() throws {
        let dir = try TorchCheckpointTests.tempDirectory()
        let model = try UltralyticsModel(path: TestPaths.fixture("ultralytics/yolov8-tiny.pt"))
        let (tensors, _) = try model.stateDict()
        let metadata = try model.exportMetadata(dtype: .float32, imageSize: 320)
        func expectError(_ tensors: [WeightTensor], _ metadata: [String: String], _ fragments: [String], line: UInt = #line) throws {
            let path = dir.appendingPathComponent(UUID().uuidString + ".safetensors").path
            try SafetensorsWriter.write(tensors, metadata: metadata, to: path)
            XCTAssertThrowsError(try ModelFile.load(path), line: line) { error in
                let text = "\(error)"
                XCTAssertTrue(text.contains(path), text, line: line)
                for f in fragments { XCTAssertTrue(text.contains(f), "\(text) lacks \(f)", line: line) }
            }
        }
        let victim = tensors[5].name
        try expectError(tensors.filter { $0.name != victim }, metadata, [victim, "not in the file"])
        var reshaped = tensors
        reshaped[5] = WeightTensor(name: victim, shape: [reshaped[5].elementCount!], floats: reshaped[5].floats())
        try expectError(reshaped, metadata, [victim, "shape"])
        try expectError(tensors + [WeightTensor(name: "model.99.extra", shape: [1], floats: [0])], metadata, ["model.99.extra", "not named"])
        var wrongTag = metadata
        wrongTag["format"] = "something else"
        try expectError(tensors, wrongTag, ["not a SwiftYOLO Ultralytics export"])
        var badTree = metadata
        badTree["module_tree"] = "{\"module\": 3"
        try expectError(tensors, badTree, ["module_tree"])
        var intWeight = tensors
        intWeight[0] = WeightTensor(name: tensors[0].name, shape: tensors[0].shape, int64s: [Int64](repeating: 0, count: tensors[0].elementCount!))
        try expectError(intWeight, metadata, [tensors[0].name, "parameter"])
        // A file without the rebuild metadata is refused clearly.
        try expectError(tensors, [:], ["format is missing"])
    }

    func testSHA256() {
        XCTAssertEqual(SHA256.hex(Array("abc".utf8)), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(SHA256.hex([UInt8]()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(SHA256.hex(Array(repeating: UInt8(ascii: "a"), count: 1_000_000)),
                       "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }
}

/// The `info` and `export` commands end to end (the binary).
final class InfoExportCLITests: XCTestCase {
    func run(_ args: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try TestPaths.yoloBinary())
        process.arguments = args
        let dir = try TorchCheckpointTests.tempDirectory()
        let out = dir.appendingPathComponent("out"), err = dir.appendingPathComponent("err")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        _ = FileManager.default.createFile(atPath: err.path, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: out)
        process.standardError = try FileHandle(forWritingTo: err)
        try process.run()
        process.waitUntilExit()
        return (process.terminationStatus, try String(contentsOf: out, encoding: .utf8), try String(contentsOf: err, encoding: .utf8))
    }

    func testInfoAndExport() throws {
        let tiny = TestPaths.fixture("ultralytics/yolo11-tiny.pt")
        let json = try run(["info", "--model", tiny, "--format", "json"])
        XCTAssertEqual(json.status, 0, json.stderr)
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(object["parameters"] as? Int, 193_795)
        XCTAssertEqual((object["names"] as? [String]) ?? [], ["alpha", "beta", "gamma"])
        XCTAssertEqual((object["layers"] as? [Any])?.count, 24)
        let text = try run(["info", "--model", tiny, "--imgsz", "320"])
        XCTAssertTrue(text.stdout.contains("193,795 parameters"), text.stdout)
        XCTAssertTrue(text.stdout.contains("C2PSA"), text.stdout)

        let dir = try TorchCheckpointTests.tempDirectory()
        let out = dir.appendingPathComponent("t.safetensors").path
        let export = try run(["export", "--model", tiny, "--dtype", "bf16", "--output", out, "--sample", TestPaths.fixture("ultralytics/input_256x320.png")])
        XCTAssertEqual(export.status, 0, export.stderr)
        XCTAssertTrue(export.stdout.contains("BF16"), export.stdout)
        XCTAssertTrue(export.stdout.contains("largest change of the raw outputs"), export.stdout)
        let detect = try run(["detect", "--model", out, TestPaths.fixture("ultralytics/input_256x320.png")])
        XCTAssertEqual(detect.status, 0, detect.stderr)

        XCTAssertEqual(try run(["export", "--model", tiny, "--dtype", "fp8"]).status, 2)
        XCTAssertEqual(try run(["export", "--model", tiny, "--format", "onnx"]).status, 2)
        // --output's extension picks the format when --format is not given, and must agree with it when it is.
        let ptOut = dir.appendingPathComponent("by-extension.pt").path
        let byExtension = try run(["export", "--model", tiny, "--output", ptOut])
        XCTAssertEqual(byExtension.status, 0, byExtension.stderr)
        XCTAssertEqual(Array(try Data(contentsOf: URL(fileURLWithPath: ptOut)).prefix(2)), [0x50, 0x4B], "a zip (torch state dict), not safetensors")
        let clash = try run(["export", "--model", tiny, "--format", "safetensors", "--output", dir.appendingPathComponent("clash.pt").path])
        XCTAssertEqual(clash.status, 2)
        XCTAssertTrue(clash.stderr.contains("names a pt file but --format is safetensors"), clash.stderr)
        XCTAssertEqual(try run(["info", "--model", dir.appendingPathComponent("missing.pt").path]).status, 2)
        // Darknet models export too (DarknetExportTests); as Darknet files only in float32.
        let darknet = try run(["export", "--model", TestPaths.model("yolov3-tiny.cfg"), "--format", "darknet", "--output", dir.appendingPathComponent("d.cfg").path])
        let darknetHalf = try run(["export", "--model", TestPaths.model("yolov3-tiny.cfg"), "--format", "darknet", "--dtype", "fp16", "--output", dir.appendingPathComponent("h.cfg").path])
        if FileManager.default.fileExists(atPath: TestPaths.model("yolov3-tiny.cfg")) {
            XCTAssertEqual(darknet.status, 0, darknet.stderr)
            XCTAssertTrue(darknet.stdout.contains("d.weights"), darknet.stdout)
            XCTAssertEqual(darknetHalf.status, 2)
            XCTAssertTrue(darknetHalf.stderr.contains("float32 only"), darknetHalf.stderr)
        }
        let unwritable = try run(["export", "--model", tiny, "--output", dir.appendingPathComponent("no/such/dir/x.safetensors").path])
        XCTAssertEqual(unwritable.status, 1, unwritable.stderr)
    }
}
