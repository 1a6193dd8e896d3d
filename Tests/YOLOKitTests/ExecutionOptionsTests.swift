import Foundation
import XCTest
@testable import YOLOKit

/// Settings are values: detectors with different threads and backends side by side in one process, the Winograd
/// policy chosen per network, and `yolo detect --backend` on the command line.
final class ExecutionOptionsTests: XCTestCase {
    /// Every head output (exact float bits) and every box of one detection.
    struct Outcome: Equatable {
        var outputs: [[UInt32]]
        var boxes: [String]
    }

    func outcome(_ detector: Detector, _ image: RGBImage) -> Outcome {
        let result = detector.detect(image)
        let outputs = detector.network(for: image).outputs.map { $0.buffer.array.map(\.bitPattern) }
        return Outcome(outputs: outputs, boxes: result.boxes.map {
            "\($0.classIndex) \($0.confidence.bitPattern) \([$0.box.x1, $0.box.y1, $0.box.x2, $0.box.y2].map(\.bitPattern))"
        })
    }

    /// Two detectors of the same model, one on OpenBLAS with 1 thread and one on the Swift GEMM with 2, used from
    /// two threads at once: each gives exactly what it gives alone.
    func testTwoDetectorsWithDifferentSettingsRunConcurrently() throws {
        let cfg = try TestPaths.requireModel("yolov3-tiny.cfg")
        let image = try ImageDecoder.decode(contentsOf: try TestPaths.requireModel("samples/bus.jpg"))
        let detectors = [try Detector(model: cfg, execution: ExecutionOptions(threads: 1, backend: .blas)),
                         try Detector(model: cfg, execution: ExecutionOptions(threads: 2, backend: .swift))]
        let alone = detectors.map { outcome($0, image) }
        XCTAssertFalse(alone[0].boxes.isEmpty)
        XCTAssertNotEqual(alone[0].outputs, alone[1].outputs, "the backends round differently: the test would not see a mix-up")
        let lock = NSLock()
        var together: [[Outcome]] = [[], []]
        DispatchQueue.concurrentPerform(iterations: 2) { i in
            for _ in 0..<4 {
                let o = outcome(detectors[i], image)
                lock.lock(); together[i].append(o); lock.unlock()
            }
        }
        for i in 0..<2 {
            XCTAssertEqual(together[i].count, 4)
            for o in together[i] { XCTAssertTrue(o == alone[i], "detector \(i) gave other results while the other one ran") }
        }
    }

    /// The Winograd policy is part of the options a network is built with: off, F(2×2), F(4×4) or by measured rule,
    /// several in one process; every policy gives the same outputs to Winograd's rounding.
    func testWinogradPolicyPerNetwork() throws {
        let cfg = try TestPaths.requireModel("yolov3-tiny.cfg"), weights = TestPaths.model("yolov3-tiny.weights")
        let shape = TensorShape(channels: 3, height: 416, width: 416)
        let image = RGBImage(width: 416, height: 416, pixels: try readBytes(TestPaths.fixture("yolov3-tiny/input_416x416.rgb")))
        XCTAssertEqual(shape.count, image.pixels.count)
        var heads: [WinogradPolicy: [[Float]]] = [:]
        for policy in WinogradPolicy.allCases {
            let model = try DarknetLoader.load(cfgPath: cfg, weightsPath: weights, options: ExecutionOptions(winograd: policy))
            let tiles = model.network.nodes.compactMap { ($0.layer as? ConvolutionLayer)?.winograd?.tile }
            switch policy {
            case .off: XCTAssertTrue(tiles.isEmpty)
            case .f2x2: XCTAssertFalse(tiles.isEmpty); XCTAssertTrue(tiles.allSatisfy { $0 == .f2x2 })
            case .f4x4: XCTAssertFalse(tiles.isEmpty); XCTAssertTrue(tiles.allSatisfy { $0 == .f4x4 })
            case .measured: XCTAssertTrue(tiles.contains(.f2x2) && tiles.contains(.f4x4), "yolov3-tiny uses both tile sizes: \(tiles)")
            }
            Preprocess.fill(model.network.input, with: image, x: 0, y: 0, pad: 0)
            model.network.forward(ExecutionOptions(threads: 2))
            heads[policy] = model.network.outputs.map { $0.buffer.array }
        }
        for policy in WinogradPolicy.allCases where policy != .off {
            for (a, b) in zip(heads[policy]!, heads[.off]!) { assertClose(a, b, "\(policy) vs off", tolerance: 1e-3) }
        }
    }

