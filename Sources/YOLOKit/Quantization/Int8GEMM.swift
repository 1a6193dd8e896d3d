import CQuantKernels


/// Int8 weights W[rows × depth] (s8, rows = output channels, row-major), packed once for `Int8GEMM`: panels of 8
/// rows, K in quads of 4 (zero-padded), plus Σ_k W[i, k] per row for the zero-point correction.
public struct Int8PackedWeights: Sendable {
    public let rows: Int
    public let depth: Int
    /// Σ_k W[i, k] for each row i.
    public let rowSums: [Int32]
    /// ceil(rows / 8) panels × quads × [8 rows × 4 values] (the layout in quant_kernels.h).
    let packed: [Int8]
    /// The same weights in AMX tiles, ceil(rows / 16) × chunks × [16 rows × 64 values], where this CPU has AMX-INT8
    /// (both layouts, so that every kernel can run the same weights).
    let amxPacked: [Int8]?
    var quads: Int { (depth + 3) / 4 }
    /// K in AMX chunks of 64 values.
    var chunks: Int { (depth + 63) / 64 }

    /// The deepest K whose int32 sums cannot overflow: 255 · 128 · K < 2^31.
    public static let maxDepth = 65_793

    /// `weights` holds rows × depth values, row i at i · leadingDimension (default depth).
    public init(_ weights: UnsafePointer<Int8>, rows: Int, depth: Int, leadingDimension: Int? = nil) throws {
        let ldw = leadingDimension ?? depth
        precondition(rows >= 0 && depth >= 0 && ldw >= depth, "int8 weights: bad shape \(rows) × \(depth), leading dimension \(ldw)")
        guard depth <= Int8PackedWeights.maxDepth else {
            throw QuantizationError("int8 GEMM depth \(depth) exceeds \(Int8PackedWeights.maxDepth): its int32 sums could overflow")
        }
        self.rows = rows
        self.depth = depth
        let count = max(LowPrecisionTile.rows * 4, (rows + LowPrecisionTile.rows - 1) / LowPrecisionTile.rows * ((depth + 3) / 4) * LowPrecisionTile.rows * 4)
        var sums = [Int32](repeating: 0, count: rows)
        packed = [Int8](unsafeUninitializedCapacity: count) { buffer, initialized in
            buffer.initialize(repeating: 0)
            sums.withUnsafeMutableBufferPointer { s in
                cqk_i8_pack_weights(weights, Int64(rows), Int64(depth), Int64(max(1, ldw)), buffer.baseAddress!, s.baseAddress)
            }
            initialized = count
        }
        rowSums = sums
        amxPacked = CPUFeatures.current.contains(.amxInt8) ? Self.amxTiles(weights, rows: rows, depth: depth, leadingDimension: ldw) : nil
    }

    static func amxTiles(_ weights: UnsafePointer<Int8>, rows: Int, depth: Int, leadingDimension ldw: Int) -> [Int8] {
        let rowTiles = (rows + 15) / 16, chunks = (depth + 63) / 64
        // One tile more than the rows need: a 32-row block's second tile is addressed (never loaded) past the end.
        let count = (rowTiles + 1) * max(1, chunks) * Int(CQK_AMX_TILE_BYTES)
        return [Int8](unsafeUninitializedCapacity: count) { buffer, initialized in
            buffer.initialize(repeating: 0)
            cqk_amx_i8_pack_weights(weights, Int64(rows), Int64(depth), Int64(max(1, ldw)), buffer.baseAddress!)
            initialized = count
        }
    }

    public init(_ weights: [Int8], rows: Int, depth: Int) throws {
        precondition(weights.count == rows * depth, "int8 weights hold \(weights.count) values, not \(rows) × \(depth)")
        // An empty array has no base address; with rows or depth 0 nothing is read.
        self = try weights.withUnsafeBufferPointer { try Int8PackedWeights($0.baseAddress ?? UnsafePointer(bitPattern: 1)!, rows: rows, depth: depth) }
    }
}

