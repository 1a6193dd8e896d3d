/// A 2-D convolution for training (PyTorch `nn.Conv2d` semantics: symmetric zero padding, floor output size, any
/// kernel, stride, padding and groups — depthwise is groups = channels — bias optional), BatchNorm not folded.
/// Weights [Cout, Cin/groups, k, k] (PyTorch's layout, flat), bias [Cout].
///
/// Per image (or per chunk of images side by side, `imagesPerProduct`) and group g (M = Cout/groups,
/// K = Cin/groups·k·k, N = outH·outW), with cols = im2col(x_g) [K, N]:
///   forward  y_g = W_g · cols (+ b)                  — the inference path (`GEMMBackend.convolution`)
///   backward dW_g += dY_g · colsᵀ                     — `sgemmTransposingB` (cols transposed, K·N floats); on the
///                                                       Swift GEMM, when M < K, the smaller operand instead:
///                                                       dW_gᵀ[K, M] += cols · dY_gᵀ (dY_g transposed, M·N
///                                                       floats), dW_g = (dW_gᵀ)ᵀ at the end. (OpenBLAS keeps the
///                                                       first form: the same bits as before, which the tiny
///                                                       random checkpoints' goldens sit close to the edge of.)
///            dX_g  = col2im(W_gᵀ · dY_g)              — `sgemmTransposingA`, then `col2im`; for stride 1 and one
///                                                       group, dX = conv(dY, W turned, pad k−1−pad) instead
///                                                       (`transposedConvolution`, the inference path)
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

    /// Images per product: a GEMM per image runs narrow on the deep maps (N = 25 at 5×5, the weights packed again
    /// for every image), so `c` images' columns go side by side into one [K, c·N] matrix and one product per group
    /// covers them. `c` keeps that matrix within `columnBudget` floats. Maps of 1024 points or more stay per image:
    /// their GEMMs are wide already, and the forward's per-image path packs B straight from the input (no im2col
    /// pass). Measured on the fall checkpoint, batch 8, 160², 2 threads: per image 920–1021 ms a step, batched
    /// below 1024 points 893–943, below 4096 966–1048 (`yolo bench --train`, alternating, 5 steps each).
    static let columnBudget = 1 << 22
    /// The input gradient's products go side by side below this many points per map. Measured as above: the 5×5
    /// and 10×10 maps' 3×3 backward 13.2 → 8.9 and 7.4 → 7.1 ms; the 20×20 maps' slower (22.5 → 31.1 ms), their
    /// [Cout·9, 8·400] columns (15 MB) leaving the L2 that the per-image packing stays in.
    static let sideBySideInputGradientPlane = 256
    static func imagesPerProduct(batch: Int, rows k: Int, plane: Int) -> Int {
        plane >= 1024 ? 1 : max(1, min(batch, columnBudget / max(1, k * plane)))
    }

    /// y [N, Cout, outH, outW] = conv(x [N, Cin, H, W]).
    public func forward(_ x: BatchTensor, weight: [Float], bias: [Float]?, gemm: any GEMMBackend, threads: Int = 1)
        -> (output: BatchTensor, context: Context) {
        precondition(x.channels == inChannels, "Conv2dTraining: input has \(x.channels) channels, expected \(inChannels)")
        checkParameters(weight: weight, bias: bias)
        let geo = geometry(height: x.height, width: x.width)
        precondition(geo.outputShape.height > 0 && geo.outputShape.width > 0,
                     "Conv2dTraining: a \(x.height)×\(x.width) input is smaller than the \(kernel)×\(kernel) kernel")
        // Every value is written: by the GEMMs (beta 0) or the scatter of the side-by-side products.
        var y = BatchTensor(uninitializedBatch: x.batch, channels: outChannels, height: geo.outputShape.height, width: geo.outputShape.width)
        let (m, plane, k) = geo.gemmShape
        let chunk = Self.imagesPerProduct(batch: x.batch, rows: k, plane: plane)
        let outImage = y.imageSize
        x.values.withUnsafeBufferPointer { xs in
            weight.withUnsafeBufferPointer { ws in
                y.values.withUnsafeMutableBufferPointer { ys in
                    if chunk == 1 {
                        // The inference path, image by image.
                        let workspace = FloatBuffer(count: geo.workspaceSize(winograd: nil))
                        let biasBuffer = bias.map(FloatBuffer.init)
                        for n in 0..<x.batch {
                            gemm.convolution(ConvolutionGEMM(
                                input: xs.baseAddress! + n * x.imageSize, geometry: geo, weights: ws.baseAddress!,
                                bias: biasBuffer.map { UnsafePointer($0.pointer) }, activation: .linear,
                                output: ys.baseAddress! + n * outImage, workspace: workspace.pointer, threads: threads))
                        }
                        return
                    }
                    // Per chunk of c images and group g: out[M, c·N] = W_g · cols[K, c·N], scattered to each image.
                    let columns = UnsafeMutablePointer<Float>.allocate(capacity: k * chunk * plane)
                    let product = UnsafeMutablePointer<Float>.allocate(capacity: m * chunk * plane)
                    defer { columns.deallocate(); product.deallocate() }
                    var n0 = 0
                    while n0 < x.batch {
                        let c = min(chunk, x.batch - n0)
                        for g in 0..<groups {
                            Self.convolveSideBySide(xs.baseAddress!, images: n0..<(n0 + c), group: g, geometry: geo, weights: ws.baseAddress! + g * m * k,
                                                    bias: bias.map { Array($0[(g * m)..<((g + 1) * m)]) }, into: ys.baseAddress!,
                                                    columns: columns, product: product, gemm: gemm, threads: threads)
                        }
                        n0 += c
                    }
                }
            }
        }
        return (y, Context(input: x))
    }

    /// y_g = W_g · x_g for images `images` of a batch (`xs`, images of geo's input shape) by one product: cols[K, c·N]
    /// (`gatherColumns`), out[M, c·N] = W_g · cols, scattered into each image's planes of group g in `ys` (images of
    /// geo's output shape), plus bias[M] when given. Scratch: `columns` K·c·N and `product` M·c·N floats.
    static func convolveSideBySide(_ xs: UnsafePointer<Float>, images: Range<Int>, group g: Int, geometry geo: ConvolutionGeometry,
                                   weights: UnsafePointer<Float>, bias: [Float]?, into ys: UnsafeMutablePointer<Float>,
                                   columns: UnsafeMutablePointer<Float>, product: UnsafeMutablePointer<Float>,
                                   gemm: any GEMMBackend, threads: Int) {
        let (m, plane, k) = geo.gemmShape
        let width = images.count * plane, outImage = geo.outputShape.channels * plane
        gatherColumns(xs, images: images, group: g, geometry: geo, into: columns, threads: threads)
        gemm.sgemm(m: m, n: width, k: k, alpha: 1, a: weights, lda: k, b: columns, ldb: width, beta: 0, c: product, ldc: width)
        for (i, n) in images.enumerated() {
            let image = ys + n * outImage + g * m * plane
            for row in 0..<m {
                let src = product + row * width + i * plane, dst = image + row * plane
                if let bias {
                    let b = bias[row]
                    for j in 0..<plane { dst[j] = src[j] + b }
                } else {
                    dst.update(from: src, count: plane)
                }
            }
        }
    }

    /// cols[K, c·N] for images `images` of a batch (`xs`, images of geo's input shape), group g: image i's im2col in
    /// columns i·N ..< (i+1)·N (a 1×1 stride-1 conv's columns are the input planes, copied).
    static func gatherColumns(_ xs: UnsafePointer<Float>, images: Range<Int>, group g: Int, geometry geo: ConvolutionGeometry,
                              into columns: UnsafeMutablePointer<Float>, threads: Int) {
        let (_, plane, k) = geo.gemmShape
        let input = geo.inputShape, out = geo.outputShape, groupChannels = geo.groupInputChannels, width = images.count * plane
        for (i, n) in images.enumerated() {
            let image = xs + n * input.channels * input.planeSize + g * groupChannels * input.planeSize
            if geo.needsIm2col {
                im2col(image, channels: groupChannels, height: input.height, width: input.width, kernel: geo.size, stride: geo.stride,
                       pad: geo.pad, outHeight: out.height, outWidth: out.width, into: columns + i * plane, rowStride: width, threads: threads)
            } else {
                for r in 0..<k { (columns + r * width + i * plane).update(from: image + r * plane, count: plane) }
            }
        }
    }

    /// The convolution whose output is dX (stride 1, one group): input dY [Cout, outH, outW], filters
    /// W̃[ci, co, ky, kx] = W[co, ci, k−1−ky, k−1−kx], padding k − 1 − pad, output [Cin, H, W]. W̃ is a heap block
    /// the caller deallocates (reused from step to step by malloc; a `FloatBuffer` this size is a fresh mapping,
    /// page-faulted in again at every step); the workspace is written only by the OpenBLAS path.
    private func transposedConvolution(_ weight: [Float], geometry geo: ConvolutionGeometry)
        -> (geometry: ConvolutionGeometry, weights: UnsafeMutablePointer<Float>, workspace: FloatBuffer) {
        let out = geo.outputShape, taps = kernel * kernel
        let geometry = ConvolutionGeometry(inputShape: TensorShape(channels: outChannels, height: out.height, width: out.width),
                                           filters: inChannels, size: kernel, stride: 1, pad: kernel - 1 - pad, groups: 1)
        precondition(geometry.outputShape == geo.inputShape, "Conv2dTraining: the transposed convolution's output \(geometry.outputShape) is not the input's \(geo.inputShape)")
        let turned = UnsafeMutablePointer<Float>.allocate(capacity: weight.count)
        weight.withUnsafeBufferPointer { w in
            // Written in order (the reads stride over Cin·k² floats): faster than the other way round.
            var out = turned
            for ci in 0..<inChannels {
                for co in 0..<outChannels {
                    let filter = w.baseAddress! + (co * inChannels + ci) * taps
                    for t in 0..<taps { out[t] = filter[taps - 1 - t] }
                    out += taps
                }
            }
        }
        return (geometry, turned, FloatBuffer(count: geometry.workspaceSize(winograd: nil)))
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
        let chunk = Self.imagesPerProduct(batch: x.batch, rows: k, plane: plane)
        // A stride-1 k×k conv's input gradient is itself a convolution: dX = conv(dY, W̃), W̃[ci, co] = W[co, ci]
        // turned 180°, padding k − 1 − pad: no [K, N] column gradient, no col2im pass. Per image, the inference path
        // packs dY straight into that GEMM; maps under `sideBySideInputGradientPlane` points go side by side as the
        // forward's do (`convolveSideBySide`).
        let transposed = stride == 1 && kernel > 1 && groups == 1 && pad <= kernel - 1 ? transposedConvolution(weight, geometry: geo) : nil
        // col2im adds into dX; every other path writes it whole.
        var dX = transposed == nil && geo.needsIm2col ? BatchTensor(zerosLike: x) : BatchTensor(uninitializedLike: x)
        // dW (and dWᵀ) are written by the first chunk's products (beta 0), accumulated by the later ones.
        var dW = [Float](unsafeUninitializedCapacity: weightCount) { _, initialized in initialized = weightCount }
        var db: [Float]? = hasBias ? [Float](repeating: 0, count: outChannels) : nil
        // Scratch for a chunk of c images (see `imagesPerProduct`): the group's columns [K, c·N] (rebuilt from x) and
        // their gradient [K, c·N]; dY_g side by side [M, c·N] when c > 1; for the transposed weight gradient,
        // dY_gᵀ [c·N, M] and dWᵀ [groups, K, M] (summed over the images).
        let width = chunk * plane
        let columns = UnsafeMutablePointer<Float>.allocate(capacity: max(1, k * width))
        let columnGradient = UnsafeMutablePointer<Float>.allocate(capacity: transposed == nil ? max(1, k * width) : 1)
        // The transposed convolution's columns [Cout·k², c·H·W] and product [Cin, c·H·W] (its output is x's shape).
        let sideBySideTransposed = transposed != nil && chunk > 1 && plane < Self.sideBySideInputGradientPlane
        let transposedWidth = chunk * x.planeSize
        let transposedColumns = UnsafeMutablePointer<Float>.allocate(capacity: sideBySideTransposed ? outChannels * kernel * kernel * transposedWidth : 1)
        let transposedProduct = UnsafeMutablePointer<Float>.allocate(capacity: sideBySideTransposed ? inChannels * transposedWidth : 1)
        let gatheredGradient = UnsafeMutablePointer<Float>.allocate(capacity: chunk > 1 ? max(1, m * width) : 1)
        let transposedWeightGradient = gemm is SwiftGEMM && m < k
        let outputGradientT = UnsafeMutablePointer<Float>.allocate(capacity: transposedWeightGradient ? max(1, m * width) : 1)
        let weightGradientT = UnsafeMutablePointer<Float>.allocate(capacity: transposedWeightGradient ? max(1, weightCount) : 1)
        defer {
            columns.deallocate(); columnGradient.deallocate(); gatheredGradient.deallocate()
            transposedColumns.deallocate(); transposedProduct.deallocate(); transposed?.weights.deallocate()
            outputGradientT.deallocate(); weightGradientT.deallocate()
        }
        x.values.withUnsafeBufferPointer { xs in
        dY.values.withUnsafeBufferPointer { dys in
        weight.withUnsafeBufferPointer { ws in
        dW.withUnsafeMutableBufferPointer { dws in
        dX.values.withUnsafeMutableBufferPointer { dxs in
            if db != nil {
                for n in 0..<x.batch {
                    let dOut = dys.baseAddress! + n * dY.imageSize
                    for c in 0..<outChannels {
                        var sum: Float = 0
                        let row = dOut + c * plane
                        for i in 0..<plane { sum += row[i] }
                        db![c] += sum
                    }
                }
            }
            var n0 = 0
            while n0 < x.batch {
                let c = min(chunk, x.batch - n0), cw = c * plane
                for g in 0..<groups {
                    // cols [K, c·N] and dY_g [M, c·N] (ld cw); one image: x and dY themselves where they can be.
                    var cols = UnsafePointer(columns)
                    if c == 1 && !geo.needsIm2col {
                        cols = xs.baseAddress! + n0 * x.imageSize + g * groupChannels * x.planeSize
                    } else {
                        Self.gatherColumns(xs.baseAddress!, images: n0..<(n0 + c), group: g, geometry: geo, into: columns, threads: threads)
                    }
                    var dOutGroup = dys.baseAddress! + n0 * dY.imageSize + g * m * plane
                    if c > 1 {
                        for i in 0..<c {
                            let src = dys.baseAddress! + (n0 + i) * dY.imageSize + g * m * plane
                            for row in 0..<m { (gatheredGradient + row * cw + i * plane).update(from: src + row * plane, count: plane) }
                        }
                        dOutGroup = UnsafePointer(gatheredGradient)
                    }
                    if transposedWeightGradient {
                        // dW_gᵀ[K, M] += cols[K, c·N] · dY_gᵀ[c·N, M].
                        transposeMatrix(dOutGroup, rows: m, columns: cw, sourceStride: cw, into: outputGradientT, threads: threads)
                        gemm.sgemm(m: k, n: m, k: cw, alpha: 1, a: cols, lda: cw, b: outputGradientT, ldb: m,
                                   beta: n0 == 0 ? 0 : 1, c: weightGradientT + g * m * k, ldc: m)
                    } else {
                        // dW_g[M, K] += dY_g[M, c·N] · colsᵀ (cols stored [K, c·N]).
                        gemm.sgemmTransposingB(m: m, n: k, k: cw, alpha: 1, a: dOutGroup, lda: cw, b: cols, ldb: cw,
                                               beta: n0 == 0 ? 0 : 1, c: dws.baseAddress! + g * m * k, ldc: k, threads: threads)
                    }
                    if let transposed {
                        if sideBySideTransposed {
                            Self.convolveSideBySide(dys.baseAddress!, images: n0..<(n0 + c), group: 0, geometry: transposed.geometry,
                                                    weights: transposed.weights, bias: nil, into: dxs.baseAddress!,
                                                    columns: transposedColumns, product: transposedProduct, gemm: gemm, threads: threads)
                            continue
                        }
                        for i in 0..<c {
                            gemm.convolution(ConvolutionGEMM(
                                input: dys.baseAddress! + (n0 + i) * dY.imageSize, geometry: transposed.geometry,
                                weights: transposed.weights, bias: nil, activation: .linear,
                                output: dxs.baseAddress! + (n0 + i) * x.imageSize, workspace: transposed.workspace.pointer, threads: threads))
                        }
                        continue
                    }
                    // dCols[K, c·N] = W_gᵀ · dY_g (W_g stored [M, K]); a 1×1 stride-1 conv's columns are x itself.
                    let direct = c == 1 && !geo.needsIm2col
                    let target = direct ? dxs.baseAddress! + n0 * x.imageSize + g * groupChannels * x.planeSize : columnGradient
                    gemm.sgemmTransposingA(m: k, n: cw, k: m, alpha: 1, a: ws.baseAddress! + g * m * k, lda: k,
                                           b: dOutGroup, ldb: cw, beta: 0, c: target, ldc: cw)
                    if !direct {
                        for i in 0..<c {
                            let dInput = dxs.baseAddress! + (n0 + i) * x.imageSize + g * groupChannels * x.planeSize
                            if geo.needsIm2col {
                                col2im(columnGradient + i * plane, channels: groupChannels, height: x.height, width: x.width, kernel: kernel,
                                       stride: stride, pad: pad, outHeight: out.height, outWidth: out.width, addingInto: dInput,
                                       rowStride: cw, threads: threads)
                            } else {
                                for r in 0..<k { (dInput + r * plane).update(from: columnGradient + r * cw + i * plane, count: plane) }
                            }
                        }
                    }
                }
                n0 += c
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
