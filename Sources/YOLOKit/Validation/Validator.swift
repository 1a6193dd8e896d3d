import Foundation

/// Settings of one validation run; the defaults are Ultralytics' val defaults (conf 0.001, iou 0.7, max_det 300,
/// multi-label NMS, class-aware unless `agnostic`).
public struct ValidationOptions: Sendable {
    public var confidence: Float = 0.001
    /// NMS IoU; nil: the model's own predict default.
    public var iou: Float? = 0.7
    public var maxDetections: Int = 300
    public var agnostic: Bool = false
    public var maxPixels: Int = ImageDecoder.defaultMaxPixels
    /// Keep every image's detections (image pixels) in the report, for `--save-json` and agreement reports.
    public var keepPredictions: Bool = false
    /// Prepare images and run NMS as detection does (`placeImage`, single-label NMS) rather than as the validator
    /// does: for agreement with a model's predict-mode detections (with `iou` nil, its NMS IoU too), where the model
    /// itself then scores 1.
    public var asDetected: Bool = false

    public init() {}
}

/// One image to validate on and its ground truth.
public struct ValidationImage: Sendable {
    public enum Truth: Sendable {
        /// YOLO label rows (normalized to the image), as read from its label file.
        case normalized([YOLOLabel])
        /// Boxes in the image's pixels (COCO annotations, or a reference model's detections).
        case pixels([LabelBox])
    }

    public var path: String
    public var truth: Truth

    public init(path: String, truth: Truth) {
        self.path = path
        self.truth = truth
    }
}

/// What a validation run measured.
public struct ValidationReport: Sendable {
    public var metrics: DetectionMetricsResult
    /// Ultralytics' confusion matrix at the run's confidence and IoU 0.45 (as its validator calls it).
    public var confusion: ConfusionMatrix
    /// Milliseconds per image: decode (file → pixels), preprocess (letterbox), inference, postprocess (NMS).
    public var speed: (decode: Double, preprocess: Double, inference: Double, postprocess: Double)
    /// Images left out, with the reason (unreadable image).
    public var failures: [(path: String, reason: String)]
    /// With `keepPredictions`: each image's detections, boxes in image pixels.
    public var predictions: [DetectionResult]
}

/// Runs a detector over labelled images the way Ultralytics' `DetectionValidator` does (its letterbox for val
/// batches through `DetectionModel.placeImageForValidation`, multi-label NMS at the validation thresholds,
/// predictions and labels matched in the network-input frame) and accumulates `DetectionMetrics` and a
/// `ConfusionMatrix`. The next image is decoded and letterboxed on another thread while the network runs;
/// `progress` is called after each image.
public enum Validator {
    public static func run(_ detector: Detector, images: [ValidationImage], options: ValidationOptions = ValidationOptions(),
                           progress: ((_ failed: Bool) -> Void)? = nil) -> ValidationReport {
        var metrics = DetectionMetrics(classNames: detector.names)
        var confusion = ConfusionMatrix(classCount: detector.names.count, confidence: options.confidence, iou: 0.45)
        var failures: [(path: String, reason: String)] = []
        var predictions: [DetectionResult] = []
        var totals = (decode: 0.0, preprocess: 0.0, inference: 0.0, postprocess: 0.0), counted = 0
        var detection = DetectionOptions(confidence: options.confidence, iou: options.iou, maxDetections: options.maxDetections,
                                         agnostic: options.agnostic, multiLabel: !options.asDetected)
        // The validator matches in the network-input frame (boxes clipped to the input); as detected, in the image's
        // (clipped to the image, as `yolo detect` reports them).
        detection.networkInputCoordinates = !options.asDetected

        // Read-ahead: image i + 1 is decoded and letterboxed while the network runs image i.
        let queue = DispatchQueue(label: "yolo-val-prepare")
        func prepare(_ i: Int) -> Pending {
            let pending = Pending()
            queue.async {
                let start = DispatchTime.now()
                do {
                    let image = try ImageDecoder.decode(contentsOf: images[i].path, maxPixels: options.maxPixels)
                    let decoded = milliseconds(since: start)
                    pending.fulfil(.success((detector.prepare(image, forValidation: !options.asDetected), decoded)))
                } catch {
                    pending.fulfil(.failure(error))
                }
            }
            return pending
        }
        var next = images.isEmpty ? nil : prepare(0)
        for i in images.indices {
            let current = next!.wait()
            next = i + 1 < images.count ? prepare(i + 1) : nil
            let prepared: PreparedImage, decodeMs: Double
            switch current {
            case .failure(let error):
                failures.append((images[i].path, "\(error)"))
                progress?(true)
                continue
            case .success(let value):
                (prepared, decodeMs) = value
            }
            let result = detector.detect(prepared, path: images[i].path, options: detection)
            let t = result.transform
            let labels: [LabelBox]
            switch images[i].truth {
            case .normalized(let rows):
                // As Ultralytics: normalized rows × the resized image's size + the letterbox padding.
                let rw = (t.scaleX * Float(prepared.width)).rounded(), rh = (t.scaleY * Float(prepared.height)).rounded()
                labels = rows.map { r in
                    let box = Box(x1: (r.cx - r.w / 2) * rw + t.padX, y1: (r.cy - r.h / 2) * rh + t.padY,
                                  x2: (r.cx + r.w / 2) * rw + t.padX, y2: (r.cy + r.h / 2) * rh + t.padY)
                    return LabelBox(box: options.asDetected ? t.imageBox(box) : box, classIndex: r.classIndex)
                }
            case .pixels(let boxes):
                labels = boxes.map { LabelBox(box: options.asDetected ? $0.box : t.inputBox($0.box), classIndex: $0.classIndex) }
            }
            let predicted = result.boxes.map { PredictedBox(box: $0.box, confidence: $0.confidence, classIndex: $0.classIndex) }
            metrics.add(predictions: predicted, labels: labels)
            confusion.add(predictions: predicted, labels: labels)
            if options.keepPredictions {
                var inImage = result
                if !options.asDetected { for k in inImage.boxes.indices { inImage.boxes[k].box = t.imageBox(inImage.boxes[k].box) } }
                predictions.append(inImage)
            }
            totals.decode += decodeMs
            totals.preprocess += result.times.preprocess
            totals.inference += result.times.forward
            totals.postprocess += result.times.postprocess
            counted += 1
            progress?(false)
        }
        let n = Double(max(counted, 1))
        return ValidationReport(metrics: metrics.compute(), confusion: confusion,
                                speed: (totals.decode / n, totals.preprocess / n, totals.inference / n, totals.postprocess / n),
                                failures: failures, predictions: predictions)
    }

    /// A value produced on another thread, waited for once.
    private final class Pending: @unchecked Sendable {
        private let semaphore = DispatchSemaphore(value: 0)
        private var value: Result<(PreparedImage, Double), Error>?
        func fulfil(_ v: Result<(PreparedImage, Double), Error>) { value = v; semaphore.signal() }
        func wait() -> Result<(PreparedImage, Double), Error> { semaphore.wait(); return value! }
    }
}
