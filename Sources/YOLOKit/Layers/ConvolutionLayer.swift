import Foundation

/// 2-D convolution with bias and activation; BatchNorm is folded into weights and bias at load time.
/// Weights: [Cout, Cin/groups · k · k]. Per group: output[Cout/g, outH·outW] = W_g × im2col(input_g).
public final class ConvolutionLayer: NetworkLayer {
    public let kind = "conv"
    public let geometry: ConvolutionGeometry
    public let activation: Activation
    public let weights: FloatBuffer  // [filters, inputShape.channels / groups * size * size]
    public let bias: FloatBuffer     // [filters]
    /// The Winograd tile and GEMM layout when this layer runs as Winograd F(2×2, 3×3) or F(4×4, 3×3) (3×3 stride-1
    /// with enough channels, as the `winograd` policy decides when the layer is built); nil: im2col + GEMM.
    public let winogradLayout: (tile: WinogradTile, transposed: Bool)?
    /// The transformed filters for `winogradLayout`, made on first use and shared with other layers over the same
    /// weights and layout (`WinogradWeights.shared`): a network built only to check a checkpoint's sizes, or one
    /// whose convs are replaced by int8 ones, never pays for them.
    public var winograd: WinogradWeights? {
        guard let layout = winogradLayout else { return nil }
        lock.lock(); defer { lock.unlock() }
        if let made = transformed { return made }
        let made = WinogradWeights.shared(for: weights, tile: layout.tile, outChannels: filters, inChannels: inputShape.channels,
                                          transposed: layout.transposed)
        transformed = made
        return made
    }
    private var transformed: WinogradWeights?
    private let lock = NSLock()

    public init(inputShape: TensorShape, filters: Int, size: Int, stride: Int, pad: Int, groups: Int,
                activation: Activation, weights: FloatBuffer, bias: FloatBuffer, winograd policy: WinogradPolicy = .measured) {
        precondition(groups >= 1 && inputShape.channels % groups == 0 && filters % groups == 0)
        let geometry = ConvolutionGeometry(inputShape: inputShape, filters: filters, size: size, stride: stride, pad: pad, groups: groups)
        precondition(weights.count == geometry.weightCount && bias.count == filters)
        self.geometry = geometry
        self.activation = activation
        self.weights = weights
        self.bias = bias
        winogradLayout = Winograd.tile(geometry, policy: policy).map { tile in
            (tile, Winograd.prefersTransposed(tile, inChannels: inputShape.channels, outputShape: geometry.outputShape))
        }
    }

    public var inputShape: TensorShape { geometry.inputShape }
    public var outputShape: TensorShape { geometry.outputShape }
    public var filters: Int { geometry.filters }
    public var size: Int { geometry.size }
    public var stride: Int { geometry.stride }
    public var pad: Int { geometry.pad }
    public var groups: Int { geometry.groups }
    public var workspaceSize: Int { geometry.workspaceSize(winograd: winogradLayout?.tile) }
    public var macs: Int { geometry.macs }
    public var parameterCount: Int { weights.count + bias.count }
    /// The GEMM shape of one group: M = Cout/groups, N = outH·outW, K = Cin/groups·k·k.
    public var gemmShape: (m: Int, n: Int, k: Int) { geometry.gemmShape }

    public func forward(_ inputs: [FeatureMap], into output: FeatureMap, context: ExecutionContext) {
        // im2col + GEMM per group + bias/activation; the backend may fuse them (see GEMMBackend.convolution).
        context.gemm.convolution(ConvolutionGEMM(
            input: inputs[0].pointer, geometry: geometry, weights: weights.pointer, bias: bias.pointer, activation: activation,
            output: output.pointer, workspace: context.workspace.pointer, threads: context.threads, winograd: winograd))
    }
}

extension ConvolutionLayer {
    /// Folds inference BatchNorm into a conv: with factor = γ/√(σ²+ε) per output channel,
    /// w' = w·factor and b' = β + (b − μ)·factor, where b is the conv's own bias (0 when it has none).
    /// `weights` is [filters, rest]; returns the folded (weights, bias).
    static func foldBatchNorm(weights: [Float], convBias: [Float]?, gamma: [Float], beta: [Float],
                              mean: [Float], variance: [Float], epsilon: Float) -> (weights: [Float], bias: [Float]) {
        var w = weights, b = beta
        w.withUnsafeMutableBufferPointer { w in
            b.withUnsafeMutableBufferPointer { b in
                foldBatchNorm(weights: w.baseAddress!, rest: weights.count / max(beta.count, 1), bias: b.baseAddress!, convBias: convBias,
                              gamma: gamma, mean: mean, variance: variance, epsilon: epsilon)
            }
        }
        return (w, b)
    }

    /// The same fold in place: `weights` [filters, rest] are scaled, `bias` holds β on entry and b' on return.
    static func foldBatchNorm(weights w: UnsafeMutablePointer<Float>, rest: Int, bias b: UnsafeMutablePointer<Float>, convBias: [Float]?,
                              gamma: [Float], mean: [Float], variance: [Float], epsilon: Float) {
        // Filters split over two threads from 1M weights on (a cold start's large layers): the same bits.
        parallelChunks(gamma.count, threads: gamma.count * rest >= 1 << 20 ? 2 : 1) { filters in
            for f in filters {
                let factor = gamma[f] / (variance[f] + epsilon).squareRoot()
                for i in 0..<rest { w[f * rest + i] *= factor }
                b[f] = b[f] + ((convBias?[f] ?? 0) - mean[f]) * factor
            }
        }
    }
}