    /// A run of fewer than 4 known images skips Winograd (`WinogradPolicy.forRun`): `yolo detect bus.jpg` prints
    /// what `YOLO_WINOGRAD=0` prints, bit for bit, and a folder (a count not known up front) keeps the measured rule.
    func testOneImageRunSkipsTheWinogradTransform() throws {
        XCTAssertEqual(WinogradPolicy.measured.forRun(forwards: 1), .off)
        XCTAssertEqual(WinogradPolicy.measured.forRun(forwards: 3), .off)
        XCTAssertEqual(WinogradPolicy.measured.forRun(forwards: 4), .measured)
        XCTAssertEqual(WinogradPolicy.measured.forRun(forwards: nil), .measured)
        XCTAssertEqual(WinogradPolicy.f4x4.forRun(forwards: 1), .f4x4)
        let bus = try TestPaths.requireModel("samples/bus.jpg")
        let folder = NSTemporaryDirectory() + "winograd-run-\(getpid())"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try FileManager.default.copyItem(atPath: bus, toPath: folder + "/bus.jpg")
        func detect(_ source: String, winograd: String?) throws -> String {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: try TestPaths.yoloBinary())
            p.arguments = ["detect", source, "--format", "json"]
            var environment = ProcessInfo.processInfo.environment.merging(["YOLO_MODELS_DIR": TestPaths.model("")]) { $1 }
            environment["YOLO_WINOGRAD"] = winograd
            p.environment = environment
            let out = Pipe()
            p.standardOutput = out
            try p.run()
            let data = out.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            XCTAssertEqual(p.terminationStatus, 0)
            // The same image by two names: compare the detections only.
            let images = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [[String: Any]])
            let detections = try JSONSerialization.data(withJSONObject: images.map { $0["detections"] ?? [] }, options: [.sortedKeys])
            return String(decoding: detections, as: UTF8.self)
        }
        let off = try detect(bus, winograd: "0")
        XCTAssertTrue(off.contains("person"))
        XCTAssertEqual(try detect(bus, winograd: nil), off, "one image: no Winograd")
        XCTAssertEqual(try detect(folder, winograd: "0"), off)
        XCTAssertNotEqual(try detect(folder, winograd: nil), off, "a folder runs the measured Winograd rule (its rounding shows in the 5th digit)")
    }

    /// `yolo detect --backend swift` gives the detections of `--backend blas`.
    func testDetectBackendFlag() throws {
        let bus = try TestPaths.requireModel("samples/bus.jpg"), zidane = try TestPaths.requireModel("samples/zidane.jpg")
        func detections(_ backend: String) throws -> [[String: Any]] {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: try TestPaths.yoloBinary())
            p.arguments = ["detect", bus, zidane, "--format", "json", "--backend", backend]
            p.environment = ProcessInfo.processInfo.environment.merging(["YOLO_MODELS_DIR": TestPaths.model("")]) { $1 }
            let out = Pipe()
            p.standardOutput = out
            try p.run()
            let data = out.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            XCTAssertEqual(p.terminationStatus, 0, backend)
            let images = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [[String: Any]])
            return images.flatMap { ($0["detections"] as? [[String: Any]]) ?? [] }
        }
        let blas = try detections("blas"), swift = try detections("swift")
        XCTAssertEqual(blas.count, 5)  // 3 persons on bus.jpg, 2 on zidane.jpg
        XCTAssertEqual(blas.count, swift.count)
        for (a, b) in zip(blas, swift) {
            XCTAssertEqual(a["class"] as? Int, b["class"] as? Int)
            XCTAssertEqual(a["confidence"] as? Double ?? -1, b["confidence"] as? Double ?? 1, accuracy: 1e-4)
            let boxA = a["box"] as? [String: Double] ?? [:], boxB = b["box"] as? [String: Double] ?? [:]
            for key in ["x1", "y1", "x2", "y2"] { XCTAssertEqual(boxA[key] ?? -1, boxB[key] ?? 1, accuracy: 0.01) }
        }
    }
}
