/// A convolution run in int8 (the scheme of DESIGN.md's quantization notes): the fp32 layer's folded weights
/// quantized symmetric per output channel (`PerChannelWeightQuantization`), its input quantized per tensor to uint8
/// with a zero point (`ActivationQuantization`, from calibration), int32 sums by `Int8GEMM`, and an fp32 epilogue:
/// out = s_w[i]·s_x·(Σ_k q_w·q_x − z_x·Σ_k q_w) + bias[i] (the zero-point term folded with the bias per output channel,
/// `Int8Dequantization`), then the activation. Padding is the zero point, i.e. exactly 0.
///
/// Per forward: quantize the input [C, H, W] → uint8, one int8 GEMM on it (1×1 stride 1) or on its uint8 im2col,
/// made block by block of columns as the GEMM packs them (`Im2colColumns`), the activation (leaky ReLU inside the
/// GEMM's epilogue). Groups are not supported (a depthwise conv has too little depth to gain; it stays fp32).
///
/// Error against the fp32 conv on the same input, before the activation, for an input inside the calibrated range:
/// |Δy[i, j]| ≤ Σ_k (s_w[i]/2 · |x̂_k| + |ŵ_ik| · s_x/2 + s_w[i]·s_x/4) plus fp32 rounding, with ŵ, x̂ the dequantized
/// values (`errorBound` computes it; QuantizationTests checks it).
public final class Int8ConvolutionLayer: NetworkLayer {
    public let kind = "conv-int8"
    public let geometry: ConvolutionGeometry
    public let activation: Activation
    /// The quantized weights and the epilogue terms (shared by the layers of one conv at every input size).
    public let quantized: Int8ConvolutionWeights
    let kernel: LowPrecisionKernel.Int8

    /// Runs `conv` (groups must be 1) with `weights` (made from its folded weights and bias). `kernel`: forced
    /// micro-kernel (tests), or automatic: the fastest for this CPU and the conv's K (`best(for:depth:)`); throws
    /// `UnsupportedKernelError` when this CPU lacks a forced one.
    public init(_ conv: ConvolutionLayer, weights: Int8ConvolutionWeights, kernel: LowPrecisionKernel.Int8 = .automatic) throws {
        guard conv.groups == 1 else { throw QuantizationError("a grouped convolution (groups \(conv.groups)) stays fp32") }
        let (m, _, k) = conv.gemmShape
        guard weights.packed.rows == m, weights.packed.depth == k else {
            throw QuantizationError("int8 weights of \(weights.packed.rows) × \(weights.packed.depth) for a conv of \(m) × \(k)")
        }
        geometry = conv.geometry
        activation = conv.activation
        quantized = weights
        self.kernel = try kernel == .automatic ? LowPrecisionKernel.Int8.best(depth: k) : kernel.resolved()
    }

    /// For a conv and weights already checked to fit (groups 1, same shape): the automatic kernel, which always resolves.
    init(validated conv: ConvolutionLayer, weights: Int8ConvolutionWeights) {
        geometry = conv.geometry
        activation = conv.activation
        quantized = weights
        kernel = LowPrecisionKernel.Int8.best(depth: conv.gemmShape.k)
    }

    /// Quantizes `conv` for inputs quantized as `input`.
    public convenience init(_ conv: ConvolutionLayer, input: ActivationQuantization, kernel: LowPrecisionKernel.Int8 = .automatic) throws {
        try self.init(conv, weights: try Int8ConvolutionWeights(conv, input: input), kernel: kernel)
    }

    public var weightQuantization: PerChannelWeightQuantization { quantized.weightQuantization }
    public var inputQuantization: ActivationQuantization { quantized.input }
    var weights: Int8PackedWeights { quantized.packed }
    var quantizedWeights: [Int8] { quantized.values }
    var dequantization: Int8Dequantization { quantized.dequantization }

    public var inputShape: TensorShape { geometry.inputShape }
    public var outputShape: TensorShape { geometry.outputShape }
    public var macs: Int { geometry.macs }
    public var parameterCount: Int { geometry.weightCount + geometry.filters }

    /// In floats (the shared workspace is a float buffer): the quantized input, 64-byte aligned. The im2col blocks live
    /// in the GEMM's own per-thread buffers.
    public var workspaceSize: Int { Self.aligned(inputShape.count) / 4 }

    static func aligned(_ bytes: Int) -> Int { (bytes + 63) / 64 * 64 }

