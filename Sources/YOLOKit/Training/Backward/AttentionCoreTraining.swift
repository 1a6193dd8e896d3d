import Foundation

/// The core of Ultralytics' `Attention` (YOLO11 C2PSA / PSA blocks) for training: everything between the `qkv`
/// conv and the `+ pe(v)` add. The convs around it (qkv, pe, proj: Conv2d + BatchNorm, no activation) and the add
/// are the other kernels of this folder.
///
/// qkv [B, heads·(2·keyDim + headDim), H, W] is viewed as [B, heads, 2·keyDim + headDim, N = H·W] and split per
/// head into q [keyDim, N], k [keyDim, N], v [headDim, N]. Per image and head:
///   S = scale · qᵀk [N, N],  A = softmax over the last index (rows),  O = v · Aᵀ [headDim, N]
/// and the output [B, heads·headDim, H, W] stacks the heads' O (the `.view(B, C, H, W)`); `values(of:)` gives
/// v laid out the same way, the input of `pe`.
/// Backward, from dO:  dv = dO·A,  dA = dOᵀ·v,  dS = A ⊙ (dA − rowsum(A ⊙ dA)),  dq = scale·k·dSᵀ,  dk = scale·q·dS.
public struct AttentionCoreTraining: Sendable, Equatable {
    public let heads: Int
    public let keyDim: Int
    public let headDim: Int
    public let scale: Float

    /// `scale` defaults to keyDim^−0.5, as Ultralytics.
    public init(heads: Int, keyDim: Int, headDim: Int, scale: Float? = nil) {
        precondition(heads > 0 && keyDim > 0 && headDim > 0, "AttentionCoreTraining: heads, keyDim and headDim must be positive")
        self.heads = heads
        self.keyDim = keyDim
        self.headDim = headDim
        self.scale = scale ?? Float(pow(Double(keyDim), -0.5))
    }

    /// Channels of one head in qkv: q, k, v.
    public var headChannels: Int { 2 * keyDim + headDim }
    public var qkvChannels: Int { heads * headChannels }
    public var outputChannels: Int { heads * headDim }

    /// Kept for the backward pass: qkv (B·heads·(2·keyDim + headDim)·N floats) and the attention probabilities A
    /// (B·heads·N² floats — at a 20×20 map, 160 000 floats per image and head).
    public struct Context: Sendable {
        public let qkv: BatchTensor
        public let attention: [Float]
    }

    private func checkQKV(_ qkv: BatchTensor) {
        precondition(qkv.channels == qkvChannels,
                     "AttentionCoreTraining: qkv has \(qkv.channels) channels, expected heads·(2·keyDim + headDim) = \(qkvChannels)")
    }

    public func forward(_ qkv: BatchTensor, gemm: any GEMMBackend) -> (output: BatchTensor, context: Context) {
        checkQKV(qkv)
        let n = qkv.planeSize
        var out = BatchTensor(zerosBatch: qkv.batch, channels: outputChannels, height: qkv.height, width: qkv.width)
        var attention = [Float](repeating: 0, count: qkv.batch * heads * n * n)
        guard n > 0, qkv.batch > 0 else { return (out, Context(qkv: qkv, attention: attention)) }
        let outImage = out.imageSize
        qkv.values.withUnsafeBufferPointer { qkvs in
        out.values.withUnsafeMutableBufferPointer { outs in
        attention.withUnsafeMutableBufferPointer { attns in
            for b in 0..<qkv.batch {
                for h in 0..<heads {
                    let q = qkvs.baseAddress! + b * qkv.imageSize + h * headChannels * n
                    let k = q + keyDim * n, v = k + keyDim * n
                    let a = attns.baseAddress! + (b * heads + h) * n * n
                    // S[i, j] = scale · Σ_d q[d, i]·k[d, j]: qᵀ [N, keyDim] × k [keyDim, N].
                    gemm.sgemmTransposingA(m: n, n: n, k: keyDim, alpha: scale, a: q, lda: n, b: k, ldb: n, beta: 0, c: a, ldc: n)
                    softmaxRows(a, rows: n, columns: n)
                    // O[d, i] = Σ_j v[d, j]·A[i, j]: v [headDim, N] × Aᵀ.
                    gemm.sgemmTransposingB(m: headDim, n: n, k: n, alpha: 1, a: v, lda: n, b: a, ldb: n, beta: 0,
                                           c: outs.baseAddress! + b * outImage + h * headDim * n, ldc: n)
                }
            }
        }}}
        return (out, Context(qkv: qkv, attention: attention))
    }

