import Foundation

/// The core of Ultralytics' `Attention` (YOLO11/26 PSA blocks), after its `qkv` conv and before `proj`.
/// Input: qkv [heads·(2·keyDim + headDim), H, W]; per head h the channels are q (keyDim), k (keyDim), v (headDim).
/// Output [heads·headDim, H, W] = per head v · softmax_j((q·scale)ᵀ k)ᵀ, plus `pe` (a depthwise 3×3 conv, no
/// activation) applied to v laid out as [C, H, W].
public final class AttentionLayer: NetworkLayer {
    public let kind = "attention"
    public let outputShape: TensorShape
    public let heads: Int
    public let keyDim: Int
    public let headDim: Int
    public let scale: Float
    public let positional: ConvolutionLayer  // pe: depthwise, input/output [C, H, W]
    private let values: FeatureMap            // v of every head as [C, H, W]
    private let positionalOutput: FeatureMap
    private let positionalWorkspace: FloatBuffer

    public init(inputShape: TensorShape, heads: Int, keyDim: Int, headDim: Int, scale: Float, positional: ConvolutionLayer) {
        precondition(inputShape.channels == heads * (2 * keyDim + headDim))
        outputShape = TensorShape(channels: heads * headDim, height: inputShape.height, width: inputShape.width)
        precondition(positional.inputShape == outputShape && positional.outputShape == outputShape)
        self.heads = heads
        self.keyDim = keyDim
        self.headDim = headDim
        self.scale = scale
        self.positional = positional
        values = FeatureMap(shape: outputShape)
        positionalOutput = FeatureMap(shape: outputShape)
        positionalWorkspace = FloatBuffer(count: positional.workspaceSize)
    }

    var n: Int { outputShape.planeSize }
    /// Scratch: qᵀ [N, keyDim], scores [N, N], scoresᵀ [N, N].
    public var workspaceSize: Int { n * keyDim + 2 * n * n }
    public var macs: Int { heads * (n * n * keyDim + headDim * n * n) + positional.macs }

    public func forward(_ inputs: [FeatureMap], into output: FeatureMap, context: ExecutionContext) {
        let qkv = inputs[0].pointer
        let c = outputShape.channels, group = 2 * keyDim + headDim
        let ws = context.workspace.pointer
        let v = values, pe = positionalOutput
        let qT = ws, scores = qT + n * keyDim, scoresT = scores + n * n
        for h in 0..<heads {
            let q = qkv + h * group * n, k = q + keyDim * n, vh = k + keyDim * n
            v.pointer.advanced(by: h * headDim * n).update(from: vh, count: headDim * n)
            // qᵀ·scale: [N, keyDim]
            for d in 0..<keyDim { for i in 0..<n { qT[i * keyDim + d] = q[d * n + i] * scale } }
            // scores[i, j] = Σ_d q[d, i]·k[d, j]: [N, keyDim] × [keyDim, N]
            context.gemm.sgemm(m: n, n: n, k: keyDim, alpha: 1, a: qT, lda: keyDim, b: k, ldb: n, beta: 0, c: scores, ldc: n)
            softmaxRows(scores, rows: n, columns: n)
            // out[d, i] = Σ_j v[d, j]·attn[i, j]: [headDim, N] × attnᵀ [N, N]
            for i in 0..<n { for j in 0..<n { scoresT[j * n + i] = scores[i * n + j] } }
            context.gemm.sgemm(m: headDim, n: n, k: n, alpha: 1, a: vh, lda: n, b: scoresT, ldb: n, beta: 0,
                               c: output.pointer + h * headDim * n, ldc: n)
        }
        let peContext = ExecutionContext(gemm: context.gemm, threads: context.threads, workspace: positionalWorkspace)
        positional.forward([v], into: pe, context: peContext)
        for i in 0..<(c * n) { output.pointer[i] += pe.pointer[i] }
    }
}

/// Row-wise softmax in place (max-subtracted, as PyTorch).
func softmaxRows(_ x: UnsafeMutablePointer<Float>, rows: Int, columns: Int) {
    for r in 0..<rows {
        let row = x + r * columns
        var m = -Float.infinity
        for j in 0..<columns { m = max(m, row[j]) }
        var sum: Float = 0
        for j in 0..<columns { let e = exp(row[j] - m); row[j] = e; sum += e }
        let inv = 1 / sum
        for j in 0..<columns { row[j] *= inv }
    }
}
