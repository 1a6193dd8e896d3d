import Foundation

/// Any `DetectionModel` with some of its convolutions in int8 (`Int8Plan`): the same preprocessing, heads and box
/// decoding (fp32) as the model it wraps; each network is the wrapped model's network for that input size with the
/// planned `ConvolutionLayer` nodes replaced by `Int8ConvolutionLayer`s (the other layers — attention, pooling, the
/// heads, grouped convs — are the same objects). Works alike for Darknet and Ultralytics models.
/// Memory: the wrapped model's own network of each size is kept too (its layer outputs, ~24 MB for YOLOv8s at 640).
public final class QuantizedDetectionModel: DetectionModel {
    public let base: any DetectionModel
    public let plan: Int8Plan
    /// How the plan was made ("minmax", "entropy", …), for the summary.
    public let method: String
    private let weights: [ObjectIdentifier: Int8ConvolutionWeights]
    private var networks: [(base: Network, quantized: Network)] = []
    /// Int8 convs over all convs of the wrapped model's networks (counted on the first network built).
    private var convCounts: (int8: Int, all: Int)?

    /// Quantizes the weights of every planned conv of `base` (found in `base`'s network for `probeShape`).
    public init(base: any DetectionModel, plan: Int8Plan, method: String, probeShape: TensorShape? = nil) throws {
        self.base = base
        self.plan = plan
        self.method = method
        let shape = probeShape ?? base.inputShape(imageWidth: 640, imageHeight: 640)
        var weights: [ObjectIdentifier: Int8ConvolutionWeights] = [:]
        for node in base.network(for: shape).nodes {
            guard let conv = node.layer as? ConvolutionLayer, let input = plan.input(for: conv) else { continue }
            weights[ObjectIdentifier(conv.weights)] = try Int8ConvolutionWeights(conv, input: input)
        }
        guard weights.count == plan.count else {
            throw QuantizationError("\(plan.count - weights.count) of the \(plan.count) int8 convolutions are not in the model's network")
        }
        self.weights = weights
    }

    public var names: [String] { base.names }
    public var defaultIoU: Float { base.defaultIoU }
    public var usesNMS: Bool { base.usesNMS }
    public var summary: String {
        let counts = convCounts.map { "\($0.int8) of \($0.all) convs" } ?? "\(plan.count) convs"
        return base.summary + ", int8 (\(counts), \(method))"
    }
    public var fileDefaults: [(key: String, value: String)] { base.fileDefaults + [("precision", "int8")] }

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

    public func export(to path: String, format: WeightsFormat, dtype: WeightDType) throws -> ExportReport {
        throw WeightsWriteError(path: path, reason: "an int8 model cannot be exported: export the fp32 model it was quantized from")
    }
    public func prune(_ options: PruningOptions, to path: String, dtype: WeightDType?) throws -> CompressionResult {
        throw WeightsWriteError(path: path, reason: "an int8 model cannot be pruned: prune the fp32 model, then quantize the result")
    }
    public func factorize(_ options: LowRankOptions, to path: String, dtype: WeightDType?) throws -> CompressionResult {
        throw WeightsWriteError(path: path, reason: "an int8 model cannot be factorized: factorize the fp32 model, then quantize the result")
    }

    /// The wrapped model's network for `shape` with the planned convs in int8 (built once per network of the wrapped model).
    public func network(for shape: TensorShape) -> Network {
        let fp32 = base.network(for: shape)
        if let hit = networks.first(where: { $0.base === fp32 }) { return hit.quantized }
        let quantized = Network(inputShape: fp32.inputShape)
        var int8 = 0, all = 0
        for node in fp32.nodes {
            var layer = node.layer
            if let conv = layer as? ConvolutionLayer {
                all += 1
                if let w = weights[ObjectIdentifier(conv.weights)] {
                    layer = Int8ConvolutionLayer(validated: conv, weights: w)
                    int8 += 1
                }
            }
            quantized.append(layer, inputs: node.inputs)
        }
        for (index, head) in zip(fp32.outputIndices, fp32.heads) { quantized.addOutput(index, head: head) }
        quantized.shareBuffers()
        if convCounts == nil { convCounts = (int8, all) }
        // As the wrapped model caches networks (Ultralytics: the three most recent sizes): drop ours for networks it dropped.
        networks.append((fp32, quantized))
        if networks.count > 4 { networks.removeFirst() }
        return quantized
    }
}