/// The per-output-channel terms of `Int8GEMM`'s float epilogue, computed once per (weights, activation
/// quantization): out[i, j] = fma(Float(acc[i, j] − offset_i), scale_i, bias_i) with offset_i = z_x · Σ_k W[i, k]
/// (exact, in int32) and scale_i = s_w[i] · s_x (one rounding), i.e. s_w[i]·s_x·Σ_k W[i, k]·(x[k, j] − z_x) + bias_i.
/// A SiLU or other activation goes after it, in the layer.
public struct Int8Dequantization: Sendable {
    public let scales: [Float]
    public let offsets: [Int32]
    public let biases: [Float]?

    public init(weights: Int8PackedWeights, weightScales: [Float], activation: ActivationQuantization, bias: [Float]? = nil) {
        precondition(weightScales.count == weights.rows, "\(weightScales.count) weight scales for \(weights.rows) rows")
        precondition(bias == nil || bias!.count == weights.rows, "\(bias?.count ?? 0) biases for \(weights.rows) rows")
        scales = weightScales.map { Float(Double($0) * Double(activation.scale)) }
        // |z · Σ W| ≤ 255 · 128 · K < 2^31 (maxDepth).
        offsets = weights.rowSums.map { Int32(activation.zeroPoint) &* $0 }
        biases = bias
    }
}

/// C[M×N] = W_s8[M×K] · X_u8[K×N] (row-major, no transposes): W packed once (`Int8PackedWeights`), X — the
/// quantized activations, a conv's im2col matrix — packed per call one 32-column panel at a time. Results are
/// exact int32 sums (bit-identical on every kernel), or dequantized to float by `Int8Dequantization`.
///
/// Loops: the N panels are split over `threads` (`parallelChunks`); each thread packs a panel of X (all of K),
/// then walks K in blocks of `blockQuads` quads (the block of X, 16 KB, stays in L1) over every 8-row panel of W,
/// carrying the int32 sums of each tile between blocks in a per-thread buffer (each worker allocates its two small
/// buffers, K·32 bytes and ceil(M/8) KB, per call). The `.amx` kernel has loops of its own (`runAMX`).
public struct Int8GEMM: Sendable {
    /// The kernel that runs (never `.automatic`).
    public let kernel: LowPrecisionKernel.Int8
    public let threads: Int

    /// K block, in quads of 4 values.
    static let blockQuads = 128

    /// X written in blocks (`GEMMActivations.columns`), non-AMX kernels: bytes of X a block (L2-resident).
    static let blockBytes = 256 << 10

    /// AMX: the packed activation panels one pass over the weights runs on (a thread packs this much of X, then
    /// every 32-row block of W runs over all of it; it stays in the 2 MB L2 beside a weight block).
    static let amxGroupBytes = 768 << 10

    /// Throws `UnsupportedKernelError` when a forced kernel needs what this CPU lacks.
    public init(kernel: LowPrecisionKernel.Int8 = .automatic, threads: Int = 1) throws {
        self.kernel = try kernel.resolved()
        self.threads = max(1, threads)
    }

    /// A kernel already resolved for this CPU (a layer resolves once when it is built, then runs on each pass's threads).
    init(resolved kernel: LowPrecisionKernel.Int8, threads: Int) {
        precondition(kernel != .automatic, "Int8GEMM: resolve the kernel first")
        self.kernel = kernel
        self.threads = max(1, threads)
    }

    /// Raw sums: c[i, j] = Σ_k W[i, k] · x[k, j]. `x` has weights.depth rows of `columns` values at stride ldx
    /// (default columns); c has weights.rows rows at stride ldc (default columns).
    public func multiply(_ weights: Int8PackedWeights, activations x: UnsafePointer<UInt8>, columns: Int, ldx: Int? = nil,
                         into c: UnsafeMutablePointer<Int32>, ldc: Int? = nil) {
        run(weights, .matrix(x, ldx: ldx ?? columns), columns: columns, c: UnsafeMutableRawPointer(c), ldc: ldc ?? columns,
            elementSize: 4, terms: nil)
    }

