import XCTest
@testable import YOLOKit

final class NMSTests: XCTestCase {
    func d(_ c: Int, _ conf: Float, _ x1: Float, _ y1: Float, _ x2: Float, _ y2: Float) -> Detection {
        Detection(classIndex: c, name: "c\(c)", confidence: conf, box: Box(x1: x1, y1: y1, x2: x2, y2: y2))
    }

    func testIoU() {
        let a = Box(x1: 0, y1: 0, x2: 10, y2: 10), b = Box(x1: 5, y1: 0, x2: 15, y2: 10)
        XCTAssertEqual(a.iou(b), 50 / 150, accuracy: 1e-6)
        XCTAssertEqual(a.iou(Box(x1: 20, y1: 20, x2: 30, y2: 30)), 0)
        XCTAssertEqual(a.iou(a), 1)
    }

    func testPerClassSuppression() {
        let boxes = [d(0, 0.9, 0, 0, 10, 10), d(0, 0.8, 1, 1, 11, 11), d(1, 0.7, 1, 1, 11, 11), d(0, 0.6, 50, 50, 60, 60)]
        let kept = nonMaxSuppression(boxes, iouThreshold: 0.45)
        XCTAssertEqual(kept.map(\.confidence), [0.9, 0.7, 0.6])  // same-class overlap dropped, other class kept
        let agnostic = nonMaxSuppression(boxes, iouThreshold: 0.45, agnostic: true)
        XCTAssertEqual(agnostic.map(\.confidence), [0.9, 0.6])
        XCTAssertEqual(nonMaxSuppression(boxes, iouThreshold: 0.45, maxDetections: 2).map(\.confidence), [0.9, 0.7])
    }

    func testThresholdIsStrict() {
        // IoU exactly at the threshold is kept (suppress only when IoU > threshold), like OpenCV and Ultralytics.
        let boxes = [d(0, 0.9, 0, 0, 10, 10), d(0, 0.8, 5, 0, 15, 10)]  // IoU = 1/3
        XCTAssertEqual(nonMaxSuppression(boxes, iouThreshold: 1.0 / 3.0).count, 2)
        XCTAssertEqual(nonMaxSuppression(boxes, iouThreshold: 0.3).count, 1)
    }
}
