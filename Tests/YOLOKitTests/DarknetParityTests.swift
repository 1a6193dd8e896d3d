import Foundation
import XCTest
@testable import YOLOKit

/// Raw outputs and final detections against OpenCV DNN's Darknet importer
/// (goldens from scripts/reference/darknet_golden.py, described in Tests/Fixtures/*/meta.json).
final class DarknetParityTests: XCTestCase {
    /// Loads a model, feeds the golden input tensor (byte/255, NCHW) and runs the network.
    func runGoldenInput(cfg: String, weights: String, input: String) throws -> DarknetModel {
        let model = try DarknetLoader.load(cfgPath: cfg, weightsPath: weights)
        let shape = model.network.inputShape
        let image = RGBImage(width: shape.width, height: shape.height, pixels: try readBytes(input))
        Preprocess.fill(model.network.input, with: image, x: 0, y: 0, pad: 0)
        model.network.forward(ExecutionOptions(threads: 2))
        return model
    }

    /// Our [yolo] output in OpenCV's layout: rows (y·W + x)·A + a of [cx, cy, w, h, obj, obj·p(class)…] with
    /// class scores ≤ `zeroBelow` set to 0 as OpenCV does. Scores within 1e-4 of that cut are copied from
    /// the golden, so a rounding difference at the cut cannot flip a value between 0 and 0.2.
    func openCVRows(_ head: YOLOLayer, _ output: FeatureMap, golden: [Float], zeroBelow: Float) -> [Float] {
        let s = head.outputShape, columns = 5 + head.classes
        var rows = [Float](repeating: 0, count: s.planeSize * head.anchors.count * columns)
        for y in 0..<s.height { for x in 0..<s.width { for a in 0..<head.anchors.count {
            let r = ((y * s.width + x) * head.anchors.count + a) * columns
            let p = head.prediction(output, anchor: a, x: x, y: y)
            rows[r] = p.cx; rows[r + 1] = p.cy; rows[r + 2] = p.w; rows[r + 3] = p.h; rows[r + 4] = p.objectness
            for c in 0..<head.classes {
                let score = p.objectness * head.classProbability(output, anchor: a, x: x, y: y, class: c)
                rows[r + 5 + c] = abs(score - zeroBelow) < 1e-4 ? golden[r + 5 + c] : (score > zeroBelow ? score : 0)
            }
        }}}
        return rows
    }

    func checkRawOutputs(fixture: String, cfg: String, weights: String, input: String, heads: [(conv: Int, yolo: Int)]) throws {
        let model = try runGoldenInput(cfg: cfg, weights: weights, input: TestPaths.fixture("\(fixture)/\(input)"))
        for (conv, yolo) in heads {
            let logits = try readFloats(TestPaths.fixture("\(fixture)/conv_\(conv).f32"))
            assertClose(model.network.nodes[conv].output.buffer.array, logits, "\(fixture) conv_\(conv) logits")
            let head = try XCTUnwrap(model.network.nodes[yolo].layer as? YOLOLayer)
            let golden = try readFloats(TestPaths.fixture("\(fixture)/yolo_\(yolo).f32"))
            assertClose(openCVRows(head, model.network.nodes[yolo].output, golden: golden, zeroBelow: 0.2), golden, "\(fixture) yolo_\(yolo)")
        }
    }

    func testYOLOv3TinyRawOutputsMatchOpenCV() throws {
        let cfg = try TestPaths.requireModel("yolov3-tiny.cfg")
        try checkRawOutputs(fixture: "yolov3-tiny", cfg: cfg, weights: TestPaths.model("yolov3-tiny.weights"),
                            input: "input_416x416.rgb", heads: [(15, 16), (22, 23)])
    }

    /// yolov4-tiny topology (grouped route, mish, swish, shortcut, size-2 stride-1 maxpool, scale_x_y).
    func testTinyV4RawOutputsMatchOpenCV() throws {
        try checkRawOutputs(fixture: "tiny-v4", cfg: TestPaths.fixture("tiny-v4/tiny-v4.cfg"),
                            weights: TestPaths.fixture("tiny-v4/tiny-v4.weights"),
                            input: "input_96x96.rgb", heads: [(31, 32), (38, 39)])
    }

    /// Our preprocessing of the decoded photo equals OpenCV's imread + resize, byte for byte.
    func testBusPreprocessingMatchesOpenCV() throws {
        let bus = try TestPaths.requireModel("samples/bus.jpg")
        let image = try ImageDecoder.decode(contentsOf: bus)
        let ours = resizeBilinear(image, width: 416, height: 416).pixels
        let golden = try readBytes(TestPaths.fixture("yolov3-tiny/input_416x416.rgb"))
        let maxDiff = zip(ours, golden).map { abs(Int($0) - Int($1)) }.max() ?? 0
        let differing = zip(ours, golden).filter { $0 != $1 }.count
        XCTAssertLessThanOrEqual(maxDiff, 1, "decode+resize differs from OpenCV by up to \(maxDiff)")
        XCTAssertLessThan(differing, golden.count / 100, "\(differing) bytes differ from OpenCV")
    }

    /// Every golden detection matched by one of ours (same class, IoU ≥ 0.95, |Δconfidence| ≤ 0.02), none extra.
    func testDetectionsOnSamplePhotosMatchOpenCV() throws {
        let cfg = try TestPaths.requireModel("yolov3-tiny.cfg")
        let detector = try Detector(model: cfg, execution: ExecutionOptions(threads: 2))
        for photo in ["bus", "zidane"] {
            let golden = try GoldenDetections(fixture: "yolov3-tiny/detections_\(photo).json")
            let result = try detector.detect(imageAt: TestPaths.model("samples/\(photo).jpg"), options: DetectionOptions(confidence: 0.25, iou: 0.45))
            assertDetectionsMatch(result, golden, photo)
        }
    }
}