    /// dqkv [B, heads·(2·keyDim + headDim), H, W] from dO [B, heads·headDim, H, W] (the gradient of the core's
    /// output only: add pe's input gradient into the v channels with `addValueGradient`).
    public func backward(_ dOut: BatchTensor, context: Context, gemm: any GEMMBackend) -> BatchTensor {
        let qkv = context.qkv
        precondition(dOut.shape == [qkv.batch, outputChannels, qkv.height, qkv.width],
                     "AttentionCoreTraining: gradient of shape \(dOut.shape), output is \([qkv.batch, outputChannels, qkv.height, qkv.width])")
        let n = qkv.planeSize
        var dQKV = BatchTensor(zerosLike: qkv)
        guard n > 0, qkv.batch > 0 else { return dQKV }
        let dScores = UnsafeMutablePointer<Float>.allocate(capacity: n * n)
        defer { dScores.deallocate() }
        qkv.values.withUnsafeBufferPointer { qkvs in
        dOut.values.withUnsafeBufferPointer { douts in
        dQKV.values.withUnsafeMutableBufferPointer { dqkvs in
        context.attention.withUnsafeBufferPointer { attns in
            for b in 0..<qkv.batch {
                for h in 0..<heads {
                    let headOffset = b * qkv.imageSize + h * headChannels * n
                    let q = qkvs.baseAddress! + headOffset, k = q + keyDim * n, v = k + keyDim * n
                    let dq = dqkvs.baseAddress! + headOffset, dk = dq + keyDim * n, dv = dk + keyDim * n
                    let a = attns.baseAddress! + (b * heads + h) * n * n
                    let dO = douts.baseAddress! + b * dOut.imageSize + h * headDim * n
                    // dv[d, j] = Σ_i dO[d, i]·A[i, j].
                    gemm.sgemm(m: headDim, n: n, k: n, alpha: 1, a: dO, lda: n, b: a, ldb: n, beta: 0, c: dv, ldc: n)
                    // dA[i, j] = Σ_d dO[d, i]·v[d, j]: dOᵀ [N, headDim] × v.
                    gemm.sgemmTransposingA(m: n, n: n, k: headDim, alpha: 1, a: dO, lda: n, b: v, ldb: n, beta: 0, c: dScores, ldc: n)
                    // Softmax backward per row: dS = A ⊙ (dA − Σ_j A·dA).
                    for i in 0..<n {
                        let ar = a + i * n, dr = dScores + i * n
                        var dot: Float = 0
                        for j in 0..<n { dot += ar[j] * dr[j] }
                        for j in 0..<n { dr[j] = ar[j] * (dr[j] - dot) }
                    }
                    // dq[d, i] = scale · Σ_j k[d, j]·dS[i, j]: k × dSᵀ.
                    gemm.sgemmTransposingB(m: keyDim, n: n, k: n, alpha: scale, a: k, lda: n, b: dScores, ldb: n, beta: 0, c: dq, ldc: n)
                    // dk[d, j] = scale · Σ_i q[d, i]·dS[i, j]: q × dS.
                    gemm.sgemm(m: keyDim, n: n, k: n, alpha: scale, a: q, lda: n, b: dScores, ldb: n, beta: 0, c: dk, ldc: n)
                }
            }
        }}}}
        return dQKV
    }

    /// v of every head as [B, heads·headDim, H, W] (`v.reshape(B, C, H, W)`, the input of `pe`).
    public func values(of qkv: BatchTensor) -> BatchTensor {
        checkQKV(qkv)
        let n = qkv.planeSize
        var v = BatchTensor(zerosBatch: qkv.batch, channels: outputChannels, height: qkv.height, width: qkv.width)
        for b in 0..<qkv.batch {
            for h in 0..<heads {
                let src = b * qkv.imageSize + (h * headChannels + 2 * keyDim) * n, dst = b * v.imageSize + h * headDim * n
                for i in 0..<(headDim * n) { v.values[dst + i] = qkv.values[src + i] }
            }
        }
        return v
    }

    /// dqkv's v channels += dV [B, heads·headDim, H, W] (pe's input gradient).
    public func addValueGradient(_ dV: BatchTensor, into dQKV: inout BatchTensor) {
        checkQKV(dQKV)
        precondition(dV.shape == [dQKV.batch, outputChannels, dQKV.height, dQKV.width], "AttentionCoreTraining: v gradient of shape \(dV.shape)")
        let n = dQKV.planeSize
        for b in 0..<dQKV.batch {
            for h in 0..<heads {
                let dst = b * dQKV.imageSize + (h * headChannels + 2 * keyDim) * n, src = b * dV.imageSize + h * headDim * n
                for i in 0..<(headDim * n) { dQKV.values[dst + i] += dV.values[src + i] }
            }
        }
    }
}
