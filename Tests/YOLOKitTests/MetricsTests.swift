import Foundation
import XCTest
@testable import YOLOKit

/// The fixture scripts/reference/metrics_golden.py writes (Ultralytics' and pycocotools' own code on seeded data).
struct MetricsGolden: Decodable {
    struct Label: Decodable { let box: [Float]; let `class`: Int; let crowd: Bool }
    struct Prediction: Decodable { let box: [Float]; let conf: Float; let `class`: Int }
    struct Image: Decodable { let width: Int; let height: Int; let labels: [Label]; let predictions: [Prediction] }
    struct ClassRow: Decodable {
        let `class`: Int; let name: String; let images: Int; let instances: Int
        let precision: Double; let recall: Double; let mAP50: Double; let mAP50_95: Double; let ap: [Double]
        enum CodingKeys: String, CodingKey { case `class`, name, images, instances, precision, recall, mAP50, mAP50_95 = "mAP50-95", ap }
    }
    struct Ultralytics: Decodable {
        let correct: [[[Int]]]
        let images: Int; let instances: Int
        let precision: Double; let recall: Double; let mAP50: Double; let mAP50_95: Double; let fitness: Double
        let per_class: [ClassRow]
        enum CodingKeys: String, CodingKey { case correct, images, instances, precision, recall, mAP50, mAP50_95 = "mAP50-95", fitness, per_class }
    }
    struct Main: Decodable { let images: [Image]; let ultralytics: Ultralytics; let confusion_matrix: [[Int]] }
    struct Ties: Decodable { let images: [Image]; let ultralytics_stable: Ultralytics; let default_sort_differs: Bool }
    let names: [String]
    let iou_thresholds: [Float]
    let main: Main
    let ties: Ties

    static func load() throws -> MetricsGolden {
        try JSONDecoder().decode(MetricsGolden.self, from: Data(readBytes(TestPaths.fixture("metrics/metrics_golden.json"))))
    }
}

extension MetricsGolden.Image {
    var labelBoxes: [LabelBox] {
        labels.filter { !$0.crowd }.map { LabelBox(box: Box(x1: $0.box[0], y1: $0.box[1], x2: $0.box[2], y2: $0.box[3]), classIndex: $0.class) }
    }
    var predictedBoxes: [PredictedBox] {
        predictions.map { PredictedBox(box: Box(x1: $0.box[0], y1: $0.box[1], x2: $0.box[2], y2: $0.box[3]), confidence: $0.conf, classIndex: $0.class) }
    }
}

final class MetricsTests: XCTestCase {
    func testIoUThresholdsAreTorchLinspace() throws {
        let golden = try MetricsGolden.load()
        XCTAssertEqual(BoxMatching.iouThresholds, golden.iou_thresholds)
    }

    /// Per image, the correct matrix equals DetectionValidator.match_predictions bit for bit.
    func testMatchingEqualsUltralytics() throws {
        let golden = try MetricsGolden.load()
        for (images, ultra) in [(golden.main.images, golden.main.ultralytics), (golden.ties.images, golden.ties.ultralytics_stable)] {
            for (k, image) in images.enumerated() {
                let ranked = DetectionMetrics.ranked(image.predictedBoxes)
                let ours = BoxMatching.correct(predictions: ranked, labels: image.labelBoxes).map { $0.map { $0 ? 1 : 0 } }
                XCTAssertEqual(ours, ultra.correct[k], "image \(k)")
            }
        }
    }

