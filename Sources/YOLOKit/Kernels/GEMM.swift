import COpenBLAS

/// Single-precision matrix multiply, row-major: C[M×N] = alpha · A[M×K] · B[K×N] + beta · C.
/// Every convolution in the network is one call per group: weights[Cout, Cin·k·k] × columns[Cin·k·k, H·W].
/// Two implementations: `OpenBLASGEMM` (OpenBLAS through the C shim) and `SwiftGEMM` (pure Swift).
public protocol GEMMBackend: Sendable {
    var name: String { get }
    /// Implementation detail worth reporting next to `name` (the Swift GEMM's micro-kernel), or nil.
    var detail: String? { get }
    func sgemm(m: Int, n: Int, k: Int, alpha: Float,
               a: UnsafePointer<Float>, lda: Int,
               b: UnsafePointer<Float>, ldb: Int,
               beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int)
    /// C[M×N] = alpha · Aᵀ · B + beta · C with A stored K × M (row-major, lda ≥ M). The default transposes A
    /// into a temporary buffer and calls `sgemm`; both backends do it directly.
    func sgemmTransposingA(m: Int, n: Int, k: Int, alpha: Float,
               a: UnsafePointer<Float>, lda: Int,
               b: UnsafePointer<Float>, ldb: Int,
               beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int)
    /// A whole convolution layer as GEMM (what `ConvolutionLayer.forward` runs). The default implementation
    /// (`runUnfused`) writes the im2col matrix into the workspace, calls `sgemm` once per group and applies
    /// bias + activation in a separate pass; a backend may fuse those steps.
    func convolution(_ conv: ConvolutionGEMM)
}

extension GEMMBackend {
    public var detail: String? { nil }

    public func sgemmTransposingA(m: Int, n: Int, k: Int, alpha: Float,
                      a: UnsafePointer<Float>, lda: Int,
                      b: UnsafePointer<Float>, ldb: Int,
                      beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        let t = UnsafeMutablePointer<Float>.allocate(capacity: max(1, m * k))
        defer { t.deallocate() }
        for p in 0..<k { for i in 0..<m { t[i * k + p] = a[p * lda + i] } }
        sgemm(m: m, n: n, k: k, alpha: alpha, a: t, lda: max(1, k), b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
    }

    public func convolution(_ conv: ConvolutionGEMM) {
        if let w = conv.winograd { conv.runWinograd(self, w) } else { conv.runUnfused(self) }
    }
}

/// The operands of one convolution: input [C, H, W] → output [Cout, outH, outW]; per group g,
/// output_g[Cout/g, outH·outW] = weights_g[Cout/g, Cin/g·k·k] × im2col(input_g) + bias, then the activation.
public struct ConvolutionGEMM {
    public let input: UnsafePointer<Float>
    public let geometry: ConvolutionGeometry
    public let weights: UnsafePointer<Float>
    public let bias: UnsafePointer<Float>?
    public let activation: Activation
    public let output: UnsafeMutablePointer<Float>
    /// Scratch of at least `geometry.workspaceSize(winograd:)` floats.
    public let workspace: UnsafeMutablePointer<Float>
    public let threads: Int
    /// Set for 3×3 stride-1 convolutions that run as Winograd (`runWinograd`): the transformed filters.
    public let winograd: WinogradWeights?

    public init(input: UnsafePointer<Float>, geometry: ConvolutionGeometry, weights: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                activation: Activation, output: UnsafeMutablePointer<Float>, workspace: UnsafeMutablePointer<Float>, threads: Int,
                winograd: WinogradWeights? = nil) {
        self.input = input; self.geometry = geometry
        self.weights = weights; self.bias = bias; self.activation = activation
        self.output = output; self.workspace = workspace; self.threads = threads
        self.winograd = winograd
    }

    public var inputShape: TensorShape { geometry.inputShape }
    public var outputShape: TensorShape { geometry.outputShape }
    public var size: Int { geometry.size }
    public var stride: Int { geometry.stride }
    public var pad: Int { geometry.pad }
    public var groups: Int { geometry.groups }
    public var needsIm2col: Bool { geometry.needsIm2col }
    public var gemmShape: (m: Int, n: Int, k: Int) { geometry.gemmShape }
    public var workspaceSize: Int { geometry.workspaceSize(winograd: winograd?.tile) }

