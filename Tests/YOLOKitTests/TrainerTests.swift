import Foundation
import XCTest
@testable import YOLOKit

/// `yolo train`'s pieces and a whole run: the Detect head rebuilt for other classes, the augmentations keeping boxes
/// on their pixels, deterministic batches, a short run on the tiny generated set (Tests/Fixtures/trainer/tiny, made by
/// `scripts/make-train-set.py --tiny --out Tests/Fixtures/trainer/tiny`), bad images and labels left out, clear errors.
final class TrainerTests: XCTestCase {
    static let tinyModel = TestPaths.fixture("ultralytics/yolov8-tiny.pt")
    static let tinyData = TestPaths.fixture("trainer/tiny/data.yaml")

    func temporaryFolder() throws -> String {
        let path = NSTemporaryDirectory() + "yolo-trainer-tests-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        return path
    }

    // MARK: - Detect head re-initialisation

    func testNewClassCountRebuildsOnlyTheClassConvsWithBiasPriors() throws {
        let model = try UltralyticsModel(path: Self.tinyModel)  // 3 classes: alpha, beta, gamma
        let tensors = try model.stateDict().tensors
        let names = ["beta", "one", "two", "three"]
        let result = try DetectHeadReinitialization.apply(tensors: tensors, metadata: try model.exportMetadata(dtype: .float32, imageSize: 64),
                                                          sourceNames: model.names, names: names, strides: model.strides, seed: 7)
        XCTAssertEqual(result.remappedClasses, 1)
        XCTAssertEqual(result.reinitialized.count, 2 * model.strides.count)
        let before = Dictionary(uniqueKeysWithValues: tensors.map { ($0.name, $0) })
        for tensor in result.tensors where !result.reinitialized.contains(tensor.name) {
            XCTAssertEqual(tensor, before[tensor.name], "\(tensor.name) must transfer unchanged")
        }
        for (level, stride) in model.strides.enumerated() {
            let path = "model.22.cv3.\(level).2"
            guard let weight = result.tensors.first(where: { $0.name == path + ".weight" }),
                  let bias = result.tensors.first(where: { $0.name == path + ".bias" }) else { return XCTFail("\(path) missing") }
            let fanIn = weight.shape[1]
            XCTAssertEqual(weight.shape, [4, fanIn, 1, 1])
            let prior = Float(log(5 / 4.0 / pow(640 / Double(stride), 2)))
            let b = bias.floats(), w = weight.floats()
            let old = (before[path + ".weight"]!.floats(), before[path + ".bias"]!.floats())
            // Class 0 ("beta") keeps source class 1's row; the others are new: prior bias, weights in ±1/√fan_in.
            XCTAssertEqual(b[0], old.1[1])
            XCTAssertEqual(Array(w[0..<fanIn]), Array(old.0[fanIn..<2 * fanIn]))
            for c in 1..<4 { XCTAssertEqual(b[c], prior, accuracy: 1e-6) }
            let bound = 1 / Float(fanIn).squareRoot()
            XCTAssertTrue(w[fanIn...].allSatisfy { abs($0) <= bound })
            XCTAssertGreaterThan(Set(w[fanIn...]).count, fanIn, "new weights are random, not constant")
        }
        // The result is a loadable model with the new classes.
        let path = try temporaryFolder() + "/rebuilt.safetensors"
        try SafetensorsWriter.write(result.tensors, metadata: result.metadata, to: path)
        let rebuilt = try UltralyticsModel(path: path)
        XCTAssertEqual(rebuilt.names, names)
        let (graph, _) = try TrainingGraph.make(from: rebuilt)
        XCTAssertEqual(graph.classes, 4)
    }

    func testSameNamesChangeNothingAndSameCountOnlyRenames() throws {
        let model = try UltralyticsModel(path: Self.tinyModel)
        let tensors = try model.stateDict().tensors, metadata = try model.exportMetadata(dtype: .float32, imageSize: 64)
        let same = try DetectHeadReinitialization.apply(tensors: tensors, metadata: metadata, sourceNames: model.names, names: model.names,
                                                        strides: model.strides, seed: 0)
        XCTAssertEqual(same.tensors, tensors)
        XCTAssertTrue(same.reinitialized.isEmpty)
        let renamed = try DetectHeadReinitialization.apply(tensors: tensors, metadata: metadata, sourceNames: model.names, names: ["x", "y", "z"],
                                                           strides: model.strides, seed: 0)
        XCTAssertEqual(renamed.tensors, tensors, "same class count, no shared name: every tensor transfers (intersect_dicts)")
        let path = try temporaryFolder() + "/renamed.safetensors"
        try SafetensorsWriter.write(renamed.tensors, metadata: renamed.metadata, to: path)
        XCTAssertEqual(try UltralyticsModel(path: path).names, ["x", "y", "z"])
    }

