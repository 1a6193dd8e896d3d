import Foundation
import XCTest
@testable import YOLOKit

/// `yolo val` end to end against Ultralytics' own val on the same checkpoint and dataset
/// (scripts/reference/val_golden.py: a dataset made from the sample photos, fall-yolov8s, batch 1): P, R, mAP50 and
/// mAP50-95 overall and per class within 0.001, images and instances exact, the bad label file reported and its image
/// left out. Also the save folder (plots, predictions.json), agreement mode and bad datasets.
final class ValTests: TemporaryFolderTestCase {
    struct Recipe: Decodable {
        struct Item: Decodable { let name, source: String; let x, y, w, h: Int; let mirror: Bool; let step: Int; let labels: String? }
        let names: [String]
        let images: [Item]
    }

    /// Writes the recipe's dataset (the same pixels as the golden script: crop, mirror, subsample) under `tempDir`.
    func materialize(only: Int? = nil) throws -> (yaml: String, images: String) {
        let recipe = try JSONDecoder().decode(Recipe.self, from: Data(try readBytes(TestPaths.fixture("val/dataset.json"))))
        let root = tempDir.appendingPathComponent("ds").path, images = root + "/images/val", labels = root + "/labels/val"
        for dir in [images, labels] { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
        var samples: [String: RGBImage] = [:]
        for name in ["bus.jpg", "zidane.jpg"] { samples[name] = try ImageDecoder.decode(contentsOf: try TestPaths.requireModel("samples/" + name)) }
        for item in recipe.images.prefix(only ?? recipe.images.count) {
            let source = try XCTUnwrap(samples[item.source])
            let width = (item.w + item.step - 1) / item.step, height = (item.h + item.step - 1) / item.step
            var pixels = [UInt8](repeating: 0, count: width * height * 3)
            for y in 0..<height {
                for x in 0..<width {
                    let sx = item.x + (item.mirror ? item.w - 1 - x * item.step : x * item.step), sy = item.y + y * item.step
                    for c in 0..<3 { pixels[(y * width + x) * 3 + c] = source.pixels[(sy * source.width + sx) * 3 + c] }
                }
            }
            try Data(try ImageEncoder.pngData(RGBImage(width: width, height: height, pixels: pixels))).write(to: URL(fileURLWithPath: "\(images)/\(item.name).png"))
            if let text = item.labels { try text.write(toFile: "\(labels)/\(item.name).txt", atomically: true, encoding: .utf8) }
        }
        let yaml = root + "/data.yaml"
        try "path: \(root)\ntrain: images/val\nval: images/val\nnames:\n  0: Normal\n  1: Fall\n".write(toFile: yaml, atomically: true, encoding: .utf8)
        return (yaml, images)
    }

    func yolo(_ args: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try TestPaths.yoloBinary())
        p.arguments = args
        p.environment = ProcessInfo.processInfo.environment.merging(["YOLO_MODELS_DIR": TestPaths.model("")]) { $1 }
        p.currentDirectoryURL = tempDir
        let out = tempDir.appendingPathComponent("out-\(UUID())"), err = tempDir.appendingPathComponent("err-\(UUID())")
        FileManager.default.createFile(atPath: out.path, contents: nil)
        FileManager.default.createFile(atPath: err.path, contents: nil)
        p.standardOutput = try FileHandle(forWritingTo: out)
        p.standardError = try FileHandle(forWritingTo: err)
        try p.run()
        p.waitUntilExit()
        return (p.terminationStatus, try String(contentsOf: out, encoding: .utf8), try String(contentsOf: err, encoding: .utf8))
    }

