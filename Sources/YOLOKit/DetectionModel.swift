/// A loaded model of any family (Darknet, Ultralytics, …) as the `Detector` and the batch pipeline see it: how an
/// image becomes an input tensor and the transform back, which network runs an input shape, and how the network's
/// outputs become candidate boxes. A new kind of model file is one new conforming type; nothing outside the model
/// files asks which kind it is.
public protocol DetectionModel: AnyObject {
    var names: [String] { get }
    /// IoU threshold used when the caller gives none (Darknet 0.45, Ultralytics 0.7).
    var defaultIoU: Float { get }
    /// False for end-to-end heads (YOLO26's one-to-one branch) whose candidates are already final.
    var usesNMS: Bool { get }
    /// A short description for listings ("Darknet yolov3-tiny.cfg, 416×416, 80 classes").
    var summary: String { get }
    /// The settings the model file brings (Ultralytics: `imgsz`, `task`, `data`, `single_cls` of its training run),
    /// by Ultralytics' names, for listings.
    var fileDefaults: [(key: String, value: String)] { get }

    /// The network input shape [3, H, W] for an image of this size (it may depend on the aspect ratio).
    func inputShape(imageWidth: Int, imageHeight: Int) -> TensorShape
    /// Resizes the image into `input` (of `inputShape(…)`) and returns the transform back to image pixels.
    /// Thread-safe: a pipeline prepares the next images on other threads while the network runs.
    func placeImage(_ image: RGBImage, into input: FeatureMap) -> InputTransform
    /// The network that runs an input of `shape` (built on first use). Not thread-safe: one caller at a time.
    func network(for shape: TensorShape) -> Network
    /// Candidate boxes (network-input pixels) scoring above `confidence`, read after `network.forward`.
    func candidates(from network: Network, confidence: Float, multiLabel: Bool) -> [Detection]

    /// The layer table, counts and file metadata `yolo info` shows. `imageSize`: the square input the shapes and
    /// GFLOPs are for (nil: 640 for Ultralytics, as its `get_flops`; Darknet: the network's own size).
    func info(imageSize: Int?) throws -> ModelInfo

    /// Writes the model's own unfused weights as `format` (`WeightsFormat`), floating-point tensors as `dtype`.
    /// A model that cannot be written in that format throws `WeightsWriteError`.
    func export(to path: String, format: WeightsFormat, dtype: WeightDType) throws -> ExportReport

    /// Writes a copy with `options.ratio` of each group of prunable output channels removed (`ChannelPruning`), as
    /// safetensors that `--model` loads alone; floating-point tensors as `dtype` (nil: the model's own).
    func prune(_ options: PruningOptions, to path: String, dtype: WeightDType?) throws -> CompressionResult
    /// Writes a copy with convolutions replaced by low-rank pairs where that saves work (`LowRankFactorization`).
    func factorize(_ options: LowRankOptions, to path: String, dtype: WeightDType?) throws -> CompressionResult

    /// How `yolo val` feeds an image: as the model family's reference validator prepares it (Ultralytics: see
    /// `Preprocess.ultralyticsValidationGeometry`), which may differ from predict. Default: as predict.
    func validationInputShape(imageWidth: Int, imageHeight: Int) -> TensorShape
    /// Places the image for validation; the transform maps labels into the input and predictions back.
    func placeImageForValidation(_ image: RGBImage, into input: FeatureMap) -> InputTransform
}

extension DetectionModel {
    public var fileDefaults: [(key: String, value: String)] { [] }

    public func validationInputShape(imageWidth: Int, imageHeight: Int) -> TensorShape {
        inputShape(imageWidth: imageWidth, imageHeight: imageHeight)
    }

    public func placeImageForValidation(_ image: RGBImage, into input: FeatureMap) -> InputTransform {
        placeImage(image, into: input)
    }

    /// The network's raw outputs (every output node, concatenated) for one image placed as predict places it.
    public func rawOutputs(for image: RGBImage, options: ExecutionOptions = ExecutionOptions()) -> [Float] {
        let net = network(for: inputShape(imageWidth: image.width, imageHeight: image.height))
        _ = placeImage(image, into: net.input)
        net.forward(options)
        return net.outputs.flatMap { $0.buffer.array }
    }

    /// The heads' candidates with this model's class names.
    public func candidates(from network: Network, confidence: Float, multiLabel: Bool) -> [Detection] {
        network.candidates(confidence: confidence, multiLabel: multiLabel).map {
            Detection(classIndex: $0.classIndex, name: names[$0.classIndex], confidence: $0.confidence, box: $0.box)
        }
    }
}
