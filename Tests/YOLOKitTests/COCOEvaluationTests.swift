import Foundation
import XCTest
@testable import YOLOKit

final class COCOEvaluationTests: TemporaryFolderTestCase {
    /// The `coco` part of metrics_golden.json: ground truth (as json), detections, and pycocotools' numbers.
    private struct Golden: Decodable {
        struct Detection: Decodable { let image_id: Int64; let category_id: Int64; let bbox: [Double]; let score: Double }
        struct Category: Decodable { let category_id: Int64; let ap: Double; let ap50: Double }
        struct Reference: Decodable { let stats: [Double]; let per_category: [Category] }
        let detections: [Detection]
        let pycocotools: Reference
    }

    private func loadGolden() throws -> (COCOGroundTruth, [COCODetection], Golden.Reference) {
        let data = Data(try readBytes(TestPaths.fixture("metrics/metrics_golden.json")))
        guard let root = try JSONSerialization.jsonObject(with: data) as? [String: Any], let coco = root["coco"] as? [String: Any],
              let gtObject = coco["ground_truth"] else { throw CocoaError(.fileReadCorruptFile) }
        let gt = try COCOGroundTruth.parse(try JSONSerialization.data(withJSONObject: gtObject), path: "golden ground truth")
        let golden = try JSONDecoder().decode(Golden.self, from: try JSONSerialization.data(withJSONObject: coco))
        let detections = golden.detections.map {
            COCODetection(imageID: $0.image_id, categoryID: $0.category_id,
                          bbox: COCOBox(x: $0.bbox[0], y: $0.bbox[1], width: $0.bbox[2], height: $0.bbox[3]), score: $0.score)
        }
        return (gt, detections, golden.pycocotools)
    }

    func testTwelveStatsEqualPycocotools() throws {
        let (gt, detections, reference) = try loadGolden()
        XCTAssertTrue(gt.annotations.contains { $0.isCrowd })
        let result = try COCOEvaluation.evaluate(groundTruth: gt, detections: detections)
        XCTAssertEqual(result.stats.count, 12)
        for (i, (ours, theirs)) in zip(result.stats, reference.stats).enumerated() {
            XCTAssertEqual(ours, theirs, accuracy: 1e-6, COCOEvaluation.Result.statNames[i])
        }
        XCTAssertEqual(result.perCategory.map(\.categoryID), reference.per_category.map(\.category_id))
        for (ours, theirs) in zip(result.perCategory, reference.per_category) {
            XCTAssertEqual(ours.ap, theirs.ap, accuracy: 1e-6, "AP of category \(theirs.category_id)")
            XCTAssertEqual(ours.ap50, theirs.ap50, accuracy: 1e-6, "AP50 of category \(theirs.category_id)")
        }
    }

    func testPerfectDetectionsScoreOne() throws {
        let json = """
        {"images": [{"id": 1, "file_name": "a.jpg", "width": 640, "height": 480}],
         "annotations": [{"id": 1, "image_id": 1, "category_id": 2, "bbox": [10, 10, 200, 200], "area": 40000, "iscrowd": 0},
                         {"id": 2, "image_id": 1, "category_id": 2, "bbox": [300, 300, 20, 20], "area": 400, "iscrowd": 0}],
         "categories": [{"id": 2, "name": "thing"}]}
        """
        let gt = try COCOGroundTruth.parse(Data(json.utf8), path: "gt.json")
        let dets = gt.annotations.map { COCODetection(imageID: $0.imageID, categoryID: $0.categoryID, bbox: $0.bbox, score: 0.9) }
        let stats = try COCOEvaluation.evaluate(groundTruth: gt, detections: dets).stats
        XCTAssertEqual(stats[0], 1, accuracy: 1e-12)
        XCTAssertEqual(stats[4], -1)  // no medium objects
        XCTAssertEqual(stats[6], 0.5, accuracy: 1e-12)  // one detection allowed, two objects
        // No detections at all: zeros where there are objects (pycocotools cannot load an empty result list).
        XCTAssertEqual(try COCOEvaluation.evaluate(groundTruth: gt, detections: []).stats[0], 0)
    }

    func testCrowdAnnotationsAbsorbDetections() throws {
        let json = """
        {"images": [{"id": 1, "file_name": "a.jpg"}],
         "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 100, 100], "area": 10000, "iscrowd": 1},
                         {"id": 2, "image_id": 1, "category_id": 1, "bbox": [200, 200, 50, 50], "area": 2500, "iscrowd": 0}],
         "categories": [{"id": 1, "name": "people"}]}
        """
        let gt = try COCOGroundTruth.parse(Data(json.utf8), path: "gt.json")
        let dets = [
            COCODetection(imageID: 1, categoryID: 1, bbox: COCOBox(x: 200, y: 200, width: 50, height: 50), score: 0.5),
            COCODetection(imageID: 1, categoryID: 1, bbox: COCOBox(x: 10, y: 10, width: 30, height: 30), score: 0.9),  // inside the crowd
            COCODetection(imageID: 1, categoryID: 1, bbox: COCOBox(x: 50, y: 50, width: 30, height: 30), score: 0.8),  // inside the crowd
        ]
        XCTAssertEqual(try COCOEvaluation.evaluate(groundTruth: gt, detections: dets).stats[0], 1, accuracy: 1e-12)
    }

