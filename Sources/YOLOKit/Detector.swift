import Foundation

/// Thresholds and filters for one detection call (defaults as Ultralytics' predict, IoU per model family).
public struct DetectionOptions: Sendable {
    public var confidence: Float = 0.25
    public var iou: Float? = nil  // nil: the model's default
    public var maxDetections: Int = 300
    public var classes: Set<Int>? = nil  // keep only these class indices
    public var agnostic: Bool = false    // NMS across classes
    public var multiLabel: Bool = false  // every class above the threshold per box (Ultralytics val), not only the best
    /// Leave boxes in network-input pixels (validators match there) instead of mapping them to the image;
    /// `DetectionResult.transform` maps them back.
    public var networkInputCoordinates: Bool = false

    public init(confidence: Float = 0.25, iou: Float? = nil, maxDetections: Int = 300, classes: Set<Int>? = nil, agnostic: Bool = false,
                multiLabel: Bool = false) {
        self.confidence = confidence; self.iou = iou; self.maxDetections = maxDetections; self.classes = classes; self.agnostic = agnostic
        self.multiLabel = multiLabel
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
    /// How the image was placed in that input (image pixel · scale + pad = input pixel).
    public var transform = InputTransform(scaleX: 1, scaleY: 1, padX: 0, padY: 0, imageWidth: 0, imageHeight: 0)
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
/// let detector = try Detector(model: "yolov3-tiny", execution: ExecutionOptions(threads: 2, backend: .swift))
/// let result = try detector.detect(imageAt: "bus.jpg")
/// for box in result.boxes { print(box.name, box.confidence, box.box) }
/// ```
/// Calls are serialized (one network, one set of buffers); use one Detector per thread for parallelism. Detectors
/// with different `ExecutionOptions` run side by side in one process without affecting each other.
public final class Detector: @unchecked Sendable {
    public let model: any DetectionModel
    /// Threads, GEMM backend, Winograd policy and limits: fixed for the detector's lifetime.
    public let execution: ExecutionOptions
    private let lock = NSLock()

    /// `model`: a registered name (`yolov3-tiny`), a path to an Ultralytics `.pt` checkpoint, or a path to a
    /// Darknet `.cfg` (weights beside it) — see `ModelFile.load`.
    /// `imageSize`: network input size (multiple of 32); nil keeps the model's own.
    /// `endToEnd`: for YOLO26 heads, true runs the NMS-free one-to-one branch instead of one-to-many + NMS.
    public init(model: String = ModelRegistry.defaultModel, execution: ExecutionOptions = ExecutionOptions(),
                imageSize: Int? = nil, endToEnd: Bool? = nil) throws {
        self.model = try ModelFile.load(model, imageSize: imageSize, endToEnd: endToEnd, options: execution)
        self.execution = execution
    }

    public init(model: any DetectionModel, execution: ExecutionOptions = ExecutionOptions()) {
        self.model = model
        self.execution = execution
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
        var times = StageTimes()
        let t = DispatchTime.now()
        let network = model.network(for: model.inputShape(imageWidth: image.width, imageHeight: image.height))
        let transform = model.placeImage(image, into: network.input)
        times.preprocess = milliseconds(since: t)
        return forwardAndPostprocess(network, transform: transform, width: image.width, height: image.height,
                                     path: path, options: options, times: times)
    }

    /// Stage 1 of a two-stage detection (a batch pipeline runs it on other threads while the network works on
    /// the previous image): letterbox/resize into a tensor of its own, exactly as `detect` would fill the
    /// network input. Thread-safe; takes no lock.
    /// `forValidation`: as the model family's validator prepares images (`DetectionModel.placeImageForValidation`).
    public func prepare(_ image: RGBImage, forValidation: Bool = false) -> PreparedImage {
        let t = DispatchTime.now()
        let input: FeatureMap, transform: InputTransform
        if forValidation {
            input = FeatureMap(shape: model.validationInputShape(imageWidth: image.width, imageHeight: image.height))
            transform = model.placeImageForValidation(image, into: input)
        } else {
            input = FeatureMap(shape: model.inputShape(imageWidth: image.width, imageHeight: image.height))
            transform = model.placeImage(image, into: input)
        }
        return PreparedImage(width: image.width, height: image.height, input: input, transform: transform,
                             preprocessMilliseconds: milliseconds(since: t))
    }

    /// Stage 2: copies the prepared tensor into the network input, runs the network and postprocesses.
    /// Gives the same result as `detect(image)` on the image `prepared` came from.
    public func detect(_ prepared: PreparedImage, path: String = "", options: DetectionOptions = DetectionOptions()) -> DetectionResult {
        lock.lock(); defer { lock.unlock() }
        var times = StageTimes()
        let t = DispatchTime.now()
        let network = model.network(for: prepared.input.shape)
        network.input.pointer.update(from: prepared.input.pointer, count: prepared.input.shape.count)
        times.preprocess = prepared.preprocessMilliseconds + milliseconds(since: t)
        return forwardAndPostprocess(network, transform: prepared.transform, width: prepared.width, height: prepared.height,
                                     path: path, options: options, times: times)
    }

    /// The network that runs `image` (for profiling: `yolo bench` times its layers). Takes the lock.
    public func network(for image: RGBImage) -> Network {
        lock.lock(); defer { lock.unlock() }
        return model.network(for: model.inputShape(imageWidth: image.width, imageHeight: image.height))
    }

    /// Forward pass, candidate filtering, NMS and mapping back to image pixels (caller holds the lock).
    private func forwardAndPostprocess(_ network: Network, transform: InputTransform, width: Int, height: Int,
                                       path: String, options: DetectionOptions, times: StageTimes) -> DetectionResult {
        var times = times
        var t = DispatchTime.now()
        network.forward(execution)
        times.forward = milliseconds(since: t)
        t = DispatchTime.now()
        var candidates = model.candidates(from: network, confidence: options.confidence, multiLabel: options.multiLabel)
        if let keep = options.classes { candidates.removeAll { !keep.contains($0.classIndex) } }
        var boxes = model.usesNMS
            ? nonMaxSuppression(candidates, iouThreshold: options.iou ?? model.defaultIoU, maxDetections: options.maxDetections, agnostic: options.agnostic)
            : Array(candidates.sorted { $0.confidence > $1.confidence }.prefix(options.maxDetections))
        if !options.networkInputCoordinates { for i in boxes.indices { boxes[i].box = transform.imageBox(boxes[i].box) } }
        times.postprocess = milliseconds(since: t)
        return DetectionResult(path: path, width: width, height: height, inputShape: network.inputShape, transform: transform,
                               boxes: boxes, times: times)
    }
}

/// An image resized and placed into a network-shaped tensor by `Detector.prepare`, ready for `detect(_:)`.
/// Holds its own tensor (not the network's), so many can be prepared while the network runs.
public struct PreparedImage: @unchecked Sendable {
    /// The original image's size.
    public let width: Int
    public let height: Int
    let input: FeatureMap
    let transform: InputTransform
    public let preprocessMilliseconds: Double
}

func milliseconds(since start: DispatchTime) -> Double {
    Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e6
}