    public func forward(_ inputs: [FeatureMap], into output: FeatureMap, context: ExecutionContext) {
        let (m, n, k) = geometry.gemmShape
        let count = inputShape.count
        let scratch = UnsafeMutableRawPointer(context.workspace.pointer)
        let quantized = scratch.bindMemory(to: UInt8.self, capacity: Self.aligned(count))
        let x = inputs[0].pointer, q = inputQuantization
        // Quantizing takes ~0.3 ns a value: below ~1 M values a second thread costs more than it saves (and on a busy
        // machine a parallel region can wait a whole time slice for its second thread).
        let workers = count < 1 << 20 ? 1 : context.threads
        parallelChunks((count + 63) / 64, threads: workers) { blocks in
            let lo = blocks.lowerBound * 64, hi = min(count, blocks.upperBound * 64)
            q.quantize(x + lo, count: hi - lo, into: quantized + lo)
        }
        let columns: GEMMActivations<UInt8> = geometry.needsIm2col
            ? Im2colColumns(geometry).quantized(quantized, zeroPoint: q.zeroPoint) : .matrix(UnsafePointer(quantized), ldx: n)
        precondition(k == weights.depth && m == weights.rows)
        // Darknet's leaky ReLU runs in the GEMM's epilogue (the same bits, one pass over the output fewer).
        Int8GEMM(resolved: kernel, threads: context.threads)
            .multiply(weights, activations: columns, columns: n, dequantization: dequantization, leakyReLU: activation == .leaky, into: output.pointer)
        if activation != .linear && activation != .leaky {
            activation.applyWithBias(output.pointer, bias: nil, channels: m, plane: n, threads: context.threads)
        }
    }

    /// The bound above for each output [filters, outH·outW] on `input` (fp32, [C, H, W]), before the activation, plus
    /// the fp32 rounding of both sides ((K + 2) · 2^-22 · Σ_k |w·x|, bias included).
    public func errorBound(input: [Float]) -> [Float] {
        let (m, n, k) = geometry.gemmShape
        precondition(input.count == inputShape.count, "errorBound: input of \(input.count) values, not \(inputShape)")
        var columns = [Float](repeating: 0, count: k * n)  // im2col of |input| (zero padding)
        let magnitudes = input.map(abs)
        magnitudes.withUnsafeBufferPointer { s in columns.withUnsafeMutableBufferPointer { o in
            im2col(s.baseAddress!, channels: inputShape.channels, height: inputShape.height, width: inputShape.width,
                   kernel: geometry.size, stride: geometry.stride, pad: geometry.pad, outHeight: outputShape.height,
                   outWidth: outputShape.width, into: o.baseAddress!, threads: 1)
        }}
        let w = weightQuantization.dequantize(quantizedWeights, depth: k), sx = Double(inputQuantization.scale)
        var bound = [Float](repeating: 0, count: m * n)
        for i in 0..<m {
            let sw = Double(weightQuantization.scales[i]), bias = Double(abs(dequantization.biases?[i] ?? 0))
            for j in 0..<n {
                var e = 0.0, magnitude = bias
                for p in 0..<k {
                    let x = Double(columns[p * n + j]), wh = abs(Double(w[i * k + p]))
                    e += sw / 2 * x + wh * sx / 2
                    magnitude += (wh + sw / 2) * (x + sx / 2)
                }
                bound[i * n + j] = Float(e + Double(k + 2) * magnitude * 0x1p-22)
            }
        }
        return bound
    }
}

/// One conv's int8 weights: folded fp32 weights [filters, K] quantized per output channel, packed for `Int8GEMM`, and
/// the epilogue terms for inputs quantized as `input` (bias and zero-point correction per output channel).
public final class Int8ConvolutionWeights: @unchecked Sendable {
    public let weightQuantization: PerChannelWeightQuantization
    public let input: ActivationQuantization
    /// q_w, row-major [filters, K].
    public let values: [Int8]
    let packed: Int8PackedWeights
    let dequantization: Int8Dequantization

    public init(_ conv: ConvolutionLayer, input: ActivationQuantization) throws {
        let (m, _, k) = conv.gemmShape
        let floats = conv.weights.array
        weightQuantization = try PerChannelWeightQuantization(weights: floats, rows: conv.filters, depth: floats.count / max(1, conv.filters))
        values = weightQuantization.quantize(floats, depth: k)
        packed = try Int8PackedWeights(values, rows: m * conv.groups, depth: k)
        self.input = input
        dequantization = Int8Dequantization(weights: packed, weightScales: weightQuantization.scales, activation: input, bias: conv.bias.array)
    }
}
