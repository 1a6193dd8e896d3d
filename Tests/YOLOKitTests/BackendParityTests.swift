import Foundation
import XCTest
@testable import YOLOKit

/// Whole models on both GEMM backends: every layer output equal to float-rounding tolerance, the same
/// detections, and the Swift backend still within the reference tolerance of the OpenCV / PyTorch goldens.
final class BackendParityTests: XCTestCase {
    /// Runs `network` with `gemm` on its current input; returns every node's output.
    func run(_ network: Network, _ gemm: any GEMMBackend) -> [[Float]] {
        network.forward(gemm: gemm, threads: 2)
        return network.nodes.map { $0.output.buffer.array }
    }

    /// Every node's output: |swift − blas| ≤ tolerance · max(1, |blas|).
    func assertSameOutputs(_ network: Network, tolerance: Float, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        let blas = run(network, OpenBLASGEMM(threads: 2))
        let swift = run(network, SwiftGEMM(threads: 2))
        var worst: Float = 0, worstNode = -1
        for (i, (a, b)) in zip(blas, swift).enumerated() {
            // An Ultralytics Detect head's first 4 rows are box coordinates in input pixels: compared as the PyTorch
            // goldens compare them (UltralyticsParityTests), to 0.01 px — a coordinate of 0.4 px that the backends
            // round 6e-4 px apart (yolo11-tiny, random weights) is not a relative error of 1.6e-3.
            let pixelRows = network.nodes[i].layer.kind == "detect" ? 4 * network.nodes[i].output.shape.width : 0
            for (j, (x, y)) in zip(a, b).enumerated() {
                let err = j < pixelRows ? abs(x - y) / 0.01 * tolerance : abs(x - y) / max(1, abs(x))
                if !(err <= worst) { worst = err.isNaN ? .infinity : err; worstNode = i }
            }
        }
        XCTAssertLessThanOrEqual(worst, tolerance, "\(what): worst relative difference \(worst) at node \(worstNode) (\(worstNode >= 0 ? network.nodes[worstNode].layer.kind : ""))",
                                 file: file, line: line)
    }

    func testYOLOv3TinySameOutputsAndDetections() throws {
        let cfg = try TestPaths.requireModel("yolov3-tiny.cfg")
        let model = try DarknetLoader.load(cfgPath: cfg, weightsPath: TestPaths.model("yolov3-tiny.weights"))
        let shape = model.network.inputShape
        let image = RGBImage(width: shape.width, height: shape.height, pixels: try readBytes(TestPaths.fixture("yolov3-tiny/input_416x416.rgb")))
        Preprocess.fill(model.network.input, with: image, x: 0, y: 0, pad: 0)
        assertSameOutputs(model.network, tolerance: 1e-4, "yolov3-tiny")
        // The Swift backend against OpenCV's logits for the same input (the tolerance DarknetParityTests uses with OpenBLAS).
        _ = run(model.network, SwiftGEMM(threads: 2))
        for conv in [15, 22] {
            let golden = try readFloats(TestPaths.fixture("yolov3-tiny/conv_\(conv).f32"))
            let ours = model.network.nodes[conv].output.buffer.array
            XCTAssertEqual(ours.count, golden.count)
            let worst = zip(ours, golden).map { abs($0 - $1) / max(1, abs($1)) }.max() ?? .infinity
            XCTAssertLessThanOrEqual(worst, 1e-4, "swift backend vs OpenCV conv_\(conv)")
        }
        try assertSameDetections(model: "yolov3-tiny", photos: ["bus.jpg", "zidane.jpg"])
    }

    func testTinyV4TopologySameOutputs() throws {
        let model = try DarknetLoader.load(cfgPath: TestPaths.fixture("tiny-v4/tiny-v4.cfg"), weightsPath: TestPaths.fixture("tiny-v4/tiny-v4.weights"))
        let shape = model.network.inputShape
        let image = RGBImage(width: shape.width, height: shape.height, pixels: try readBytes(TestPaths.fixture("tiny-v4/input_96x96.rgb")))
        Preprocess.fill(model.network.input, with: image, x: 0, y: 0, pad: 0)
        assertSameOutputs(model.network, tolerance: 1e-4, "tiny-v4")
    }

