import ArgumentParser
import Foundation
import YOLOKit

struct ValCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "val",
        abstract: "Measure a model's accuracy on labelled images: precision, recall, mAP50 and mAP50-95, as Ultralytics' val computes them.",
        discussion: """
        Ground truth from an Ultralytics dataset yaml (--data, labels/*.txt beside images/), from COCO annotations \
        (--coco instances.json --images DIR; also prints the 12 COCOeval statistics), or from another model's \
        detections (--reference OLD --images DIR: agreement of this model with OLD at OLD's predict defaults, this model run as `yolo detect` runs — its \
        letterbox, single-label NMS — at --conf, so OLD against itself scores 1). \
        Defaults as Ultralytics' val: conf 0.001, iou 0.7, max-det 300, multi-label NMS, its letterbox for val batches. \
        An image whose label file is malformed is reported and left out; the run goes on. \
        Exit status: 0 when every image was used, 1 when some were left out, 2 for a bad model, dataset or usage.
        """
    )

    @OptionGroup(title: "Model")
    var modelOptions: ModelOptions

    @Option(help: "Dataset yaml (Ultralytics format: path, train/val/test, names).")
    var data: String?

    @Option(help: "Split of --data to evaluate: val, test or train.")
    var split: String = "val"

    @Option(help: "COCO instances json as ground truth (with --images).")
    var coco: String?

    @Option(help: "Reference model: its detections (at its predict defaults) are the ground truth (with --images).")
    var reference: String?

    @Option(help: "Folder of images for --coco or --reference.")
    var images: String?

    @Option(help: "Confidence threshold.")
    var conf: Float = 0.001

    @Option(help: "IoU threshold for NMS (default 0.7; with --reference, the model's own predict default).")
    var iou: Float?

    @Option(name: .customLong("max-det"), help: "Maximum detections per image.")
    var maxDet: Int = 300

    @Option(name: .customLong("save-dir"), help: "Folder for predictions.json and plots (default runs/detect/val, then val2, …).")
    var saveDir: String?

    @Flag(name: .customLong("save-json"), help: "Write predictions.json (COCO results, image pixels) to the save folder.")
    var saveJSON = false

    @Flag(inversion: .prefixedNo, help: "Write PR / F1 / P / R curves and confusion matrices (PNG) to the save folder.")
    var plots = true

    @Option(help: "Output: text (Ultralytics' table) or json (its results_dict keys, per_class, speed).")
    var format: OutputFormat = .text

    func validate() throws {
        if modelOptions.backend == .both { throw ValidationError("--backend both is for `yolo bench`; val runs one backend: blas or swift") }
        let sources = [data != nil, coco != nil, reference != nil].filter { $0 }.count
        guard sources == 1 else { throw ValidationError("give the ground truth once: --data data.yaml, --coco instances.json --images DIR, or --reference MODEL --images DIR") }
        if (coco != nil || reference != nil) && images == nil { throw ValidationError("--\(coco != nil ? "coco" : "reference") needs --images DIR") }
        if data != nil && images != nil { throw ValidationError("--images is for --coco and --reference; --data names its own images") }
        guard DatasetSplit(rawValue: split) != nil else { throw ValidationError("--split must be val, test or train (got \(split))") }
        guard (0...1).contains(conf) else { throw ValidationError("--conf must be between 0 and 1 (got \(conf))") }
        if let iou, !(0...1).contains(iou) { throw ValidationError("--iou must be between 0 and 1 (got \(iou))") }
        guard maxDet > 0 else { throw ValidationError("--max-det must be positive (got \(maxDet))") }
    }

    func run() throws {
        let detector: Detector
        do {
            detector = try modelOptions.detector(backend: modelOptions.selectedBackend, imageSize: modelOptions.roundedImageSize())
        } catch {
            printError("error: \(error)")
            throw ExitCode(2)
        }
        var options = ValidationOptions()
        options.confidence = conf
        options.iou = iou ?? (reference != nil ? nil : 0.7)
        options.maxDetections = maxDet
        options.asDetected = reference != nil  // compared as `yolo detect` runs, so OLD against itself scores 1
        var skipped = 0
        let inputs: [ValidationImage]
        var cocoTruth: COCOGroundTruth?
        do {
            if let data {
                (inputs, skipped) = try ValidationInputs.dataset(data, split: DatasetSplit(rawValue: split)!, classCount: detector.names.count)
            } else if let coco {
                let truth = try COCOGroundTruth.load(path: coco)
                for w in truth.warnings { printError("warning: \(w)") }
                cocoTruth = truth
                inputs = try cocoImages(truth, folder: images!, names: detector.names)
            } else {
                inputs = try ValidationInputs.reference(try Detector(model: reference!, execution: modelOptions.execution(backend: modelOptions.selectedBackend)), folder: images!)
            }
        } catch let error as ExitCode {
            throw error
        } catch {
            printError("error: \(error)")
            throw ExitCode(2)
        }
        guard !inputs.isEmpty else {
            printError("error: no images to validate on")
            throw ExitCode(2)
        }
        // As Ultralytics' _check_max_det: the default max_det rises to the most labels any image has.
        let mostLabels = inputs.map { image -> Int in
            switch image.truth { case .normalized(let r): return r.count; case .pixels(let b): return b.count }
        }.max() ?? 0
        if mostLabels > maxDet && maxDet == 300 {
            printError("warning: images hold up to \(mostLabels) objects, more than max_det=300: using max_det=\(mostLabels)")
            options.maxDetections = mostLabels
        }
        options.keepPredictions = saveJSON || cocoTruth != nil
        // The batch job's progress display on standard error: a bar on a terminal, a line every 10 s otherwise.
        let progress = BatchProgress(style: format == .text ? BatchProgress.automaticStyle : .off, total: inputs.count)
        let report = Validator.run(detector, images: inputs, options: options) { progress.advance(failed: $0) }
        progress.finish()
        for failure in report.failures { printError("error: \(failure.path): \(failure.reason) (left out)") }

        let folder = RunFolder.choose(explicit: saveDir, name: "val")
        var written: [String] = []
        do {
            if saveJSON || plots { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) }
            if saveJSON {
                let path = (folder as NSString).appendingPathComponent("predictions.json")
                try AtomicFileWriter(temporaryFolder: folder).write(predictionsJSON(report, names: detector.names, coco: cocoTruth), to: path)
                written.append(path)
            }
            if plots { written += try ValidationPlotFiles.write(report, names: detector.names, to: folder) }
        } catch {
            printError("error: \(error)")
            throw ExitCode(1)
        }
        var cocoStats: COCOEvaluation.Result?
        if let cocoTruth {
            let detections = cocoDetections(report, truth: cocoTruth, names: detector.names)
            do { cocoStats = try COCOEvaluation.evaluate(groundTruth: cocoTruth, detections: detections) } catch {
                printError("error: COCO evaluation: \(error)")
                throw ExitCode(1)
            }
        }
        switch format {
        case .text:
            print(ValidationTable.text(report, model: detector.model.summary, cocoStats: cocoStats))
            if !written.isEmpty { print("Results saved to \(folder)") }
        case .json:
            print(ValidationTable.json(report, cocoStats: cocoStats).serialized())
        }
        if skipped + report.failures.count > 0 { throw ExitCode(1) }
    }

    /// The annotated images of a COCO file found in `folder`, boxes as the model's classes (COCO-80 models map
    /// COCO's 91 ids; other models: category id = class + 1, as Ultralytics' class_map).
    func cocoImages(_ truth: COCOGroundTruth, folder: String, names: [String]) throws -> [ValidationImage] {
        let ids = COCOOutput.categoryIDs(names: names)
        var classOf: [Int64: Int] = [:]
        for (c, id) in ids.enumerated() { classOf[Int64(id)] = c }
        var byImage: [Int64: [LabelBox]] = [:]
        for a in truth.annotations where !a.isCrowd {
            guard let c = classOf[a.categoryID] else { continue }
            let b = a.bbox
            byImage[a.imageID, default: []].append(LabelBox(box: Box(x1: Float(b.x), y1: Float(b.y), x2: Float(b.x + b.width), y2: Float(b.y + b.height)), classIndex: c))
        }
        return truth.images.map { image in
            ValidationImage(path: (folder as NSString).appendingPathComponent(image.fileName), truth: .pixels(byImage[image.id] ?? []))
        }
    }

    /// Ultralytics' predictions.json: COCO results in image pixels; image ids from the COCO file when given.
    func predictionsJSON(_ report: ValidationReport, names: [String], coco: COCOGroundTruth?) -> String {
        let ids = COCOOutput.categoryIDs(names: names)
        var lines: [String] = []
        for result in report.predictions {
            lines += COCOOutput.entries(result, relativePath: (result.path as NSString).lastPathComponent, categoryIDs: ids)
        }
        return "[" + lines.joined(separator: ",\n") + "]\n"
    }

    func cocoDetections(_ report: ValidationReport, truth: COCOGroundTruth, names: [String]) -> [COCODetection] {
        let ids = COCOOutput.categoryIDs(names: names)
        // Keyed by the path cocoImages gave each image.
        var imageID: [String: Int64] = [:]
        for image in truth.images { imageID[(images! as NSString).appendingPathComponent(image.fileName)] = image.id }
        return report.predictions.flatMap { p -> [COCODetection] in
            guard let id = imageID[p.path] else { return [] }
            return p.boxes.map { d in
                COCODetection(imageID: id, categoryID: Int64(ids[d.classIndex]),
                              bbox: COCOBox(x: Double(d.box.x1), y: Double(d.box.y1), width: Double(d.box.width), height: Double(d.box.height)),
                              score: Double(d.confidence))
            }
        }
    }
}