    /// im2col into the workspace, `gemm.sgemm` per group, then bias + activation over the output.
    public func runUnfused(_ gemm: any GEMMBackend) {
        let (m, n, k) = gemmShape
        let groupChannels = inputShape.channels / groups
        for g in 0..<groups {
            let groupInput = input + g * groupChannels * inputShape.planeSize
            var columns = groupInput
            if needsIm2col {
                im2col(groupInput, channels: groupChannels, height: inputShape.height, width: inputShape.width,
                       kernel: size, stride: stride, pad: pad, outHeight: outputShape.height, outWidth: outputShape.width,
                       into: workspace, threads: threads)
                columns = UnsafePointer(workspace)
            }
            gemm.sgemm(m: m, n: n, k: k, alpha: 1, a: weights + g * m * k, lda: k, b: columns, ldb: n,
                       beta: 0, c: output + g * m * n, ldc: n)
        }
        activation.applyWithBias(output, bias: bias, channels: outputShape.channels, plane: n, threads: threads)
    }
}

/// OpenBLAS `cblas_sgemm`, loaded on first use (`OpenBLAS.loadError` says whether it can be). OpenBLAS's own
/// thread pool is kept at one thread (it loads with OPENBLAS_NUM_THREADS=1); a call is split over `threads` of
/// our threads instead (along N, or along M when N is the smaller side), each running a single-threaded
/// `cblas_sgemm` on its slice. Reason: after each call OpenBLAS's idle workers spin (yielding) for about 2^28
/// cycles, taking a core from the Winograd transforms and activations that run between GEMMs; measured on the
/// 2-core VM: see README "Performance".
public struct OpenBLASGEMM: GEMMBackend {
    public let threads: Int

    /// Loads OpenBLAS if it is not yet; a machine without it stops here with `OpenBLAS.loadError` (callers that
    /// take a user's `--backend blas` check `loadError` first and report it).
    public init(threads: Int = 1) {
        self.threads = max(1, threads)
        if let error = OpenBLAS.loadError { fatalError("OpenBLAS backend: \(error)") }
    }

    public var name: String { "blas" }

    public func sgemm(m: Int, n: Int, k: Int, alpha: Float,
                      a: UnsafePointer<Float>, lda: Int,
                      b: UnsafePointer<Float>, ldb: Int,
                      beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        OpenBLAS.split(m: m, n: n, k: k, threads: threads) { rows, cols in
            cob_sgemm(0, Int32(rows.count), Int32(cols.count), Int32(k),
                      alpha, a + rows.lowerBound * lda, Int32(lda), b + cols.lowerBound, Int32(ldb),
                      beta, c + rows.lowerBound * ldc + cols.lowerBound, Int32(ldc))
        }
    }

    public func sgemmTransposingA(m: Int, n: Int, k: Int, alpha: Float,
                      a: UnsafePointer<Float>, lda: Int,
                      b: UnsafePointer<Float>, ldb: Int,
                      beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        OpenBLAS.split(m: m, n: n, k: k, threads: threads) { rows, cols in
            cob_sgemm(1, Int32(rows.count), Int32(cols.count), Int32(k),
                      alpha, a + rows.lowerBound, Int32(lda), b + cols.lowerBound, Int32(ldb),
                      beta, c + rows.lowerBound * ldc + cols.lowerBound, Int32(ldc))
        }
    }
}

public enum OpenBLAS {
    /// nil once libopenblas.so.0 is loaded (the first call loads it, with no thread pool of its own: every
    /// `OpenBLASGEMM` splits its calls over its own threads); else why it cannot be.
    public static var loadError: String? {
        cob_load_blas() == 0 ? nil : String(cString: cob_blas_error()) + "; install it with `apt-get install libopenblas0`"
    }

    /// Runs `body(rows, cols)` on `threads` disjoint slices of the M × N output (contiguous columns in multiples
    /// of 16, or rows when N is small); inline when one thread or when the product is small (< 2 MFLOP).
    static func split(m: Int, n: Int, k: Int, threads: Int, _ body: (Range<Int>, Range<Int>) -> Void) {
        let workers = min(threads, max(1, 2 * m * n * k / 2_000_000))
        guard workers > 1, m > 0, n > 0 else { return body(0..<m, 0..<n) }
        if n >= 16 * workers && n >= m {
            let blocks = (n + 15) / 16
            parallelChunks(blocks, threads: workers) { b in body(0..<m, (b.lowerBound * 16)..<min(n, b.upperBound * 16)) }
        } else {
            parallelChunks(m, threads: workers) { r in body(r, 0..<n) }
        }
    }
}
