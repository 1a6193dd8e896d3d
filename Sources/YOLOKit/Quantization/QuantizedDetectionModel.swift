import Foundation

/// Any `DetectionModel` with the convolutions of an `Int8Plan` in int8 (`Int8ConvolutionLayer`); see
/// `SubstitutedDetectionModel` for what stays the same. Made by `yolo quantize` and by loading its file
/// (`QuantizedModelFile`).
public final class QuantizedDetectionModel: SubstitutedDetectionModel {
    public let plan: Int8Plan
    /// How the plan was made ("minmax", "entropy", …), for the summary.
    public let method: String
    private let weights: [ObjectIdentifier: Int8ConvolutionWeights]

    /// Quantizes the weights of every planned conv of `base` (found in `base`'s network for `probeShape`).
    public init(base: any DetectionModel, plan: Int8Plan, method: String, probeShape: TensorShape? = nil) throws {
        let shape = probeShape ?? base.inputShape(imageWidth: 640, imageHeight: 640)
        var weights: [ObjectIdentifier: Int8ConvolutionWeights] = [:]
        for node in base.network(for: shape).nodes {
            guard let conv = node.layer as? ConvolutionLayer, let input = plan.input(for: conv) else { continue }
            weights[ObjectIdentifier(conv.weights)] = try Int8ConvolutionWeights(conv, input: input)
        }
        guard weights.count == plan.count else {
            throw QuantizationError("\(plan.count - weights.count) of the \(plan.count) int8 convolutions are not in the model's network")
        }
        self.plan = plan
        self.method = method
        self.weights = weights
        super.init(base: base)
    }

    override func substitute(_ conv: ConvolutionLayer) -> (any NetworkLayer)? {
        weights[ObjectIdentifier(conv.weights)].map { Int8ConvolutionLayer(validated: conv, weights: $0) }
    }

    override func precisionNote(_ counts: String) -> String { "int8 (\(counts), \(method))" }

    public override var fileDefaults: [(key: String, value: String)] { base.fileDefaults + [("precision", "int8")] }

    public override func export(to path: String, format: WeightsFormat, dtype: WeightDType) throws -> ExportReport {
        throw WeightsWriteError(path: path, reason: "an int8 model cannot be exported: export the fp32 model it was quantized from")
    }
    public override func prune(_ options: PruningOptions, to path: String, dtype: WeightDType?) throws -> CompressionResult {
        throw WeightsWriteError(path: path, reason: "an int8 model cannot be pruned: prune the fp32 model, then quantize the result")
    }
    public override func factorize(_ options: LowRankOptions, to path: String, dtype: WeightDType?) throws -> CompressionResult {
        throw WeightsWriteError(path: path, reason: "an int8 model cannot be factorized: factorize the fp32 model, then quantize the result")
    }
}