    func testDetectionOnUnknownImageIsAnError() throws {
        let gt = try COCOGroundTruth.parse(Data(#"{"images": [{"id": 1}], "annotations": [], "categories": [{"id": 1, "name": "a"}]}"#.utf8), path: "gt.json")
        let det = COCODetection(imageID: 7, categoryID: 1, bbox: COCOBox(x: 0, y: 0, width: 1, height: 1), score: 1)
        XCTAssertThrowsError(try COCOEvaluation.evaluate(groundTruth: gt, detections: [det])) { error in
            XCTAssertTrue("\(error)".contains("image id 7"), "\(error)")
        }
        let nan = COCODetection(imageID: 1, categoryID: 1, bbox: COCOBox(x: 0, y: 0, width: 1, height: 1), score: .nan)
        XCTAssertThrowsError(try COCOEvaluation.evaluate(groundTruth: gt, detections: [nan]))
    }

    /// Every malformed ground truth gives one clear DatasetError naming the file, never a crash.
    func testHostileGroundTruthGivesClearErrors() throws {
        let valid = #"{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 5, 5], "area": 25, "iscrowd": 0}"#
        func doc(images: String = #"[{"id": 1}]"#, annotations: String, categories: String = #"[{"id": 1, "name": "a"}]"#) -> String {
            #"{"images": \#(images), "annotations": \#(annotations), "categories": \#(categories)}"#
        }
        let cases: [(String, String, String)] = [
            ("empty", "", "not valid JSON"),
            ("truncated", #"{"images": [{"id": 1}"#, "not valid JSON"),
            ("not an object", "[1, 2]", "top level is not an object"),
            ("no images", #"{"annotations": [], "categories": []}"#, "no 'images'"),
            ("images not a list", #"{"images": 3, "annotations": [], "categories": []}"#, "'images' is 3"),
            ("image not an object", doc(images: "[5]", annotations: "[]"), "images[0]"),
            ("image without id", doc(images: #"[{"file_name": "a"}]"#, annotations: "[]"), "has no 'id'"),
            ("image id a string", doc(images: #"[{"id": "x"}]"#, annotations: "[]"), "not an integer"),
            ("image id fractional", doc(images: #"[{"id": 1.5}]"#, annotations: "[]"), "not an integer"),
            ("duplicate image", doc(images: #"[{"id": 1}, {"id": 1}]"#, annotations: "[]"), "appears twice"),
            ("negative width", doc(images: #"[{"id": 1, "width": -3}]"#, annotations: "[]"), "'width'"),
            ("duplicate category", doc(annotations: "[]", categories: #"[{"id": 1}, {"id": 1}]"#), "appears twice"),
            ("annotation not an object", doc(annotations: "[null]"), "annotations[0]"),
            ("bbox missing", doc(annotations: #"[{"id": 1, "image_id": 1, "category_id": 1, "area": 1}]"#), "no 'bbox'"),
            ("bbox short", doc(annotations: #"[{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 2, 3], "area": 1}]"#), "'bbox'"),
            ("bbox strings", doc(annotations: #"[{"id": 1, "image_id": 1, "category_id": 1, "bbox": ["a", 2, 3, 4], "area": 1}]"#), "'bbox'"),
            ("bbox huge", doc(annotations: #"[{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1e999, 2, 3, 4], "area": 1}]"#), ""),
            ("area missing", doc(annotations: #"[{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4]}]"#), "no 'area'"),
            ("area string", doc(annotations: #"[{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4], "area": "big"}]"#), "'area'"),
            ("iscrowd string", doc(annotations: #"[{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4], "area": 1, "iscrowd": "yes"}]"#), "'iscrowd'"),
            ("duplicate annotation", doc(annotations: "[\(valid), \(valid)]"), "annotation id 1 appears twice"),
            ("deep nesting", String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000), ""),
        ]
        for (name, text, expected) in cases {
            XCTAssertThrowsError(try COCOGroundTruth.parse(Data(text.utf8), path: "gt.json"), name) { error in
                guard let e = error as? DatasetError else { return XCTFail("\(name): \(error) is not a DatasetError") }
                XCTAssertEqual(e.path, "gt.json", name)
                XCTAssertTrue(expected.isEmpty || e.description.contains(expected), "\(name): \(e)")
                XCTAssertFalse(e.description.contains("\n"), name)
            }
        }
    }

    func testUnknownImageOrCategoryAnnotationsAreSkippedWithAWarning() throws {
        let json = #"{"images": [{"id": 1}], "categories": [{"id": 1, "name": "a"}], "annotations": ["#
            + #"{"id": 1, "image_id": 9, "category_id": 1, "bbox": [0, 0, 5, 5], "area": 25},"#
            + #"{"id": 2, "image_id": 1, "category_id": 9, "bbox": [0, 0, 5, 5], "area": 25},"#
            + #"{"id": 3, "image_id": 1, "category_id": 1, "bbox": [0, 0, 5, 5], "area": 25, "iscrowd": true}]}"#
        let gt = try COCOGroundTruth.parse(Data(json.utf8), path: "gt.json")
        XCTAssertEqual(gt.annotations.map(\.id), [3])
        XCTAssertTrue(gt.annotations[0].isCrowd)
        XCTAssertEqual(gt.warnings.count, 2)
    }

    func testLoadFromFile() throws {
        let path = try writeTemp("gt.json", Array(#"{"images": [], "annotations": [], "categories": []}"#.utf8))
        XCTAssertEqual(try COCOGroundTruth.load(path: path).images.count, 0)
        XCTAssertThrowsError(try COCOGroundTruth.load(path: tempDir.appendingPathComponent("missing.json").path))
    }
}