    func testValEqualsUltralytics() throws {
        let fall = try TestPaths.requireModel("fall-yolov8s.pt")
        let (yaml, _) = try materialize()
        let run = try yolo(["val", "--model", fall, "--data", yaml, "--format", "json", "--no-plots"])
        XCTAssertEqual(run.status, 1, "one image is left out (bad label class): exit 1\n\(run.stderr)")
        XCTAssertTrue(run.stderr.contains("labels/val/img_04.txt:5:") && run.stderr.contains("left out"), run.stderr)
        XCTAssertTrue(run.stderr.contains("img_03.png: 1 duplicate labels removed"), run.stderr)
        let ours = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
        let golden = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(try readBytes(TestPaths.fixture("val/golden.json")))) as? [String: Any])
        let results = try XCTUnwrap(golden["results_dict"] as? [String: Double])
        XCTAssertEqual(results.count, 5)
        for (key, value) in results {
            XCTAssertEqual(try XCTUnwrap(ours[key] as? Double, key), value, accuracy: 1e-3, key)
        }
        XCTAssertEqual(ours["images"] as? Int, 23)
        XCTAssertEqual(ours["instances"] as? Int, golden["instances"] as? Int)
        let oursPerClass = try XCTUnwrap(ours["per_class"] as? [[String: Any]]), goldenPerClass = try XCTUnwrap(golden["per_class"] as? [[String: Any]])
        XCTAssertEqual(oursPerClass.count, goldenPerClass.count)
        for (a, b) in zip(oursPerClass, goldenPerClass) {
            XCTAssertEqual(a["name"] as? String, b["name"] as? String)
            for key in ["images", "instances"] { XCTAssertEqual(a[key] as? Int, b[key] as? Int, key) }
            for key in ["precision", "recall", "mAP50", "mAP50-95"] {
                XCTAssertEqual(a[key] as? Double ?? -1, b[key] as? Double ?? 1, accuracy: 1e-3, "\(b["name"] ?? "") \(key)")
            }
        }
    }

    /// The save folder: the six plots (PNG files that decode) and predictions.json (COCO results); the text table.
    func testSaveFolderAndTable() throws {
        let fall = try TestPaths.requireModel("fall-yolov8s.pt")
        let (yaml, _) = try materialize(only: 4)
        let run = try yolo(["val", "--model", fall, "--data", yaml, "--save-json", "--save-dir", "v"])
        XCTAssertEqual(run.status, 0, run.stderr)  // img_00 has no label file: a background image, not a failure
        let lines = run.stdout.split(separator: "\n").map(String.init)
        XCTAssertTrue(lines.contains { $0.hasPrefix("                 Class     Images  Instances      Box(P") }, run.stdout)
        XCTAssertTrue(lines.contains { $0.hasPrefix("                   all          4") }, run.stdout)
        for name in ["BoxPR_curve", "BoxF1_curve", "BoxP_curve", "BoxR_curve", "confusion_matrix", "confusion_matrix_normalized"] {
            let image = try ImageDecoder.decode(contentsOf: tempDir.appendingPathComponent("v/\(name).png").path)
            XCTAssertGreaterThan(image.width, 300, name)
        }
        let predictions = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(try readBytes(tempDir.appendingPathComponent("v/predictions.json").path))) as? [[String: Any]])
        XCTAssertFalse(predictions.isEmpty)
        XCTAssertEqual(Set(predictions.compactMap { $0["image_id"] as? String }).count, 4 - 0, "every image has predictions at conf 0.001")
        XCTAssertEqual((predictions[0]["bbox"] as? [Double])?.count, 4)
    }

    /// Agreement mode: the model against itself (its predict detections as labels, compared as detection runs: its
    /// letterbox, single-label NMS at its IoU, boxes in image pixels) scores 0.995, a perfect match's 101-point AP.
    func testAgreementWithReference() throws {
        let fall = try TestPaths.requireModel("fall-yolov8s.pt")
        let (_, images) = try materialize(only: 6)
        let run = try yolo(["val", "--model", fall, "--reference", fall, "--images", images, "--format", "json", "--no-plots"])
        XCTAssertEqual(run.status, 0, run.stderr)
        let ours = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
        XCTAssertGreaterThanOrEqual(try XCTUnwrap(ours["metrics/mAP50-95(B)"] as? Double), 0.99, run.stdout)
        XCTAssertGreaterThanOrEqual(try XCTUnwrap(ours["metrics/mAP50(B)"] as? Double), 0.99, run.stdout)
    }

    func testBadDatasets() throws {
        let missing = try yolo(["val", "--data", tempDir.appendingPathComponent("none.yaml").path])
        XCTAssertEqual(missing.status, 2)
        XCTAssertTrue(missing.stderr.contains("none.yaml"), missing.stderr)
        let yaml = tempDir.appendingPathComponent("bad.yaml").path
        try "names: [a, b]\n".write(toFile: yaml, atomically: true, encoding: .utf8)
        let noSplit = try yolo(["val", "--data", yaml])
        XCTAssertEqual(noSplit.status, 2)
        XCTAssertTrue(noSplit.stderr.contains("bad.yaml"), noSplit.stderr)
        let usage = try yolo(["val", "--data", yaml, "--coco", yaml])
        XCTAssertEqual(usage.status, 2)
        XCTAssertTrue(usage.stderr.contains("give the ground truth once"), usage.stderr)
    }

    /// Our COCOeval on Ultralytics' own predictions.json of the golden run equals pycocotools' 12 stats (1e-4).
    func testCOCOEvaluationEqualsPycocotools() throws {
        let truth = try COCOGroundTruth.load(path: TestPaths.fixture("val/instances.json"))
        let raw = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(try readBytes(TestPaths.fixture("val/ultralytics_predictions.json")))) as? [[String: Any]])
        let detections = try raw.map { p -> COCODetection in
            let b = try XCTUnwrap(p["bbox"] as? [Double])
            return COCODetection(imageID: Int64(try XCTUnwrap(p["image_id"] as? Int)), categoryID: Int64(try XCTUnwrap(p["category_id"] as? Int)),
                                 bbox: COCOBox(x: b[0], y: b[1], width: b[2], height: b[3]), score: try XCTUnwrap(p["score"] as? Double))
        }
        let golden = try XCTUnwrap((try JSONSerialization.jsonObject(with: Data(try readBytes(TestPaths.fixture("val/golden.json")))) as? [String: Any])?["coco_eval"] as? [Double])
        let ours = try COCOEvaluation.evaluate(groundTruth: truth, detections: detections).stats
        XCTAssertEqual(ours.count, 12)
        for (i, (a, b)) in zip(ours, golden).enumerated() { XCTAssertEqual(a, b, accuracy: 1e-4, COCOEvaluation.Result.statNames[i]) }
    }

    /// `--coco instances.json --images DIR`: the same images as COCO annotations give Ultralytics' metrics and
    /// COCOeval stats close to pycocotools' on Ultralytics' predictions (our predictions differ by float rounding).
    func testCOCOMode() throws {
        let fall = try TestPaths.requireModel("fall-yolov8s.pt")
        let (_, images) = try materialize()
        let run = try yolo(["val", "--model", fall, "--coco", TestPaths.fixture("val/instances.json"), "--images", images, "--format", "json", "--no-plots"])
        XCTAssertEqual(run.status, 0, run.stderr)
        let ours = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
        let golden = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(try readBytes(TestPaths.fixture("val/golden.json")))) as? [String: Any])
        XCTAssertEqual(ours["images"] as? Int, 23)
        XCTAssertEqual(try XCTUnwrap(ours["metrics/mAP50-95(B)"] as? Double), try XCTUnwrap((golden["results_dict"] as? [String: Double])?["metrics/mAP50-95(B)"]), accuracy: 1e-3)
        let stats = try XCTUnwrap(ours["coco_eval"] as? [String: Double]), goldenStats = try XCTUnwrap(golden["coco_eval"] as? [Double])
        for (name, value) in zip(COCOEvaluation.Result.statNames, goldenStats) { XCTAssertEqual(try XCTUnwrap(stats[name], name), value, accuracy: 2e-3, name) }
    }
}