    private func assertMetrics(_ images: [MetricsGolden.Image], _ golden: MetricsGolden.Ultralytics, names: [String],
                               file: StaticString = #filePath, line: UInt = #line) {
        var metrics = DetectionMetrics(classNames: names)
        for image in images { metrics.add(predictions: image.predictedBoxes, labels: image.labelBoxes) }
        let r = metrics.compute()
        let tol = 1e-6
        XCTAssertEqual(r.images, golden.images, file: file, line: line)
        XCTAssertEqual(r.instances, golden.instances, file: file, line: line)
        XCTAssertEqual(r.precision, golden.precision, accuracy: tol, "P", file: file, line: line)
        XCTAssertEqual(r.recall, golden.recall, accuracy: tol, "R", file: file, line: line)
        XCTAssertEqual(r.mAP50, golden.mAP50, accuracy: tol, "mAP50", file: file, line: line)
        XCTAssertEqual(r.mAP50_95, golden.mAP50_95, accuracy: tol, "mAP50-95", file: file, line: line)
        XCTAssertEqual(r.fitness, golden.fitness, accuracy: tol, "fitness", file: file, line: line)
        XCTAssertEqual(r.resultsDict["metrics/mAP50-95(B)"] ?? .nan, golden.mAP50_95, accuracy: tol, file: file, line: line)
        XCTAssertEqual(r.perClass.map(\.classIndex), golden.per_class.map(\.class), file: file, line: line)
        for (ours, theirs) in zip(r.perClass, golden.per_class) {
            XCTAssertEqual(ours.name, theirs.name, file: file, line: line)
            XCTAssertEqual(ours.images, theirs.images, "images of \(theirs.name)", file: file, line: line)
            XCTAssertEqual(ours.instances, theirs.instances, "instances of \(theirs.name)", file: file, line: line)
            XCTAssertEqual(ours.precision, theirs.precision, accuracy: tol, "P of \(theirs.name)", file: file, line: line)
            XCTAssertEqual(ours.recall, theirs.recall, accuracy: tol, "R of \(theirs.name)", file: file, line: line)
            XCTAssertEqual(ours.mAP50, theirs.mAP50, accuracy: tol, "mAP50 of \(theirs.name)", file: file, line: line)
            XCTAssertEqual(ours.mAP50_95, theirs.mAP50_95, accuracy: tol, "mAP50-95 of \(theirs.name)", file: file, line: line)
            for (a, b) in zip(ours.ap, theirs.ap) { XCTAssertEqual(a, b, accuracy: tol, "AP of \(theirs.name)", file: file, line: line) }
        }
    }

    /// Ultralytics' numbers on data with confidence ties that do not change their result.
    func testDetectionMetricsEqualUltralytics() throws {
        let golden = try MetricsGolden.load()
        assertMetrics(golden.main.images, golden.main.ultralytics, names: golden.names)
    }

    /// Ties that do change the result: Ultralytics' code with a stable sort (their default sort orders ties by the
    /// CPU's sorting kernel; the fixture records whether it differed on the machine that made it).
    func testDetectionMetricsWithTiesEqualUltralyticsStableOrder() throws {
        let golden = try MetricsGolden.load()
        assertMetrics(golden.ties.images, golden.ties.ultralytics_stable, names: golden.names)
    }

    func testConfusionMatrixEqualsUltralytics() throws {
        let golden = try MetricsGolden.load()
        var matrix = ConfusionMatrix(classCount: golden.names.count)
        for image in golden.main.images { matrix.add(predictions: image.predictedBoxes, labels: image.labelBoxes) }
        XCTAssertEqual(matrix.matrix, golden.main.confusion_matrix)
        let normalized = matrix.normalized()
        for c in 0...golden.names.count {
            let sum = normalized.reduce(0) { $0 + $1[c] }
            XCTAssertTrue(sum == 0 || abs(sum - 1) < 1e-6)
        }
    }

    // MARK: - units

    func testComputeAPOfPerfectAndEmptyCurves() {
        // Values from ultralytics.utils.metrics.compute_ap: a perfect curve gives 0.995, not 1 (np.interp at
        // recall 1 lands on the last sentinel, precision 0, so the last trapezoid is half).
        XCTAssertEqual(AveragePrecision.computeAP(recall: [1], precision: [1]).ap, 0.995, accuracy: 1e-12)
        XCTAssertEqual(AveragePrecision.computeAP(recall: [0], precision: [0]).ap, 0, accuracy: 1e-12)
        XCTAssertEqual(AveragePrecision.computeAP(recall: [0.5], precision: [1]).ap, 0.495, accuracy: 1e-12)
    }

