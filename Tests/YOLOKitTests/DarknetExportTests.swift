import Foundation
import XCTest
@testable import YOLOKit

/// Darknet models out and back in: the exported cfg + .weights are the source files byte for byte (so OpenCV DNN and
/// Darknet read them as they read the originals); safetensors and state-dict exports name every conv / BatchNorm tensor;
/// an exported safetensors loads alone and gives bit-identical raw outputs; a lying export is an error naming the tensor.
final class DarknetExportTests: TemporaryFolderTestCase {
    func testDarknetFilesAreTheSourceFiles() throws {
        let cfg = try TestPaths.requireModel("yolov3-tiny.cfg")
        let model = try ModelFile.load(cfg, options: ExecutionOptions(threads: 2))
        let out = tempDir.appendingPathComponent("tiny.cfg").path
        let report = try model.export(to: out, format: .darknet, dtype: .float32)
        XCTAssertEqual(report.largestWeightChange, 0)
        XCTAssertEqual(try readBytes(out), try readBytes(cfg))
        XCTAssertEqual(try readBytes(tempDir.appendingPathComponent("tiny.weights").path), try readBytes(TestPaths.model("yolov3-tiny.weights")))
        let names = try String(contentsOfFile: tempDir.appendingPathComponent("tiny.names").path, encoding: .utf8)
        XCTAssertEqual(names.split(separator: "\n").count, 80)
        XCTAssertThrowsError(try model.export(to: cfg, format: .darknet, dtype: .float32)) { XCTAssertTrue("\($0)".contains("is the model being exported"), "\($0)") }
        XCTAssertThrowsError(try model.export(to: out, format: .darknet, dtype: .float16)) { XCTAssertTrue("\($0)".contains("float32 only"), "\($0)") }
    }

    func testSafetensorsRoundTrip() throws {
        let image = try ImageDecoder.decode(contentsOf: try TestPaths.requireModel("samples/bus.jpg"))
        for (cfg, weights) in [(try TestPaths.requireModel("yolov3-tiny.cfg"), TestPaths.model("yolov3-tiny.weights")),
                               (TestPaths.fixture("tiny-v4/tiny-v4.cfg"), TestPaths.fixture("tiny-v4/tiny-v4.weights"))] {
            let source = try DarknetDetectionModel.load(cfgPath: cfg, weightsPath: weights)
            let expected = source.rawOutputs(for: image)
            let out = tempDir.appendingPathComponent(((cfg as NSString).lastPathComponent as NSString).deletingPathExtension + ".safetensors").path
            _ = try source.export(to: out, format: .safetensors, dtype: .float32)
            let file = try SafetensorsFile(path: out)
            XCTAssertEqual(file.metadata["format"], DarknetExport.formatTag)
            XCTAssertNotNil(file.entry(named: "layers.0.bn.running_var"))
            let loaded = try ModelFile.load(out)
            XCTAssertEqual(loaded.names, source.names)
            XCTAssertEqual(loaded.rawOutputs(for: image).map(\.bitPattern), expected.map(\.bitPattern), cfg)
            // Exported again as Darknet files from the safetensors: the original weights bytes.
            let again = tempDir.appendingPathComponent("again.cfg").path
            _ = try loaded.export(to: again, format: .darknet, dtype: .float32)
            XCTAssertEqual(try readBytes(tempDir.appendingPathComponent("again.weights").path), try readBytes(weights), cfg)
            // fp16: the largest weight change is reported, and the file loads.
            let half = tempDir.appendingPathComponent("half.safetensors").path
            let report = try source.export(to: half, format: .safetensors, dtype: .float16)
            XCTAssertGreaterThan(report.largestWeightChange, 0)
            XCTAssertEqual(try ModelFile.load(half).rawOutputs(for: image).count, expected.count)
        }
    }

    func testStateDictPt() throws {
        let model = try ModelFile.load(try TestPaths.requireModel("yolov3-tiny.cfg"))
        let out = tempDir.appendingPathComponent("tiny.pt").path
        let report = try model.export(to: out, format: .pt, dtype: .float32)
        let checkpoint = try TorchCheckpoint(path: out)
        XCTAssertEqual(checkpoint.tensors.count, report.tensorCount)
        XCTAssertEqual(report.tensorCount, 13 * 2 + 11 * 3)  // 13 convs: weight + (bias or bn.bias); 11 with BatchNorm: + 3
    }

    func testLyingExportsAreErrors() throws {
        let source = try DarknetDetectionModel.load(cfgPath: TestPaths.fixture("tiny-v4/tiny-v4.cfg"), weightsPath: TestPaths.fixture("tiny-v4/tiny-v4.weights"))
        let good = tempDir.appendingPathComponent("good.safetensors").path
        _ = try source.export(to: good, format: .safetensors, dtype: .float32)
        let file = try SafetensorsFile(path: good)
        let tensors = file.tensors(), metadata = file.metadata
        func expectError(_ tensors: [WeightTensor], _ metadata: [String: String], _ fragment: String, line: UInt = #line) throws {
            let path = tempDir.appendingPathComponent("bad-\(UUID().uuidString.prefix(6)).safetensors").path
            try SafetensorsWriter.write(tensors, metadata: metadata, to: path)
            XCTAssertThrowsError(try ModelFile.load(path), line: line) { error in
                XCTAssertTrue("\(error)".hasPrefix(path) && "\(error)".contains(fragment), "\(error)", line: line)
            }
        }
        try expectError(Array(tensors.dropFirst()), metadata, "is missing")
        try expectError(tensors + [WeightTensor(name: "extra", shape: [1], floats: [0])], metadata, "not used by the cfg: extra")
        var reshaped = tensors
        reshaped[0] = WeightTensor(name: reshaped[0].name, shape: [reshaped[0].elementCount!, 1], floats: reshaped[0].floats())
        try expectError(reshaped, metadata, "has shape")
        var noCfg = metadata
        noCfg["cfg"] = nil
        try expectError(tensors, noCfg, "no 'cfg'")
        var badSeen = metadata
        badSeen["seen"] = "many"
        try expectError(tensors, badSeen, "'seen'")
    }
}
