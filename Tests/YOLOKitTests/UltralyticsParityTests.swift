import Foundation
import XCTest
@testable import YOLOKit

/// Raw head outputs and final detections against Ultralytics/PyTorch
/// (goldens from scripts/reference/ultralytics_golden.py, described in Tests/Fixtures/ultralytics/meta.json).
final class UltralyticsParityTests: XCTestCase {
    /// Runs `model` on a decoded PNG that already has the network's input size.
    func run(_ model: UltralyticsModel, inputPNG: String) throws -> FeatureMap {
        let image = try ImageDecoder.decode(contentsOf: inputPNG)
        let network = try model.makeNetwork(height: image.height, width: image.width)
        Preprocess.fill(network.input, with: image, x: 0, y: 0, pad: 0)
        network.forward(ExecutionOptions(threads: 2))
        return network.outputs[0]
    }

    /// Decoded head outputs [4 + nc, N] for the same input tensor: v8 and 11 (DFL, xywh), and YOLO26's
    /// one-to-one branch (xyxy, no DFL) and one-to-many branch (xywh, what Ultralytics 8.4 runs by default).
    func testSmallArchitecturesMatchPyTorch() throws {
        for (name, endToEnd, golden) in [("yolov8-tiny", nil, "yolov8-tiny_out"), ("yolo11-tiny", nil, "yolo11-tiny_out"),
                                         ("yolo26-tiny", true, "yolo26-tiny_one2one"), ("yolo26-tiny", false, "yolo26-tiny_one2many")] as [(String, Bool?, String)] {
            let model = try UltralyticsModel(path: TestPaths.fixture("ultralytics/\(name).pt"), endToEnd: endToEnd)
            let ours = try run(model, inputPNG: TestPaths.fixture("ultralytics/input_256x320.png")).buffer.array
            let expected = try readFloats(TestPaths.fixture("ultralytics/\(golden).f32"))
            XCTAssertEqual(ours.count, expected.count, golden)
            // These random-weight nets have large activations: PyTorch's own fp32 result differs from a float64
            // evaluation by up to 3e-3 px (meta.json), so boxes get 0.01 px; sigmoid scores get 1e-4.
            let boxes = 4 * ours.count / (4 + model.names.count)
            let boxError = zip(ours[..<boxes], expected[..<boxes]).map { abs($0 - $1) }.max() ?? .infinity
            let scoreError = zip(ours[boxes...], expected[boxes...]).map { abs($0 - $1) }.max() ?? .infinity
            XCTAssertLessThanOrEqual(boxError, 0.01, "\(golden): box error \(boxError) px")
            XCTAssertLessThanOrEqual(scoreError, 1e-4, "\(golden): score error \(scoreError)")
        }
    }

    /// YOLO26's NMS-free output: the top-k (box, score, class) rows Ultralytics returns.
    func testYOLO26TopKMatchesPyTorch() throws {
        let detector = try UltralyticsDetectionModel(path: TestPaths.fixture("ultralytics/yolo26-tiny.pt"), imageSize: 320, endToEnd: true)
        XCTAssertTrue(detector.model.endToEnd)
        XCTAssertFalse(detector.usesNMS)
        let image = try ImageDecoder.decode(contentsOf: TestPaths.fixture("ultralytics/input_256x320.png"))
        let network = try detector.model.makeNetwork(height: image.height, width: image.width)
        Preprocess.fill(network.input, with: image, x: 0, y: 0, pad: 0)
        network.forward()
        let ours = detector.candidates(from: network, confidence: -1, multiLabel: false)
        let golden = try readFloats(TestPaths.fixture("ultralytics/yolo26-tiny_out.f32"))  // [k, 6]: x1 y1 x2 y2 score class
        XCTAssertEqual(ours.count, golden.count / 6)
        for (i, d) in ours.enumerated() {
            let g = Array(golden[(i * 6)..<(i * 6 + 6)])
            XCTAssertEqual(d.confidence, g[4], accuracy: 1e-4, "row \(i)")
            // Rows whose scores tie within rounding may swap; require the same class and box when scores are distinct.
            let neighbours = [i - 1, i + 1].filter { (0..<ours.count).contains($0) }.map { golden[$0 * 6 + 4] }
            guard neighbours.allSatisfy({ abs($0 - g[4]) > 1e-4 }) else { continue }
            XCTAssertEqual(d.classIndex, Int(g[5]), "row \(i)")
            // Random weights give degenerate boxes (x2 < x1), so compare coordinates rather than IoU.
            for (a, b) in zip([d.box.x1, d.box.y1, d.box.x2, d.box.y2], g[0..<4]) { XCTAssertEqual(a, b, accuracy: 0.01, "row \(i)") }
        }
    }

    func testFallCheckpointRawOutputMatchesPyTorch() throws {
        let path = try TestPaths.requireModel("fall-yolov8s.pt")
        let model = try UltralyticsModel(path: path)
        XCTAssertEqual(model.names, ["Normal", "Fall"])
        XCTAssertEqual(model.strides, [8, 16, 32])
        let out = try run(model, inputPNG: TestPaths.fixture("ultralytics/fall_input_bus.png"))
        assertClose(out.buffer.array, try readFloats(TestPaths.fixture("ultralytics/fall_out_bus.f32")), "fall bus")
    }

    /// Our letterbox of the decoded photo equals Ultralytics' LetterBox output.
    func testLetterboxMatchesUltralytics() throws {
        let bus = try ImageDecoder.decode(contentsOf: try TestPaths.requireModel("samples/bus.jpg"))
        let golden = try ImageDecoder.decode(contentsOf: TestPaths.fixture("ultralytics/fall_input_bus.png"))
        let g = Preprocess.ultralyticsLetterboxGeometry(width: bus.width, height: bus.height, imageSize: 640)
        XCTAssertEqual([g.inputWidth, g.inputHeight], [golden.width, golden.height])
        let input = FeatureMap(shape: TensorShape(channels: 3, height: g.inputHeight, width: g.inputWidth))
        _ = Preprocess.ultralyticsLetterbox(bus, into: input, imageSize: 640)
        let expected = FeatureMap(shape: input.shape)
        Preprocess.fill(expected, with: golden, x: 0, y: 0, pad: 0)
        let maxDiff = zip(input.buffer.array, expected.buffer.array).map { abs($0 - $1) }.max() ?? 0
        XCTAssertLessThanOrEqual(maxDiff * 255, 1.01, "letterbox differs from Ultralytics by up to \(maxDiff * 255) levels")
    }

    /// Every Ultralytics detection matched by one of ours (same class, IoU ≥ 0.95, |Δconfidence| ≤ 0.02), none extra.
    func testFallCheckpointDetectionsMatchUltralytics() throws {
        let detector = try Detector(model: try TestPaths.requireModel("fall-yolov8s.pt"), execution: ExecutionOptions(threads: 2))
        for photo in ["bus", "zidane"] {
            let golden = try GoldenDetections(fixture: "ultralytics/fall_detections_\(photo).json")
            let result = try detector.detect(imageAt: TestPaths.model("samples/\(photo).jpg"), options: DetectionOptions(confidence: 0.25, iou: 0.7))
            assertDetectionsMatch(result, golden, photo)
        }
    }

    func testUnsupportedFilesAreClearErrors() throws {
        XCTAssertThrowsError(try UltralyticsModel(path: TestPaths.fixture("yolov3-tiny/meta.json"))) { error in
            XCTAssertTrue("\(error)".contains("meta.json"), "\(error)")
        }
    }
}
