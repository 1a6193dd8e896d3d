/// A convolution run in bf16 (`--precision bf16`): the fp32 layer's folded weights rounded to bf16 once (nearest
/// even), the im2col (fp32, made block by block of columns as `BF16GEMM` packs them: `Im2colColumns`) rounded to
/// bf16 while it is packed, products
/// exact and sums in fp32, then bias and activation in fp32. Groups are not supported (grouped convs stay fp32).
/// Error against fp32, before the activation: within (K + 2)·2^-8·Σ_k |w·x| (two bf16 roundings of 2^-9 each, plus
/// fp32 sums) — `BF16GEMM`'s bound plus the operands' rounding.
public final class BF16ConvolutionLayer: NetworkLayer {
    public let kind = "conv-bf16"
    public let geometry: ConvolutionGeometry
    public let activation: Activation
    let weights: BF16PackedWeights
    let bias: [Float]
    let kernel: LowPrecisionKernel.BF16

    /// `weights`: `conv`'s folded weights packed as bf16 (shared by the layers of one conv at every input size).
    init(validated conv: ConvolutionLayer, weights: BF16PackedWeights, kernel: LowPrecisionKernel.BF16) {
        geometry = conv.geometry
        activation = conv.activation
        self.weights = weights
        bias = conv.bias.array
        self.kernel = kernel
    }

    /// `conv` (groups 1) in bf16; `kernel` forced (tests) or automatic. Throws for a grouped conv or a kernel this CPU lacks.
    public convenience init(_ conv: ConvolutionLayer, kernel: LowPrecisionKernel.BF16 = .automatic) throws {
        guard conv.groups == 1 else { throw QuantizationError("a grouped convolution (groups \(conv.groups)) stays fp32") }
        let (m, _, k) = conv.gemmShape
        self.init(validated: conv, weights: BF16PackedWeights(UnsafePointer(conv.weights.pointer), rows: m, depth: k), kernel: try kernel.resolved())
    }

    public var inputShape: TensorShape { geometry.inputShape }
    public var outputShape: TensorShape { geometry.outputShape }
    public var macs: Int { geometry.macs }
    public var parameterCount: Int { geometry.weightCount + geometry.filters }
    /// None: the im2col blocks live in the GEMM's per-thread buffers.
    public var workspaceSize: Int { 0 }

    public func forward(_ inputs: [FeatureMap], into output: FeatureMap, context: ExecutionContext) {
        let (m, n, _) = geometry.gemmShape
        let input = UnsafePointer(inputs[0].pointer)
        let columns: GEMMActivations<Float> = geometry.needsIm2col ? Im2colColumns(geometry).float(input) : .matrix(input, ldx: n)
        BF16GEMM(resolved: kernel, threads: context.threads).multiply(weights, activations: columns, columns: n, bias: bias, into: output.pointer)
        if activation != .linear {
            activation.applyWithBias(output.pointer, bias: nil, channels: m, plane: n, threads: context.threads)
        }
    }
}
