import Foundation
import XCTest
@testable import YOLOKit

/// `Detector(model:)` with no settings gives what `YOLO(checkpoint).predict(photo)` gives with no arguments
/// (scripts/reference/predict_defaults_golden.py): the checkpoint's training imgsz (320 for the tiny test
/// checkpoints) as the input size, and for YOLO26 the one-to-many head with NMS, Ultralytics' default.
final class PredictDefaultsTests: XCTestCase {
    struct Golden: Decodable {
        struct Item: Decodable { let `class`: Int; let confidence: Float; let box: [Float] }
        struct Photo: Decodable { let imgsz: Int; let detections: [Item] }
        let checkpoints: [String: [String: Photo]]
    }

    func testDefaultsAreUltralyticsPredictDefaults() throws {
        let golden = try JSONDecoder().decode(Golden.self, from: Data(try readBytes(TestPaths.fixture("ultralytics/predict_defaults.json"))))
        XCTAssertEqual(golden.checkpoints.count, 3)
        for (name, photos) in golden.checkpoints.sorted(by: { $0.key < $1.key }) {
            let detector = try Detector(model: TestPaths.fixture("ultralytics/\(name).pt"), execution: ExecutionOptions(threads: 2))
            XCTAssertEqual(detector.model.fileDefaults.first { $0.key == "imgsz" }?.value, "320", name)
            XCTAssertTrue(detector.model.usesNMS, "\(name): the default head is the one that needs NMS")
            for (photo, expected) in photos.sorted(by: { $0.key < $1.key }) {
                let result = try detector.detect(imageAt: try TestPaths.requireModel("samples/" + photo))
                let what = "\(name) \(photo)"
                XCTAssertEqual(max(result.inputShape.width, result.inputShape.height), expected.imgsz, what)
                XCTAssertEqual(result.boxes.count, expected.detections.count, what)
                var unmatched = result.boxes
                var missing = 0
                // Coordinates compared one by one (random weights give some boxes with x1 > x2, where IoU means nothing).
                for g in expected.detections {
                    func close(_ d: Detection) -> Bool {
                        zip([d.box.x1, d.box.y1, d.box.x2, d.box.y2], g.box).allSatisfy { abs($0 - $1) <= 0.5 }
                    }
                    if let i = unmatched.firstIndex(where: { $0.classIndex == g.class && abs($0.confidence - g.confidence) <= 0.02 && close($0) }) {
                        unmatched.remove(at: i)
                    } else {
                        missing += 1
                    }
                }
                XCTAssertEqual(missing, 0, "\(what): \(missing) of Ultralytics' \(expected.detections.count) detections have no match")
            }
        }
    }

    /// `endToEnd: true` (`yolo detect --end2end`) runs YOLO26's NMS-free branch instead.
    func testEndToEndIsOptIn() throws {
        let path = TestPaths.fixture("ultralytics/yolo26-tiny.pt")
        let nms = try UltralyticsDetectionModel(path: path), e2e = try UltralyticsDetectionModel(path: path, endToEnd: true)
        XCTAssertTrue(nms.usesNMS)
        XCTAssertFalse(nms.model.endToEnd)
        XCTAssertFalse(e2e.usesNMS)
        XCTAssertTrue(e2e.model.endToEnd)
        XCTAssertThrowsError(try UltralyticsDetectionModel(path: TestPaths.fixture("ultralytics/yolov8-tiny.pt"), endToEnd: true)) {
            XCTAssertTrue("\($0)".contains("no one-to-one (end-to-end) head"), "\($0)")
        }
    }
}
