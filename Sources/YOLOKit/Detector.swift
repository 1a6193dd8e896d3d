import Foundation

/// Thresholds and filters for one detection call (defaults as Ultralytics' predict, IoU per model family).
public struct DetectionOptions: Sendable {
    public var confidence: Float = 0.25
    public var iou: Float? = nil  // nil: the model's default
    public var maxDetections: Int = 300
    public var classes: Set<Int>? = nil  // keep only these class indices
    public var agnostic: Bool = false    // NMS across classes

    public init(confidence: Float = 0.25, iou: Float? = nil, maxDetections: Int = 300, classes: Set<Int>? = nil, agnostic: Bool = false) {
        self.confidence = confidence; self.iou = iou; self.maxDetections = maxDetections; self.classes = classes; self.agnostic = agnostic
    }
}

/// Milliseconds spent in each stage of one image.
public struct StageTimes: Sendable {
    public var decode: Double = 0
    public var preprocess: Double = 0
    public var forward: Double = 0
    public var postprocess: Double = 0
    public var total: Double { decode + preprocess + forward + postprocess }
}

/// Detections for one image, boxes in the original image's pixels.
public struct DetectionResult: Sendable {
    public var path: String
    public var width: Int
    public var height: Int
    /// The network input the image was resized into (channels × height × width).
    public var inputShape: TensorShape
    public var boxes: [Detection]
    public var times: StageTimes

    /// "4 persons, 1 bus" (classes in order of first appearance by confidence), or "no detections".
    public var summary: String {
        guard !boxes.isEmpty else { return "no detections" }
        var counts: [(String, Int)] = []
        for d in boxes {
            if let i = counts.firstIndex(where: { $0.0 == d.name }) { counts[i].1 += 1 } else { counts.append((d.name, 1)) }
        }
        return counts.map { "\($0.1) \($0.0)\($0.1 > 1 ? "s" : "")" }.joined(separator: ", ")
    }
}

/// Load a model once, detect objects in many images:
/// ```
/// let detector = try Detector(model: "yolov3-tiny")
/// let result = try detector.detect(imageAt: "bus.jpg")
/// for box in result.boxes { print(box.name, box.confidence, box.box) }
/// ```
/// Calls are serialized (one network, one set of buffers); use one Detector per thread for parallelism.
public final class Detector: @unchecked Sendable {
    public let model: any DetectionModel
    private let lock = NSLock()

    /// `model`: a registered name (`yolov3-tiny`), a path to an Ultralytics `.pt` checkpoint, or a path to a
    /// Darknet `.cfg` (weights beside it).
    /// `imageSize`: network input size (multiple of 32); nil keeps the model's own.
    /// `endToEnd`: for YOLO26 heads, false runs the one-to-many branch + NMS instead of the NMS-free one.
    public init(model: String = ModelRegistry.defaultModel, threads: Int = ProcessInfo.processInfo.activeProcessorCount,
                imageSize: Int? = nil, endToEnd: Bool? = nil) throws {
        let path = FileManager.default.fileExists(atPath: model) ? model : try ModelRegistry.resolve(model)
        switch (path as NSString).pathExtension.lowercased() {
        case "cfg":
            self.model = try DarknetDetectionModel.load(cfgPath: path, inputSize: imageSize)
        case "pt":
            self.model = try UltralyticsDetectionModel(path: path, imageSize: imageSize ?? 640, endToEnd: endToEnd)
        default:
            throw ModelLoadError(path: path, reason: "unsupported model file type (expected an Ultralytics .pt checkpoint, or a Darknet .cfg with its .weights beside it)")
        }
        self.threads = threads
    }

    public init(model: any DetectionModel, threads: Int = ProcessInfo.processInfo.activeProcessorCount) {
        self.model = model
        self.threads = threads
    }

    /// Threads for GEMM (OpenBLAS, process-wide) and the project's own kernels.
    public var threads: Int {
        didSet { applyThreads() }
    }

    /// The matrix-multiply backend every convolution uses (OpenBLAS by default).
    public var gemm: any GEMMBackend = OpenBLASGEMM()

    private func applyThreads() {
        OpenBLAS.setThreads(max(1, threads))
    }

    public var names: [String] { model.names }

    /// Decodes the file (JPEG/PNG by content, EXIF orientation applied) and detects.
    public func detect(imageAt path: String, options: DetectionOptions = DetectionOptions(),
                       maxPixels: Int = ImageDecoder.defaultMaxPixels) throws -> DetectionResult {
        let start = DispatchTime.now()
        let image = try ImageDecoder.decode(contentsOf: path, maxPixels: maxPixels)
        var result = detect(image, path: path, options: options)
        result.times.decode = milliseconds(since: start) - result.times.total
        return result
    }

    public func detect(_ image: RGBImage, path: String = "", options: DetectionOptions = DetectionOptions()) -> DetectionResult {
        lock.lock(); defer { lock.unlock() }
        applyThreads()
        var times = StageTimes()
        var t = DispatchTime.now()
        let (network, transform) = model.preprocess(image)
        network.threads = max(1, threads)
        network.gemm = gemm
        times.preprocess = milliseconds(since: t)
        t = DispatchTime.now()
        network.forward()
        times.forward = milliseconds(since: t)
        t = DispatchTime.now()
        var candidates = model.candidates(from: network, confidence: options.confidence)
        if let keep = options.classes { candidates.removeAll { !keep.contains($0.classIndex) } }
        var boxes = model.usesNMS
            ? nonMaxSuppression(candidates, iouThreshold: options.iou ?? model.defaultIoU, maxDetections: options.maxDetections, agnostic: options.agnostic)
            : Array(candidates.sorted { $0.confidence > $1.confidence }.prefix(options.maxDetections))
        for i in boxes.indices { boxes[i].box = transform.imageBox(boxes[i].box) }
        times.postprocess = milliseconds(since: t)
        return DetectionResult(path: path, width: image.width, height: image.height, inputShape: network.inputShape, boxes: boxes, times: times)
    }
}

func milliseconds(since start: DispatchTime) -> Double {
    Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e6
}
