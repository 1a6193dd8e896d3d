import Foundation

/// Ultralytics checkpoint behind the `Detector`: rect letterbox to `imageSize` (stride-32 multiple, gray 114),
/// one network per input size (cached), candidates read by the Detect head as Ultralytics' predict reads them.
/// Defaults as `YOLO(checkpoint).predict(photo)`: the checkpoint's own training `imgsz`, and for YOLO26 heads the
/// one-to-many branch with NMS (`endToEnd: true` runs the NMS-free one-to-one branch, Ultralytics' `nms=False`).
public final class UltralyticsDetectionModel: DetectionModel {
    public let model: UltralyticsModel
    public let imageSize: Int
    private var networks: [[Int]: Network] = [:]
    private var order: [[Int]] = []
    static let cachedSizes = 3

    /// `imageSize`: nil takes the checkpoint's training `imgsz` (640 when it has none); rounded up to the stride.
    /// `file`: the export already opened (`UltralyticsModel.init`).
    public init(path: String, imageSize: Int? = nil, endToEnd: Bool? = nil, options: ExecutionOptions = ExecutionOptions(),
                file: SafetensorsFile? = nil) throws {
        model = try UltralyticsModel(path: path, endToEnd: endToEnd, options: options, file: file)
        let stride = model.strides.max() ?? 32, size = imageSize ?? model.trainingImageSize ?? 640
        self.imageSize = max(stride, (size + stride - 1) / stride * stride)
    }

    public var names: [String] { model.names }
    public var defaultIoU: Float { 0.7 }
    public var usesNMS: Bool { !model.endToEnd }
    public var summary: String {
        "Ultralytics \((model.path as NSString).lastPathComponent), imgsz \(imageSize), \(names.count) classes\(model.endToEnd ? ", end-to-end (NMS-free)" : "")"
    }
    public var fileDefaults: [(key: String, value: String)] {
        [("imgsz", model.trainingImageSize.map(String.init) ?? "640 (not in the checkpoint)")]
            + model.trainArguments.filter { $0.key != "imgsz" }
    }

    public func inputShape(imageWidth: Int, imageHeight: Int) -> TensorShape {
        let g = Preprocess.ultralyticsLetterboxGeometry(width: imageWidth, height: imageHeight, imageSize: imageSize,
                                                        stride: model.strides.max() ?? 32)
        return TensorShape(channels: 3, height: g.inputHeight, width: g.inputWidth)
    }

    public func placeImage(_ image: RGBImage, into input: FeatureMap) -> InputTransform {
        Preprocess.ultralyticsLetterbox(image, into: input, imageSize: imageSize)
    }

    /// Ultralytics' val: long side to imgsz, padded to a rect shape (`Preprocess.ultralyticsValidationGeometry`).
    public func validationInputShape(imageWidth: Int, imageHeight: Int) -> TensorShape {
        let g = Preprocess.ultralyticsValidationGeometry(width: imageWidth, height: imageHeight, imageSize: imageSize,
                                                         stride: model.strides.max() ?? 32)
        return TensorShape(channels: 3, height: g.inputHeight, width: g.inputWidth)
    }

    public func placeImageForValidation(_ image: RGBImage, into input: FeatureMap) -> InputTransform {
        Preprocess.ultralyticsValidationLetterbox(image, into: input, imageSize: imageSize)
    }

    public func export(to path: String, format: WeightsFormat, dtype: WeightDType) throws -> ExportReport {
        try model.export(to: path, format: format, dtype: dtype, imageSize: imageSize)
    }

    public func info(imageSize: Int?) throws -> ModelInfo {
        let stride = model.strides.max() ?? 32, size = imageSize ?? 640
        let side = max(stride, (size + stride - 1) / stride * stride)
        return try model.info(height: side, width: side)
    }

    /// The network for one input size, built on first use (weights are shared between sizes).
    public func network(for shape: TensorShape) -> Network {
        let key = [shape.height, shape.width]
        order.removeAll { $0 == key }
        order.append(key)  // most recently used last
        if let n = networks[key] { return n }
        // Shapes were validated when the model loaded; a size that is a multiple of the stride always builds.
        let n = try! model.makeNetwork(height: shape.height, width: shape.width)
        n.shareBuffers()
        networks[key] = n
        // Each network holds its own activations (~50 MB for YOLOv8s at 640×480 with layers sharing buffers): a
        // folder of photos of many aspect ratios keeps the three most recent sizes (8 cached, unshared: 1.9 GB peak RSS).
        while order.count > Self.cachedSizes { networks[order.removeFirst()] = nil }
        return n
    }
}
