import Foundation
import XCTest
@testable import YOLOKit

/// The two-stage detection (prepare off-thread, then network) and the ordered, bounded pipeline.
final class BatchPipelineTests: XCTestCase {
    static let tinyV4 = TestPaths.fixture("tiny-v4/tiny-v4.cfg")
    static let yolov8Tiny = TestPaths.fixture("ultralytics/yolov8-tiny.pt")

    /// Images of awkward sizes (odd, tall, wide, tiny) with structured content.
    func images() -> [RGBImage] {
        [(97, 61), (64, 200), (333, 17), (1, 1), (416, 416), (250, 251)].enumerated().map { i, size in
            BatchFixture.pattern(width: size.0, height: size.1, seed: UInt64(i + 1))
        }
    }

    func assertSame(_ a: DetectionResult, _ b: DetectionResult, _ message: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.boxes, b.boxes, message, file: file, line: line)
        XCTAssertEqual(a.width, b.width, message, file: file, line: line)
        XCTAssertEqual(a.height, b.height, message, file: file, line: line)
        XCTAssertEqual(a.inputShape, b.inputShape, message, file: file, line: line)
    }

    func testPreparedDetectionEqualsDirectDetectionDarknet() throws {
        let detector = try Detector(model: Self.tinyV4, execution: ExecutionOptions(threads: 2))
        let options = DetectionOptions(confidence: 0.05, maxDetections: 50)
        for (i, image) in images().enumerated() {
            assertSame(detector.detect(detector.prepare(image), options: options), detector.detect(image, options: options), "image \(i)")
        }
    }

    func testPreparedDetectionEqualsDirectDetectionUltralytics() throws {
        let detector = try Detector(model: Self.yolov8Tiny, execution: ExecutionOptions(threads: 2), imageSize: 160)
        let options = DetectionOptions(confidence: 0.05, maxDetections: 50)
        for (i, image) in images().enumerated() {
            // Rect letterbox: the prepared tensor's shape depends on the aspect ratio (one network per shape).
            assertSame(detector.detect(detector.prepare(image), options: options), detector.detect(image, options: options), "image \(i)")
        }
    }

    /// Many images through 2 network copies and 2 decoders with a small in-flight bound: outcomes come in
    /// input order, equal to one-by-one detection, with failures (unreadable, failed before, failed to write) in place.
    func testOrderedResultsEqualSequentialDetection() throws {
        let folder = try BatchFixture.temporaryFolder("pipeline")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        var items: [BatchItem] = []
        for (i, image) in (images() + images()).enumerated() {
            let path = folder + "/\(i).png"
            if i == 3 {
                try BatchFixture.write(Array("not an image".utf8), to: path)
            } else {
                try BatchFixture.write(try ImageEncoder.pngData(image), to: path)
            }
            items.append(BatchItem(path: path, relativePath: "\(i).png"))
        }
        items.append(BatchItem(path: folder + "/missing", relativePath: "missing", failure: "no images here"))
        let options = DetectionOptions(confidence: 0.05, maxDetections: 20)
        let reference = try Detector(model: Self.tinyV4, execution: ExecutionOptions(threads: 1))
        var configuration = BatchPipeline.Configuration()
        configuration.prepareThreads = 2
        configuration.inFlight = 3
        configuration.options = options
        configuration.keepImages = true
        let lock = NSLock()
        var rendered = 0
        let pipeline = BatchPipeline(items: items, detectors: [try Detector(model: Self.tinyV4, execution: ExecutionOptions(threads: 1)), try Detector(model: Self.tinyV4, execution: ExecutionOptions(threads: 1))],
                                     configuration: configuration) { item, result, image in
            XCTAssertEqual(image?.width, result.width)
            if item.relativePath == "5.png" { throw OutputError(path: "x", reason: "disk full") }
            lock.lock(); rendered += 1; lock.unlock()
        }
        var seen: [Int] = []
        let consumed = pipeline.run { index, outcome in
            seen.append(index)
            let item = items[index]
            switch outcome {
            case .success(let result, _):
                XCTAssertEqual(result.path, item.path)
                self.assertSame(result, try! reference.detect(imageAt: item.path, options: options), item.relativePath)
            case .failure(let failure):
                XCTAssertEqual(failure.path, item.path)
                switch item.relativePath {
                case "3.png": XCTAssertEqual(failure.reason, "not a JPEG or PNG image")
                case "5.png": XCTAssertEqual(failure.reason, "cannot write outputs: x: disk full")
                case "missing": XCTAssertEqual(failure.reason, "no images here")
                default: XCTFail("unexpected failure \(failure)")
                }
            }
        }
        XCTAssertEqual(consumed, items.count)
        XCTAssertEqual(seen, Array(items.indices))
        XCTAssertEqual(rendered, items.count - 3)
    }

    func testCancelStopsEarly() throws {
        let image = try ImageEncoder.pngData(BatchFixture.pattern(width: 64, height: 64, seed: 3))
        let folder = try BatchFixture.temporaryFolder("cancel")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try BatchFixture.write(image, to: folder + "/a.png")
        let items = (0..<50).map { _ in BatchItem(path: folder + "/a.png", relativePath: "a.png") }
        let pipeline = BatchPipeline(items: items, detectors: [try Detector(model: Self.tinyV4, execution: ExecutionOptions(threads: 1))], configuration: .init())
        let consumed = pipeline.run { index, _ in if index == 4 { pipeline.cancel() } }
        XCTAssertEqual(consumed, 5)
    }
}
