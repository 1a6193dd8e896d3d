import Foundation

/// Any `DetectionModel` run with some of its convolutions replaced by a lower-precision layer (int8:
/// `QuantizedDetectionModel`, bf16: `BF16DetectionModel`): the same preprocessing, heads and box decoding (fp32) as
/// the model it wraps; each network is the wrapped model's network for that input size with the chosen
/// `ConvolutionLayer` nodes replaced (the other layers — attention, pooling, heads — are the same objects). Works
/// alike for Darknet and Ultralytics models. Memory: the wrapped model's own network of each size is kept too (its
/// layer outputs, ~24 MB for YOLOv8s at 640).
public class SubstitutedDetectionModel: DetectionModel {
    public let base: any DetectionModel
    private var networks: [(base: Network, substituted: Network)] = []
    /// Replaced convs over all convs of the wrapped model's networks (counted on the first network built).
    private(set) var counts: (replaced: Int, all: Int)?

    init(base: any DetectionModel) { self.base = base }

    /// The layer that runs `conv` instead (nil: `conv` stays). Called once per conv node of each network built.
    func substitute(_ conv: ConvolutionLayer) -> (any NetworkLayer)? { nil }

    /// What the summary adds, given "N of M convs".
    func precisionNote(_ counts: String) -> String { counts }

    public var names: [String] { base.names }
    public var defaultIoU: Float { base.defaultIoU }
    public var usesNMS: Bool { base.usesNMS }
    public var summary: String { base.summary + ", " + precisionNote(counts.map { "\($0.replaced) of \($0.all) convs" } ?? "convs") }
    public var fileDefaults: [(key: String, value: String)] { base.fileDefaults }

    public func inputShape(imageWidth: Int, imageHeight: Int) -> TensorShape { base.inputShape(imageWidth: imageWidth, imageHeight: imageHeight) }
    public func placeImage(_ image: RGBImage, into input: FeatureMap) -> InputTransform { base.placeImage(image, into: input) }
    public func validationInputShape(imageWidth: Int, imageHeight: Int) -> TensorShape {
        base.validationInputShape(imageWidth: imageWidth, imageHeight: imageHeight)
    }
    public func placeImageForValidation(_ image: RGBImage, into input: FeatureMap) -> InputTransform {
        base.placeImageForValidation(image, into: input)
    }
    public func candidates(from network: Network, confidence: Float, multiLabel: Bool) -> [Detection] {
        base.candidates(from: network, confidence: confidence, multiLabel: multiLabel)
    }
    public func info(imageSize: Int?) throws -> ModelInfo { try base.info(imageSize: imageSize) }

    /// The wrapped model's own weights (a run-time precision changes nothing stored).
    public func export(to path: String, format: WeightsFormat, dtype: WeightDType) throws -> ExportReport {
        try base.export(to: path, format: format, dtype: dtype)
    }
    public func prune(_ options: PruningOptions, to path: String, dtype: WeightDType?) throws -> CompressionResult {
        try base.prune(options, to: path, dtype: dtype)
    }
    public func factorize(_ options: LowRankOptions, to path: String, dtype: WeightDType?) throws -> CompressionResult {
        try base.factorize(options, to: path, dtype: dtype)
    }

    /// The wrapped model's network for `shape` with the substituted convs (built once per network of the wrapped model).
    public func network(for shape: TensorShape) -> Network {
        let fp32 = base.network(for: shape)
        if let hit = networks.first(where: { $0.base === fp32 }) { return hit.substituted }
        let substituted = Network(inputShape: fp32.inputShape)
        var replaced = 0, all = 0
        for node in fp32.nodes {
            var layer = node.layer
            if let conv = layer as? ConvolutionLayer {
                all += 1
                if let other = substitute(conv) { layer = other; replaced += 1 }
            }
            substituted.append(layer, inputs: node.inputs)
        }
        for (index, head) in zip(fp32.outputIndices, fp32.heads) { substituted.addOutput(index, head: head) }
        substituted.shareBuffers()
        if counts == nil { counts = (replaced, all) }
        // The wrapped model caches a few networks (Ultralytics: the three most recent sizes); keep ours for about as many.
        networks.append((fp32, substituted))
        if networks.count > 4 { networks.removeFirst() }
        return substituted
    }
}
