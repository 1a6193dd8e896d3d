/// A 2-D convolution for training (PyTorch `nn.Conv2d` semantics: symmetric zero padding, floor output size, any
/// kernel, stride, padding and groups — depthwise is groups = channels — bias optional), BatchNorm not folded.
/// Weights [Cout, Cin/groups, k, k] (PyTorch's layout, flat), bias [Cout].
///
/// Per image and group g (M = Cout/groups, K = Cin/groups·k·k, N = outH·outW), with cols = im2col(x_g) [K, N]:
///   forward  y_g = W_g · cols (+ b)                  — the inference path (`GEMMBackend.convolution`)
///   backward dW_g += dY_g · colsᵀ                     — `sgemmTransposingB` (cols transposed, K·N floats); on the
///                                                       Swift GEMM, when M < K, the smaller operand instead:
///                                                       dW_gᵀ[K, M] += cols · dY_gᵀ (dY_g transposed, M·N
///                                                       floats), dW_g = (dW_gᵀ)ᵀ at the end. (OpenBLAS keeps the
///                                                       first form: the same bits as before, which the tiny
///                                                       random checkpoints' goldens sit close to the edge of.)
///            dX_g  = col2im(W_gᵀ · dY_g)              — `sgemmTransposingA`, then `col2im`
///            db   += Σ over N of dY
/// Runs on any `GEMMBackend` (OpenBLASGEMM, SwiftGEMM); the backend's own threads split each product, `threads`
/// splits im2col / col2im.
public struct Conv2dTraining: Sendable, Equatable {
    public let inChannels: Int
    public let outChannels: Int
    public let kernel: Int
    public let stride: Int
    public let pad: Int
    public let groups: Int
    public let hasBias: Bool

    public init(inChannels: Int, outChannels: Int, kernel: Int, stride: Int = 1, pad: Int = 0, groups: Int = 1, hasBias: Bool) {
        precondition(inChannels > 0 && outChannels > 0 && kernel > 0 && stride > 0 && pad >= 0,
                     "Conv2dTraining: channels, kernel and stride must be positive, padding not negative")
        precondition(groups > 0 && inChannels % groups == 0 && outChannels % groups == 0,
                     "Conv2dTraining: groups \(groups) must divide in \(inChannels) and out \(outChannels) channels")
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernel = kernel
        self.stride = stride
        self.pad = pad
        self.groups = groups
        self.hasBias = hasBias
    }

    /// Cout · Cin/groups · k · k.
    public var weightCount: Int { outChannels * (inChannels / groups) * kernel * kernel }

    /// What the backward pass needs: the forward's input (N·Cin·H·W floats; the im2col columns are rebuilt in the
    /// backward pass rather than kept, since they are k² times larger).
    public struct Context: Sendable {
        public let input: BatchTensor
    }

    public struct Gradients: Sendable {
        public var input: BatchTensor
        /// [Cout, Cin/groups, k, k].
        public var weight: [Float]
        /// [Cout]; nil when the conv has no bias.
        public var bias: [Float]?
    }

    func geometry(height: Int, width: Int) -> ConvolutionGeometry {
        ConvolutionGeometry(inputShape: TensorShape(channels: inChannels, height: height, width: width),
                            filters: outChannels, size: kernel, stride: stride, pad: pad, groups: groups)
    }

    private func checkParameters(weight: [Float], bias: [Float]?) {
        precondition(weight.count == weightCount, "Conv2dTraining: \(weight.count) weights, expected \(weightCount)")
        precondition((bias != nil) == hasBias, "Conv2dTraining: bias given \(bias != nil), conv has bias \(hasBias)")
        if let bias { precondition(bias.count == outChannels, "Conv2dTraining: \(bias.count) biases for \(outChannels) channels") }
    }

    /// y [N, Cout, outH, outW] = conv(x [N, Cin, H, W]).
    public func forward(_ x: BatchTensor, weight: [Float], bias: [Float]?, gemm: any GEMMBackend, threads: Int = 1)
        -> (output: BatchTensor, context: Context) {
        precondition(x.channels == inChannels, "Conv2dTraining: input has \(x.channels) channels, expected \(inChannels)")
        checkParameters(weight: weight, bias: bias)
        let geo = geometry(height: x.height, width: x.width)
        precondition(geo.outputShape.height > 0 && geo.outputShape.width > 0,
                     "Conv2dTraining: a \(x.height)×\(x.width) input is smaller than the \(kernel)×\(kernel) kernel")
        var y = BatchTensor(zerosBatch: x.batch, channels: outChannels, height: geo.outputShape.height, width: geo.outputShape.width)
        let workspace = FloatBuffer(count: geo.workspaceSize(winograd: nil))
        let outImage = y.imageSize
        x.values.withUnsafeBufferPointer { xs in
            weight.withUnsafeBufferPointer { ws in
                let biasBuffer = bias.map(FloatBuffer.init)
                y.values.withUnsafeMutableBufferPointer { ys in
                    for n in 0..<x.batch {
                        gemm.convolution(ConvolutionGEMM(
                            input: xs.baseAddress! + n * x.imageSize, geometry: geo, weights: ws.baseAddress!,
                            bias: biasBuffer.map { UnsafePointer($0.pointer) }, activation: .linear,
                            output: ys.baseAddress! + n * outImage, workspace: workspace.pointer, threads: threads))
                    }
                }
            }
        }
        return (y, Context(input: x))
    }