    /// Small Ultralytics architectures (random weights, large activations): v8 (DFL), 11 (C3k2, C2PSA attention:
    /// its GEMMs go through the backend too), 26 (end-to-end head).
    func testUltralyticsArchitecturesSameOutputs() throws {
        for name in ["yolov8-tiny", "yolo11-tiny", "yolo26-tiny"] {
            let model = try UltralyticsModel(path: TestPaths.fixture("ultralytics/\(name).pt"))
            let image = try ImageDecoder.decode(contentsOf: TestPaths.fixture("ultralytics/input_256x320.png"))
            let network = try model.makeNetwork(height: image.height, width: image.width)
            Preprocess.fill(network.input, with: image, x: 0, y: 0, pad: 0)
            // Random-weight activations reach 1e3–1e4: relative tolerance as for the PyTorch goldens.
            assertSameOutputs(network, tolerance: 1e-4, name)
        }
    }

    func testFallYOLOv8sSameOutputsAndDetections() throws {
        let path = try TestPaths.requireModel("fall-yolov8s.pt")
        let model = try UltralyticsModel(path: path)
        let image = try ImageDecoder.decode(contentsOf: TestPaths.fixture("ultralytics/fall_input_bus.png"))
        let network = try model.makeNetwork(height: image.height, width: image.width)
        Preprocess.fill(network.input, with: image, x: 0, y: 0, pad: 0)
        assertSameOutputs(network, tolerance: 1e-4, "fall-yolov8s")
        // The Swift backend against PyTorch's raw output for the same input (as UltralyticsParityTests with OpenBLAS).
        _ = run(network, SwiftGEMM(threads: 2))
        let golden = try readFloats(TestPaths.fixture("ultralytics/fall_out_bus.f32"))
        let ours = network.outputs[0].buffer.array
        XCTAssertEqual(ours.count, golden.count)
        let worst = zip(ours, golden).map { abs($0 - $1) / max(1, abs($1)) }.max() ?? .infinity
        XCTAssertLessThanOrEqual(worst, 1e-4, "swift backend vs PyTorch fall bus")
        try assertSameDetections(model: path, photos: ["bus.jpg", "zidane.jpg"])
    }

    /// Detector end to end with each backend: same boxes (class, confidence to 1e-4, coordinates to 0.01 px).
    func assertSameDetections(model: String, photos: [String], file: StaticString = #filePath, line: UInt = #line) throws {
        let blasDetector = try Detector(model: model, execution: ExecutionOptions(threads: 2, backend: .blas))
        let swiftDetector = try Detector(model: model, execution: ExecutionOptions(threads: 2, backend: .swift))
        for photo in photos {
            let path = try TestPaths.requireModel("samples/" + photo)
            let blas = try blasDetector.detect(imageAt: path).boxes
            let swift = try swiftDetector.detect(imageAt: path).boxes
            XCTAssertFalse(blas.isEmpty, "\(model) \(photo): no detections", file: file, line: line)
            XCTAssertEqual(blas.count, swift.count, "\(model) \(photo): number of detections", file: file, line: line)
            for (a, b) in zip(blas, swift) {
                XCTAssertEqual(a.classIndex, b.classIndex, "\(model) \(photo)", file: file, line: line)
                XCTAssertEqual(a.confidence, b.confidence, accuracy: 1e-4, "\(model) \(photo)", file: file, line: line)
                for (p, q) in zip([a.box.x1, a.box.y1, a.box.x2, a.box.y2], [b.box.x1, b.box.y1, b.box.x2, b.box.y2]) {
                    XCTAssertEqual(p, q, accuracy: 0.01, "\(model) \(photo)", file: file, line: line)
                }
            }
        }
    }
}
