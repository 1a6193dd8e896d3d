/// 2-D convolution with bias and activation; BatchNorm is folded into weights and bias at load time.
/// Weights: [Cout, Cin/groups · k · k]. Per group: output[Cout/g, outH·outW] = W_g × im2col(input_g).
public final class ConvolutionLayer: NetworkLayer {
    public let kind = "conv"
    public let inputShape: TensorShape
    public let outputShape: TensorShape
    public let filters: Int
    public let size: Int
    public let stride: Int
    public let pad: Int
    public let groups: Int
    public let activation: Activation
    public let weights: FloatBuffer  // [filters, inputShape.channels / groups * size * size]
    public let bias: FloatBuffer     // [filters]
    /// Transformed filters when this layer runs as Winograd F(2×2, 3×3) or F(4×4, 3×3) (3×3 stride-1 with enough channels).
    public let winograd: WinogradWeights?

    public init(inputShape: TensorShape, filters: Int, size: Int, stride: Int, pad: Int, groups: Int,
                activation: Activation, weights: FloatBuffer, bias: FloatBuffer) {
        precondition(groups >= 1 && inputShape.channels % groups == 0 && filters % groups == 0)
        precondition(weights.count == filters * inputShape.channels / groups * size * size && bias.count == filters)
        self.inputShape = inputShape
        self.filters = filters
        self.size = size
        self.stride = stride
        self.pad = pad
        self.groups = groups
        self.activation = activation
        self.weights = weights
        self.bias = bias
        outputShape = TensorShape(channels: filters,
                                  height: ConvolutionLayer.outputSize(inputShape.height, size: size, stride: stride, pad: pad),
                                  width: ConvolutionLayer.outputSize(inputShape.width, size: size, stride: stride, pad: pad))
        let inputChannels = inputShape.channels, outputShape = outputShape
        winograd = Winograd.tile(inputShape: inputShape, outputShape: outputShape, size: size, stride: stride, pad: pad, groups: groups)
            .map { tile in
                WinogradWeights.shared(for: weights, tile: tile, outChannels: filters, inChannels: inputChannels,
                                       transposed: Winograd.prefersTransposed(tile, inChannels: inputChannels, outputShape: outputShape))
            }
    }

    static func outputSize(_ n: Int, size: Int, stride: Int, pad: Int) -> Int { (n + 2 * pad - size) / stride + 1 }

    /// A 1×1 stride-1 unpadded conv reads its input directly as the GEMM's B matrix.
    var needsIm2col: Bool { !(size == 1 && stride == 1 && pad == 0) }
    var groupInputChannels: Int { inputShape.channels / groups }
    var columnRows: Int { groupInputChannels * size * size }  // K of the GEMM

    public var workspaceSize: Int {
        winograd.map { Winograd.workspaceSize($0.tile, inputShape: inputShape, outputShape: outputShape) }
            ?? (needsIm2col ? columnRows * outputShape.planeSize : 0)
    }
    public var macs: Int { filters * columnRows * outputShape.planeSize }

    /// The GEMM shape of one group: M = Cout/groups, N = outH·outW, K = Cin/groups·k·k.
    public var gemmShape: (m: Int, n: Int, k: Int) { (filters / groups, outputShape.planeSize, columnRows) }

    public func forward(_ inputs: [FeatureMap], into output: FeatureMap, context: ExecutionContext) {
        // im2col + GEMM per group + bias/activation; the backend may fuse them (see GEMMBackend.convolution).
        context.gemm.convolution(ConvolutionGEMM(
            input: inputs[0].pointer, inputShape: inputShape, outputShape: outputShape, size: size, stride: stride, pad: pad,
            groups: groups, weights: weights.pointer, bias: bias.pointer, activation: activation,
            output: output.pointer, workspace: context.workspace.pointer, threads: context.threads, winograd: winograd))
    }
}

extension ConvolutionLayer {
    /// Folds inference BatchNorm into a conv: with factor = γ/√(σ²+ε) per output channel,
    /// w' = w·factor and b' = β + (b − μ)·factor, where b is the conv's own bias (0 when it has none).
    /// `weights` is [filters, rest]; returns the folded (weights, bias).
    static func foldBatchNorm(weights: [Float], convBias: [Float]?, gamma: [Float], beta: [Float],
                              mean: [Float], variance: [Float], epsilon: Float) -> (weights: [Float], bias: [Float]) {
        let filters = beta.count
        let rest = weights.count / max(filters, 1)
        var w = weights, b = beta
        for f in 0..<filters {
            let factor = gamma[f] / (variance[f] + epsilon).squareRoot()
            for i in 0..<rest { w[f * rest + i] *= factor }
            b[f] = beta[f] + ((convBias?[f] ?? 0) - mean[f]) * factor
        }
        return (w, b)
    }
}