    func testInterpFollowsNumpyWithTies() {
        let xp: [Double] = [0, 1, 1, 2], fp: [Double] = [0, 10, 20, 30]
        XCTAssertEqual(AveragePrecision.interp(1, xp, fp), 20)      // the last of the tied points
        XCTAssertEqual(AveragePrecision.interp(0.5, xp, fp), 5)
        XCTAssertEqual(AveragePrecision.interp(1.5, xp, fp), 25)
        XCTAssertEqual(AveragePrecision.interp(-1, xp, fp, left: 7), 7)
        XCTAssertEqual(AveragePrecision.interp(3, xp, fp), 30)
    }

    func testSmoothIsA101WideBoxFilterFor1000Points() {
        let y = (0..<1000).map { Double($0) }
        let s = AveragePrecision.smooth(y, fraction: 0.1)
        XCTAssertEqual(s.count, 1000)
        XCTAssertEqual(s[500], 500, accuracy: 1e-9)
        let firstWindow: Double = Double((0...50).reduce(0, +)) / 101.0  // 50 padded zeros, then 0…50
        XCTAssertEqual(s[0], firstWindow, accuracy: 1e-9)
    }

    func testMatchingIsOneToOnePerThreshold() {
        let label = LabelBox(box: Box(x1: 0, y1: 0, x2: 10, y2: 10), classIndex: 0)
        let exact = PredictedBox(box: Box(x1: 0, y1: 0, x2: 10, y2: 10), confidence: 0.9, classIndex: 0)
        let shifted = PredictedBox(box: Box(x1: 1, y1: 0, x2: 11, y2: 10), confidence: 0.8, classIndex: 0)
        let otherClass = PredictedBox(box: Box(x1: 0, y1: 0, x2: 10, y2: 10), confidence: 0.95, classIndex: 1)
        let rows = BoxMatching.correct(predictions: DetectionMetrics.ranked([shifted, exact, otherClass]), labels: [label])
        XCTAssertEqual(rows[0], [Bool](repeating: false, count: 10))  // other class: IoU zeroed
        XCTAssertEqual(rows[1], [Bool](repeating: true, count: 10))   // the exact box claims the label everywhere
        XCTAssertEqual(rows[2], [Bool](repeating: false, count: 10))  // nothing left to claim
    }

    func testNoLabelsGivesZerosAndBackgroundImagesCount() {
        var metrics = DetectionMetrics(classNames: ["a"])
        metrics.add(predictions: [PredictedBox(box: Box(x1: 0, y1: 0, x2: 5, y2: 5), confidence: 0.5, classIndex: 0)], labels: [])
        metrics.add(predictions: [], labels: [])
        let r = metrics.compute()
        XCTAssertEqual(r.images, 2)
        XCTAssertEqual(r.instances, 0)
        XCTAssertEqual(r.mAP50_95, 0)
        XCTAssertEqual(r.precision, 0)
        XCTAssertTrue(r.perClass.isEmpty)
        XCTAssertEqual(r.maps(classCount: 1), [0])
    }

    func testNaNConfidencesAreDroppedNotFatal() {
        var metrics = DetectionMetrics(classNames: ["a"])
        let label = LabelBox(box: Box(x1: 0, y1: 0, x2: 10, y2: 10), classIndex: 0)
        metrics.add(predictions: [PredictedBox(box: label.box, confidence: .nan, classIndex: 0),
                                  PredictedBox(box: label.box, confidence: 0.7, classIndex: 0)], labels: [label])
        XCTAssertEqual(metrics.compute().mAP50, AveragePrecision.computeAP(recall: [1], precision: [1]).ap, accuracy: 1e-12)
    }
}