    // MARK: - Augmentations

    /// Four images, each a gray field with one rectangle of its own colour (class = image index).
    func rectangleImages() -> [LabelledImage] {
        let colors: [(UInt8, UInt8, UInt8)] = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0)]
        return colors.enumerated().map { k, color in
            let (w, h) = (96 + 16 * k, 128 - 8 * k)
            var image = RGBImage(width: w, height: h, fill: (90, 90, 90))
            let box = LabelledBox(classIndex: k, x1: Float(10 + 5 * k), y1: Float(20 + 3 * k), x2: Float(60 + 6 * k), y2: Float(70 + 4 * k))
            Drawing.fill(&image, x0: Int(box.x1), y0: Int(box.y1), x1: Int(box.x2), y1: Int(box.y2), color: RGBColor(color.0, color.1, color.2))
            return LabelledImage(image: image, boxes: [box])
        }
    }

    /// The bounding box of the pixels near `color` (within `region`: x0, y0, x1, y1), or nil when there are none.
    func pixelBox(_ image: RGBImage, color: (UInt8, UInt8, UInt8), region: (Int, Int, Int, Int)? = nil) -> (Int, Int, Int, Int)? {
        var box: (Int, Int, Int, Int)?
        let r = region ?? (0, 0, image.width, image.height)
        for y in max(r.1, 0)..<min(r.3, image.height) {
            for x in max(r.0, 0)..<min(r.2, image.width) {
                let i = (y * image.width + x) * 3
                let d = abs(Int(image.pixels[i]) - Int(color.0)) + abs(Int(image.pixels[i + 1]) - Int(color.1)) + abs(Int(image.pixels[i + 2]) - Int(color.2))
                guard d < 60 else { continue }
                box = box.map { (min($0.0, x), min($0.1, y), max($0.2, x + 1), max($0.3, y + 1)) } ?? (x, y, x + 1, y + 1)
            }
        }
        return box
    }

    func testAugmentedBoxesStayOnTheirRectangles() throws {
        let colors: [(UInt8, UInt8, UInt8)] = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0)]
        let images = rectangleImages()
        var settings = AugmentationSettings()
        settings.hsvH = 0; settings.hsvS = 0; settings.hsvV = 0  // colours identify the rectangles
        let augmentation = TrainingAugmentation(settings: settings, imageSize: 128)
        var checked = 0
        for seed in 0..<12 {
            var random = SplitMix64(seed: UInt64(seed))
            let out = try augmentation.make(index: seed % 4, count: 4, mosaicAllowed: seed % 3 != 0, random: &random) {
                TrainingImageLoading.load(images[$0].image, labels: [], imageSize: 128).withBoxes(scaledFrom: images[$0])
            }
            XCTAssertEqual(out.image.width, 128); XCTAssertEqual(out.image.height, 128)
            for box in out.boxes {
                // A mosaic may hold an image twice: look only around the box.
                let around = (Int(box.x1) - 4, Int(box.y1) - 4, Int(box.x2.rounded(.up)) + 4, Int(box.y2.rounded(.up)) + 4)
                guard let p = pixelBox(out.image, color: colors[box.classIndex], region: around) else { XCTFail("seed \(seed): a box of class \(box.classIndex) with no pixels"); continue }
                // Bilinear edges and the rounding of a scaled rectangle: within 2 px.
                XCTAssertEqual(Float(p.0), box.x1, accuracy: 2, "seed \(seed) class \(box.classIndex) x1")
                XCTAssertEqual(Float(p.1), box.y1, accuracy: 2, "seed \(seed) class \(box.classIndex) y1")
                XCTAssertEqual(Float(p.2), box.x2, accuracy: 2, "seed \(seed) class \(box.classIndex) x2")
                XCTAssertEqual(Float(p.3), box.y2, accuracy: 2, "seed \(seed) class \(box.classIndex) y2")
                checked += 1
            }
        }
        XCTAssertGreaterThan(checked, 12, "the augmentations kept some boxes to check")
    }

    func testHorizontalFlipMirrorsPixelsAndBoxes() {
        var item = rectangleImages()[0]
        let before = item
        HorizontalFlip.apply(&item)
        let w = Float(item.image.width)
        XCTAssertEqual(item.boxes, [LabelledBox(classIndex: 0, x1: w - before.boxes[0].x2, y1: before.boxes[0].y1, x2: w - before.boxes[0].x1, y2: before.boxes[0].y2)])
        let p = pixelBox(item.image, color: (255, 0, 0))!
        XCTAssertEqual(Float(p.0), item.boxes[0].x1); XCTAssertEqual(Float(p.2), item.boxes[0].x2)
    }

    func testHSVWithoutGainsIsIdentityAndRoundTripsColours() {
        var image = rectangleImages()[1].image
        let original = image
        var random = SplitMix64(seed: 1)
        HSVAugmentation(hue: 0, saturation: 0, value: 0).apply(&image, random: &random)
        XCTAssertEqual(image, original)
        for (r, g, b) in [(255, 0, 0), (12, 200, 77), (90, 90, 90), (0, 0, 0), (255, 255, 255)] as [(UInt8, UInt8, UInt8)] {
            let (h, s, v) = HSVAugmentation.hsv(r, g, b)
            let back = HSVAugmentation.rgb(h: h, s: s, v: v)
            XCTAssertLessThanOrEqual(abs(Int(back.0) - Int(r)) + abs(Int(back.1) - Int(g)) + abs(Int(back.2) - Int(b)), 9, "\((r, g, b)) → \((h, s, v)) → \(back)")
        }
    }

    func testBatchesAreTheSameForAnyWorkerCountAndDifferBySeed() throws {
        let config = try DatasetConfig.load(path: Self.tinyData)
        let samples = TrainingSampleList.check(files: try config.images(for: .train).files, classCount: 3).samples
        XCTAssertEqual(samples.count, 8)
        func batch(workers: Int, seed: UInt64) -> TrainingBatch {
            let loader = TrainingBatchLoader(samples: samples, augmentation: TrainingAugmentation(settings: AugmentationSettings(), imageSize: 64),
                                             workers: workers, seed: seed, cacheImages: workers > 0)
            let order = loader.batches(epoch: 1, batchSize: 4)
            XCTAssertEqual(order.map(\.count), [4, 4])
            return loader.prefetch(order[0], epoch: 1, mosaicAllowed: true).wait()
        }
        let a = batch(workers: 0, seed: 3), b = batch(workers: 3, seed: 3), c = batch(workers: 2, seed: 4)
        XCTAssertEqual(a.images, b.images)
        XCTAssertEqual(a.targets, b.targets)
        XCTAssertNotEqual(a.images, c.images)
        XCTAssertEqual(a.images.shape, [4, 3, 64, 64])
    }

    // MARK: - Whole runs

    func tinySettings(_ folder: String, data: String = tinyData, epochs: Int = 4) -> TrainingSettings {
        var s = TrainingSettings(model: Self.tinyModel, data: data)
        s.epochs = epochs; s.imageSize = 64; s.batch = 4; s.workers = 2; s.threads = 2; s.saveDirectory = folder + "/run"
        s.optimizer.optimizer = "SGD"; s.optimizer.lr0 = 0.01; s.optimizer.warmupEpochs = 0
        s.optimizer.nominalBatchSize = 4  // an optimizer step after every batch
        s.augmentation = .none; s.closeMosaic = 0; s.plots = true
        return s
    }

    func testShortRunLowersTheLossAndItsBestWeightsLoadAndPredict() throws {
        let folder = try temporaryFolder()
        var batches = 0, warnings: [String] = []
        let summary = try Trainer(settings: tinySettings(folder)) { event in
            if case .batch = event { batches += 1 }
            if case .warning(let w) = event { warnings.append(w) }
        }.run()
        XCTAssertEqual(warnings, [])
        XCTAssertEqual(batches, 8, "4 epochs of 2 batches")
        XCTAssertEqual(summary.results.count, 4)
        let first = summary.results.first!.trainLoss, last = summary.results.last!.trainLoss
        XCTAssertLessThan(last.box + last.cls + last.dfl, first.box + first.cls + first.dfl, "the training loss goes down")
        let csv = try String(contentsOfFile: summary.saveDirectory + "/results.csv", encoding: .utf8)
        XCTAssertEqual(csv.split(separator: "\n").first.map(String.init), EpochResult.columns().joined(separator: ","))
        XCTAssertEqual(TrainingResultsFile.parse(csv)?.count, 4)
        for file in ["weights/best.safetensors", "weights/best.pt", "weights/last.safetensors", "weights/last.pt", "results_losses.png", "results_metrics.png"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: summary.saveDirectory + "/" + file), file)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: summary.saveDirectory + "/weights/start.safetensors"))
        let detector = try Detector(model: summary.bestWeights)
        XCTAssertEqual(detector.names, ["circle", "square", "triangle"])
        XCTAssertEqual((detector.model as? UltralyticsDetectionModel)?.imageSize, 64, "the training imgsz is the model's default")
        let result = try detector.detect(imageAt: TestPaths.fixture("trainer/tiny/images/val/val_0000.png"), options: DetectionOptions(confidence: 0.001))
        XCTAssertFalse(result.boxes.isEmpty)
        // The state-dict .pt holds the same tensors as the safetensors.
        let pt = try TorchCheckpoint(path: summary.saveDirectory + "/weights/best.pt")
        XCTAssertNotNil(pt.root.dictItems?.first { $0.key.stringValue == "model.22.cv3.0.2.bias" })
    }

    /// results.csv has one lr column per parameter group (MuSGD: 8), and reads back for --resume either way.
    func testResultsFileRoundTripsAnyGroupCount() throws {
        for groups in [3, 8] {
            let rows = (1...2).map { e in
                EpochResult(epoch: e, time: Double(e) * 1.5, trainLoss: (1, 2, 3), precision: 0.5, recall: 0.25, mAP50: 0.125, mAP50_95: 0.0625,
                            valLoss: (4, 5, 6), learningRates: (0..<groups).map { 0.001 * Double($0 + 1) })
            }
            let text = TrainingResultsFile.text(rows)
            XCTAssertTrue(text.hasPrefix(EpochResult.columns(groups: groups).joined(separator: ",") + "\n"), text)
            XCTAssertTrue(text.split(separator: "\n")[0].hasSuffix("lr/pg\(groups - 1)"))
            XCTAssertEqual(TrainingResultsFile.parse(text), rows, "\(groups) groups")
        }
        XCTAssertNil(TrainingResultsFile.parse("epoch,time\n1,2\n"))
    }

    func testResumeAfterAnInterruptionEqualsAnUninterruptedRun() throws {
        let folder = try temporaryFolder()
        func settings(_ name: String) -> TrainingSettings {
            var s = tinySettings(folder, epochs: 3)
            s.saveDirectory = folder + "/" + name
            s.augmentation = AugmentationSettings()  // mosaic, affine, HSV, flips: the random draws must resume too
            s.closeMosaic = 1
            // The schedule replays through a warmup, and epoch 2 ends between two optimizer steps (accumulate ramps 1 → 3:
            // steps after iterations 0 and 2 of 0…3), so the gradient carried into epoch 3 must be restored too.
            s.optimizer.warmupEpochs = 2
            s.optimizer.nominalBatchSize = 12
            s.plots = false
            return s
        }
        let whole = try Trainer(settings: settings("whole")) { _ in }.run()
        var interrupted: Trainer!
        interrupted = Trainer(settings: settings("parts")) { event in
            if case .epoch(let row, _) = event, row.epoch == 2 { interrupted.cancel() }
        }
        XCTAssertThrowsError(try interrupted.run()) { XCTAssertTrue("\($0)".contains("--resume"), "\($0)") }
        var again = settings("parts")
        again.resume = true
        let resumed = try Trainer(settings: again) { _ in }.run()
        XCTAssertEqual(resumed.results.map(\.epoch), [1, 2, 3])
        // results.csv without its time column: the same numbers to the last printed digit.
        func withoutTime(_ run: TrainingSummary) throws -> [String] {
            try String(contentsOfFile: run.saveDirectory + "/results.csv", encoding: .utf8).split(separator: "\n").map { line in
                line.split(separator: ",", omittingEmptySubsequences: false).enumerated().filter { $0.offset != 1 }.map { String($0.element) }.joined(separator: ",")
            }
        }
        XCTAssertEqual(try withoutTime(resumed), try withoutTime(whole))
        for file in [whole.lastWeights, whole.bestWeights] {
            let a = try SafetensorsFile(path: file), b = try SafetensorsFile(path: file.replacingOccurrences(of: "/whole/", with: "/parts/"))
            XCTAssertEqual(a.entries.map(\.name), b.entries.map(\.name))
            for entry in a.entries where entry.dtype == .float32 {
                XCTAssertEqual(try a.floats(named: entry.name), try b.floats(named: entry.name), "\(file): \(entry.name)")
            }
        }
        // Settings that differ from the interrupted run's are refused.
        var other = settings("parts")
        other.resume = true
        other.batch = 2
        XCTAssertThrowsError(try Trainer(settings: other) { _ in }.run()) { XCTAssertTrue("\($0)".contains("differ"), "\($0)") }
    }

    func testCorruptImagesAndLabelsAreReportedAndLeftOut() throws {
        let folder = try temporaryFolder()
        let data = folder + "/data"
        try FileManager.default.copyItem(atPath: TestPaths.fixture("trainer/tiny"), toPath: data)
        try Data("not a png".utf8).write(to: URL(fileURLWithPath: data + "/images/train/broken.png"))
        try Data("0 0.5 0.5 0.2 0.2\n".utf8).write(to: URL(fileURLWithPath: data + "/labels/train/broken.txt"))
        try FileManager.default.copyItem(atPath: data + "/images/train/train_0000.png", toPath: data + "/images/train/badlabel.png")
        try Data("7 0.5 0.5 0.2 0.2\n".utf8).write(to: URL(fileURLWithPath: data + "/labels/train/badlabel.txt"))
        var warnings: [String] = []
        let summary = try Trainer(settings: tinySettings(folder, data: data + "/data.yaml", epochs: 1)) { event in
            if case .warning(let w) = event { warnings.append(w) }
        }.run()
        XCTAssertEqual(summary.skippedImages, 2)
        XCTAssertEqual(summary.results.count, 1)
        XCTAssertTrue(warnings.contains { $0.contains("broken.png") }, "\(warnings)")
        XCTAssertTrue(warnings.contains { $0.contains("badlabel") }, "\(warnings)")
    }

    func testBadSettingsAndPathsGiveClearErrors() throws {
        let folder = try temporaryFolder()
        func message(_ change: (inout TrainingSettings) -> Void) -> String {
            var s = tinySettings(folder, epochs: 1)
            change(&s)
            do { _ = try Trainer(settings: s) { _ in }.run(); return "no error" } catch { return "\(error)" }
        }
        XCTAssertTrue(message { $0.epochs = 0 }.contains("epochs must be positive"))
        XCTAssertTrue(message { $0.batch = -1 }.contains("batch must be positive"))
        XCTAssertTrue(message { $0.optimizer.optimizer = "Lion" }.contains("unknown optimizer \"Lion\""))
        XCTAssertTrue(message { $0.augmentation.fliplr = 2 }.contains("fliplr must be in"))
        XCTAssertTrue(message { $0.data = folder + "/missing.yaml" }.contains("missing.yaml: no such file"))
        XCTAssertTrue(message { $0.model = folder + "/missing.pt" }.contains("missing.pt"))
        XCTAssertTrue(message { $0.model = TestPaths.fixture("trainer/tiny/data.yaml") }.contains("only Ultralytics models"))
    }
}

extension LabelledImage {
    /// `self` (a resized copy of `original`) with the original's boxes scaled to it.
    func withBoxes(scaledFrom original: LabelledImage) -> LabelledImage {
        let sx = Float(image.width) / Float(original.image.width), sy = Float(image.height) / Float(original.image.height)
        return LabelledImage(image: image, boxes: original.boxes.map {
            LabelledBox(classIndex: $0.classIndex, x1: $0.x1 * sx, y1: $0.y1 * sy, x2: $0.x2 * sx, y2: $0.y2 * sy)
        })
    }
}