    /// Dequantized: c[i, j] = s_w[i]·s_x·(Σ_k W[i, k]·x[k, j] − z_x·Σ_k W[i, k]) + bias[i] (see `Int8Dequantization`);
    /// with `leakyReLU`, then `Activation.leaky` (c ≤ 0 → 0.1·c, the same bits as applying it afterwards), which saves
    /// a pass over C.
    public func multiply(_ weights: Int8PackedWeights, activations x: UnsafePointer<UInt8>, columns: Int, ldx: Int? = nil,
                         dequantization dq: Int8Dequantization, leakyReLU: Bool = false, into c: UnsafeMutablePointer<Float>, ldc: Int? = nil) {
        multiply(weights, activations: .matrix(x, ldx: ldx ?? columns), columns: columns, dequantization: dq, leakyReLU: leakyReLU, into: c, ldc: ldc)
    }

    /// The same with X from `source` (a matrix, or blocks of columns written on the way: a conv's im2col).
    public func multiply(_ weights: Int8PackedWeights, activations source: GEMMActivations<UInt8>, columns: Int,
                         dequantization dq: Int8Dequantization, leakyReLU: Bool = false, into c: UnsafeMutablePointer<Float>, ldc: Int? = nil) {
        precondition(dq.scales.count == weights.rows, "dequantization for \(dq.scales.count) rows, weights have \(weights.rows)")
        dq.scales.withUnsafeBufferPointer { s in dq.offsets.withUnsafeBufferPointer { o in
            let bias = dq.biases ?? []
            bias.withUnsafeBufferPointer { b in
                run(weights, source, columns: columns, c: UnsafeMutableRawPointer(c), ldc: ldc ?? columns, elementSize: 4,
                    terms: (s.baseAddress!, o.baseAddress!, dq.biases == nil ? nil : b.baseAddress!, leakyReLU))
            }
        }}
    }

    private func run(_ w: Int8PackedWeights, _ source: GEMMActivations<UInt8>, columns n: Int, c: UnsafeMutableRawPointer, ldc: Int,
                     elementSize: Int, terms: (scale: UnsafePointer<Float>, offset: UnsafePointer<Int32>, bias: UnsafePointer<Float>?, leaky: Bool)?) {
        let m = w.rows, k = w.depth
        if case .matrix(_, let ldx) = source { precondition(ldx >= max(1, n), "int8 GEMM: ldx \(ldx) below columns \(n)") }
        precondition(n >= 0 && ldc >= max(1, n), "int8 GEMM: bad columns \(n) or ldc \(ldc)")
        guard m > 0, n > 0 else { return }
        let quads = w.quads, mPanels = (m + LowPrecisionTile.rows - 1) / LowPrecisionTile.rows, nPanels = (n + LowPrecisionTile.columns - 1) / LowPrecisionTile.columns
        let workers = 2 * m * n * k < 4_000_000 ? 1 : min(threads, nPanels)  // below ~20 µs of work, threads cost more
        if self.kernel == .amx {
            return runAMX(w, source, columns: n, c: c, ldc: ldc, terms: terms, workers: workers)
        }
        let kernel = self.kernel.cKernel
        w.packed.withUnsafeBufferPointer { packedW in
            let a = packedW.baseAddress!
            parallelChunks(nPanels, threads: workers) { panels in
                let panelX = UnsafeMutableRawPointer.allocate(byteCount: max(1, quads) * LowPrecisionTile.columns * 4, alignment: 64)
                    .bindMemory(to: UInt8.self, capacity: max(1, quads) * LowPrecisionTile.columns * 4)
                let partial = UnsafeMutableRawPointer.allocate(byteCount: mPanels * LowPrecisionTile.rows * LowPrecisionTile.columns * 4, alignment: 64)
                    .bindMemory(to: Int32.self, capacity: mPanels * LowPrecisionTile.rows * LowPrecisionTile.columns)
                let block = ColumnBlock<UInt8>(source, rows: k, bytes: Int8GEMM.blockBytes, end: min(n, panels.upperBound * LowPrecisionTile.columns))
                defer { panelX.deallocate(); partial.deallocate() }
                for jp in panels {
                    let col0 = jp * LowPrecisionTile.columns, cols = min(LowPrecisionTile.columns, n - col0)
                    let (x, ldx) = block.columns(col0, col0 + cols)
                    cqk_i8_pack_activations(x, Int64(k), Int64(cols), Int64(ldx), panelX)
                    var q0 = 0
                    repeat {
                        let depth = min(Int8GEMM.blockQuads, quads - q0)
                        let flags = (q0 > 0 ? CQK_LOAD_PARTIAL : 0) | (q0 + depth < quads ? CQK_STORE_PARTIAL : 0)
                        for ip in 0..<mPanels {
                            let row0 = ip * LowPrecisionTile.rows, rows = min(LowPrecisionTile.rows, m - row0)
                            let tileA = a + (ip * quads + q0) * LowPrecisionTile.rows * 4, tileX = panelX + q0 * LowPrecisionTile.columns * 4
                            let tileC = c + (row0 * ldc + col0) * elementSize, tilePartial = partial + ip * LowPrecisionTile.rows * LowPrecisionTile.columns
                            if let t = terms {
                                var dq = cqk_i8_dequantization(offset: t.offset + row0, scale: t.scale + row0, bias: t.bias.map { $0 + row0 }, leaky: t.leaky ? 1 : 0)
                                cqk_i8_tile(kernel, Int64(depth), tileA, tileX, tilePartial, Int32(flags), Int32(rows), Int32(cols), &dq, tileC, Int64(ldc))
                            } else {
                                cqk_i8_tile(kernel, Int64(depth), tileA, tileX, tilePartial, Int32(flags), Int32(rows), Int32(cols), nil, tileC, Int64(ldc))
                            }
                        }
                        q0 += depth
                    } while q0 < quads
                }
            }
        }
    }