    /// dX, dW, db from dY [N, Cout, outH, outW] (dL/dy) and the forward's context.
    public func backward(_ dY: BatchTensor, context: Context, weight: [Float], gemm: any GEMMBackend, threads: Int = 1) -> Gradients {
        let x = context.input
        precondition(weight.count == weightCount, "Conv2dTraining: \(weight.count) weights, expected \(weightCount)")
        let geo = geometry(height: x.height, width: x.width)
        let out = geo.outputShape
        precondition(dY.shape == [x.batch, outChannels, out.height, out.width],
                     "Conv2dTraining: gradient of shape \(dY.shape), output is \([x.batch, outChannels, out.height, out.width])")
        let (m, plane, k) = geo.gemmShape
        let groupChannels = inChannels / groups
        var dX = BatchTensor(zerosLike: x)
        var dW = [Float](repeating: 0, count: weightCount)
        var db: [Float]? = hasBias ? [Float](repeating: 0, count: outChannels) : nil
        // Scratch: one group's columns [K, N] (rebuilt from x) and their gradient [K, N]; for the transposed weight
        // gradient, dY_gᵀ [N, M] and dWᵀ [groups, K, M] (summed over the images).
        let columns = UnsafeMutablePointer<Float>.allocate(capacity: max(1, k * plane))
        let columnGradient = UnsafeMutablePointer<Float>.allocate(capacity: max(1, k * plane))
        let transposedWeightGradient = gemm is SwiftGEMM && m < k
        let outputGradientT = UnsafeMutablePointer<Float>.allocate(capacity: transposedWeightGradient ? max(1, m * plane) : 1)
        let weightGradientT = UnsafeMutablePointer<Float>.allocate(capacity: transposedWeightGradient ? max(1, weightCount) : 1)
        if transposedWeightGradient { weightGradientT.initialize(repeating: 0, count: max(1, weightCount)) }
        defer { columns.deallocate(); columnGradient.deallocate(); outputGradientT.deallocate(); weightGradientT.deallocate() }
        x.values.withUnsafeBufferPointer { xs in
        dY.values.withUnsafeBufferPointer { dys in
        weight.withUnsafeBufferPointer { ws in
        dW.withUnsafeMutableBufferPointer { dws in
        dX.values.withUnsafeMutableBufferPointer { dxs in
            for n in 0..<x.batch {
                let image = xs.baseAddress! + n * x.imageSize, dImage = dxs.baseAddress! + n * x.imageSize
                let dOut = dys.baseAddress! + n * dY.imageSize
                if db != nil {
                    for c in 0..<outChannels {
                        var sum: Float = 0
                        let row = dOut + c * plane
                        for i in 0..<plane { sum += row[i] }
                        db![c] += sum
                    }
                }
                for g in 0..<groups {
                    let input = image + g * groupChannels * x.planeSize, dInput = dImage + g * groupChannels * x.planeSize
                    let dOutGroup = dOut + g * m * plane
                    var cols = input
                    if geo.needsIm2col {
                        im2col(input, channels: groupChannels, height: x.height, width: x.width, kernel: kernel, stride: stride,
                               pad: pad, outHeight: out.height, outWidth: out.width, into: columns, threads: threads)
                        cols = UnsafePointer(columns)
                    }
                    if transposedWeightGradient {
                        // dW_gᵀ[K, M] += cols[K, N] · dY_gᵀ[N, M].
                        transposeMatrix(dOutGroup, rows: m, columns: plane, sourceStride: plane, into: outputGradientT, threads: threads)
                        gemm.sgemm(m: k, n: m, k: plane, alpha: 1, a: cols, lda: plane, b: outputGradientT, ldb: m,
                                   beta: 1, c: weightGradientT + g * m * k, ldc: m)
                    } else {
                        // dW_g[M, K] += dY_g[M, N] · colsᵀ (cols stored [K, N]).
                        gemm.sgemmTransposingB(m: m, n: k, k: plane, alpha: 1, a: dOutGroup, lda: plane, b: cols, ldb: plane,
                                               beta: 1, c: dws.baseAddress! + g * m * k, ldc: k, threads: threads)
                    }
                    // dCols[K, N] = W_gᵀ · dY_g (W_g stored [M, K]); a 1×1 stride-1 conv's columns are x itself.
                    let target = geo.needsIm2col ? columnGradient : dInput
                    gemm.sgemmTransposingA(m: k, n: plane, k: m, alpha: 1, a: ws.baseAddress! + g * m * k, lda: k,
                                           b: dOutGroup, ldb: plane, beta: 0, c: target, ldc: plane)
                    if geo.needsIm2col {
                        col2im(columnGradient, channels: groupChannels, height: x.height, width: x.width, kernel: kernel,
                               stride: stride, pad: pad, outHeight: out.height, outWidth: out.width, addingInto: dInput, threads: threads)
                    }
                }
            }
            if transposedWeightGradient {
                for g in 0..<groups {
                    transposeMatrix(weightGradientT + g * m * k, rows: k, columns: m, sourceStride: m, into: dws.baseAddress! + g * m * k)
                }
            }
        }}}}}
        return Gradients(input: dX, weight: dW, bias: db)
    }
}
