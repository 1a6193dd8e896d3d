/// Any fp32 `DetectionModel` run with its convolutions in bf16 (`BF16ConvolutionLayer`, `--precision bf16`): bf16
/// weights and activations, fp32 sums; grouped convs, attention and the heads stay fp32. See
/// `SubstitutedDetectionModel` for what stays the same.
public final class BF16DetectionModel: SubstitutedDetectionModel {
    /// The bf16 weights of each conv, packed on first use (shared by the networks of every input size); the buffer
    /// is kept so that its identity stays valid.
    private var packed: [ObjectIdentifier: (weights: FloatBuffer, packed: BF16PackedWeights)] = [:]
    private let kernel: LowPrecisionKernel.BF16

    /// Throws `UnsupportedKernelError` when `kernel` is forced and this CPU lacks it.
    public init(base: any DetectionModel, kernel: LowPrecisionKernel.BF16 = .automatic) throws {
        self.kernel = try kernel.resolved()
        super.init(base: base)
    }

    override func substitute(_ conv: ConvolutionLayer) -> (any NetworkLayer)? {
        guard conv.groups == 1 else { return nil }
        let key = ObjectIdentifier(conv.weights)
        let weights: BF16PackedWeights
        if let hit = packed[key] { weights = hit.packed } else {
            let (m, _, k) = conv.gemmShape
            weights = BF16PackedWeights(UnsafePointer(conv.weights.pointer), rows: m, depth: k)
            packed[key] = (conv.weights, weights)
        }
        return BF16ConvolutionLayer(validated: conv, weights: weights, kernel: kernel)
    }

    override func precisionNote(_ counts: String) -> String { "bf16 (\(counts))" }

    public override var fileDefaults: [(key: String, value: String)] { base.fileDefaults + [("precision", "bf16")] }
}