    /// The AMX loops: the N panels split over the workers; each packs a group of panels (`amxGroupBytes`), then
    /// runs every 32-row block of W over the whole group, all of K at once (the sums stay in the tiles).
    private func runAMX(_ w: Int8PackedWeights, _ source: GEMMActivations<UInt8>, columns n: Int, c: UnsafeMutableRawPointer, ldc: Int,
                        terms: (scale: UnsafePointer<Float>, offset: UnsafePointer<Int32>, bias: UnsafePointer<Float>?, leaky: Bool)?, workers: Int) {
        guard let amxPacked = w.amxPacked else { preconditionFailure("Int8GEMM: AMX weights are packed only where the CPU has AMX") }
        let m = w.rows, k = w.depth, chunks = w.chunks, nr = LowPrecisionTile.columns
        let panelBytes = max(1, chunks) * 16 * nr * 4, nPanels = (n + nr - 1) / nr
        let group = max(1, min(nPanels, Int8GEMM.amxGroupBytes / panelBytes))
        amxPacked.withUnsafeBufferPointer { packedW in
            let a = packedW.baseAddress!
            amxPanelGroups(source, rows: k, columns: n, panelElements: panelBytes, group: group, workers: workers, packed: UInt8.self,
                           pack: { x, columns, ldx, into in cqk_amx_i8_pack_activations(x, Int64(k), Int64(columns), Int64(ldx), into) },
                           run: { buffer, panelCount, col0, columns in
                for row0 in stride(from: 0, to: m, by: 32) {
                    let rows = min(32, m - row0), tileA = a + (row0 / 16) * max(1, chunks) * Int(CQK_AMX_TILE_BYTES)
                    let tileC = c + (row0 * ldc + col0) * 4
                    if let t = terms {
                        var dq = cqk_i8_dequantization(offset: t.offset + row0, scale: t.scale + row0, bias: t.bias.map { $0 + row0 }, leaky: t.leaky ? 1 : 0)
                        cqk_amx_i8_blocks(Int64(chunks), tileA, Int32(rows), buffer, Int64(panelCount), Int64(panelBytes), Int64(columns), &dq, tileC, Int64(ldc))
                    } else {
                        cqk_amx_i8_blocks(Int64(chunks), tileA, Int32(rows), buffer, Int64(panelCount), Int64(panelBytes), Int64(columns), nil, tileC, Int64(ldc))
                    }
                }
            })
        }
    }
}
