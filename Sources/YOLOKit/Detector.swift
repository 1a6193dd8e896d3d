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
        let t = DispatchTime.now()
        let (network, transform) = model.preprocess(image)
        times.preprocess = milliseconds(since: t)
        return forwardAndPostprocess(network, transform: transform, width: image.width, height: image.height,
                                     path: path, options: options, times: times)
    }

    /// Stage 1 of a two-stage detection (a batch pipeline runs it on other threads while the network works on
    /// the previous image): letterbox/resize into a tensor of its own, exactly as `detect` would fill the
    /// network input. Thread-safe; takes no lock.
    public func prepare(_ image: RGBImage) -> PreparedImage {
        let t = DispatchTime.now()
        let placed: (FeatureMap, InputTransform)?
        if let m = model as? DarknetDetectionModel {
            let input = FeatureMap(shape: m.network.inputShape)
            placed = (input, m.model.letterbox ? Preprocess.darknetLetterbox(image, into: input) : Preprocess.stretch(image, into: input))
        } else if let m = model as? UltralyticsDetectionModel {
            // The same calls as UltralyticsDetectionModel.preprocess, into a tensor of the network's input shape.
            let g = Preprocess.ultralyticsLetterboxGeometry(width: image.width, height: image.height, imageSize: m.imageSize,
                                                            stride: m.model.strides.max() ?? 32)
            let input = FeatureMap(shape: TensorShape(channels: 3, height: g.inputHeight, width: g.inputWidth))
            placed = (input, Preprocess.ultralyticsLetterbox(image, into: input, imageSize: m.imageSize))
        } else {
            placed = nil  // another DetectionModel: it preprocesses in stage 2
        }
        return PreparedImage(width: image.width, height: image.height, input: placed?.0, transform: placed?.1,
                             image: placed == nil ? image : nil, preprocessMilliseconds: milliseconds(since: t))
    }

    /// Stage 2: copies the prepared tensor into the network input, runs the network and postprocesses.
    /// Gives the same result as `detect(image)` on the image `prepared` came from.
    public func detect(_ prepared: PreparedImage, path: String = "", options: DetectionOptions = DetectionOptions()) -> DetectionResult {
        lock.lock(); defer { lock.unlock() }
        applyThreads()
        var times = StageTimes()
        let t = DispatchTime.now()
        let network: Network, transform: InputTransform
        if let input = prepared.input, let placed = prepared.transform {
            if let m = model as? UltralyticsDetectionModel {
                network = m.network(height: input.shape.height, width: input.shape.width)
            } else {
                network = (model as! DarknetDetectionModel).network
            }
            precondition(network.input.shape == input.shape, "Detector: prepared input does not match the network")
            network.input.pointer.update(from: input.pointer, count: input.shape.count)
            transform = placed
        } else {
            (network, transform) = model.preprocess(prepared.image!)
        }
        times.preprocess = prepared.preprocessMilliseconds + milliseconds(since: t)
        return forwardAndPostprocess(network, transform: transform, width: prepared.width, height: prepared.height,
                                     path: path, options: options, times: times)
    }

    /// Forward pass, candidate filtering, NMS and mapping back to image pixels (caller holds the lock).
    private func forwardAndPostprocess(_ network: Network, transform: InputTransform, width: Int, height: Int,
                                       path: String, options: DetectionOptions, times: StageTimes) -> DetectionResult {
        var times = times
        network.threads = max(1, threads)
        network.gemm = gemm
        var t = DispatchTime.now()
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
        return DetectionResult(path: path, width: width, height: height, inputShape: network.inputShape, boxes: boxes, times: times)
    }
}

/// An image resized and placed into a network-shaped tensor by `Detector.prepare`, ready for `detect(_:)`.
/// Holds its own tensor (not the network's), so many can be prepared while the network runs.
public struct PreparedImage: @unchecked Sendable {
    /// The original image's size.
    public let width: Int
    public let height: Int
    let input: FeatureMap?
    let transform: InputTransform?
    let image: RGBImage?
    public let preprocessMilliseconds: Double
}

func milliseconds(since start: DispatchTime) -> Double {
    Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e6
}
