import CQuantKernels

/// Weights W[rows × depth] (row-major) rounded to bf16 (nearest even) and packed once for `BF16GEMM`: panels of 8
/// rows, K in pairs (zero-padded).
public struct BF16PackedWeights: Sendable {
    public let rows: Int
    public let depth: Int
    /// ceil(rows / 8) panels × pairs × [8 rows × 2 bf16] (the layout in quant_kernels.h).
    let packed: [UInt16]
    /// The same weights in AMX tiles, ceil(rows / 16) × chunks × [16 rows × 32 bf16], where this CPU has AMX-BF16.
    let amxPacked: [UInt16]?
    var pairs: Int { (depth + 1) / 2 }
    /// K in AMX chunks of 32 values.
    var chunks: Int { (depth + 31) / 32 }

    /// `weights` holds rows × depth values, row i at i · leadingDimension (default depth).
    public init(_ weights: UnsafePointer<Float>, rows: Int, depth: Int, leadingDimension: Int? = nil) {
        let ldw = leadingDimension ?? depth
        precondition(rows >= 0 && depth >= 0 && ldw >= depth, "bf16 weights: bad shape \(rows) × \(depth), leading dimension \(ldw)")
        self.rows = rows
        self.depth = depth
        let count = max(LowPrecisionTile.rows * 2, (rows + LowPrecisionTile.rows - 1) / LowPrecisionTile.rows * ((depth + 1) / 2) * LowPrecisionTile.rows * 2)
        packed = [UInt16](unsafeUninitializedCapacity: count) { buffer, initialized in
            buffer.initialize(repeating: 0)
            cqk_bf16_pack_weights(weights, Int64(rows), Int64(depth), Int64(max(1, ldw)), buffer.baseAddress!)
            initialized = count
        }
        amxPacked = CPUFeatures.current.contains(.amxBF16) ? Self.amxTiles(weights, rows: rows, depth: depth, leadingDimension: ldw) : nil
    }

    static func amxTiles(_ weights: UnsafePointer<Float>, rows: Int, depth: Int, leadingDimension ldw: Int) -> [UInt16] {
        let rowTiles = (rows + 15) / 16, chunks = (depth + 31) / 32
        // One tile more than the rows need: a 32-row block's second tile is addressed (never loaded) past the end.
        let count = (rowTiles + 1) * max(1, chunks) * Int(CQK_AMX_TILE_BYTES) / 2
        return [UInt16](unsafeUninitializedCapacity: count) { buffer, initialized in
            buffer.initialize(repeating: 0)
            cqk_amx_bf16_pack_weights(weights, Int64(rows), Int64(depth), Int64(max(1, ldw)), buffer.baseAddress!)
            initialized = count
        }
    }

    public init(_ weights: [Float], rows: Int, depth: Int) {
        precondition(weights.count == rows * depth, "bf16 weights hold \(weights.count) values, not \(rows) × \(depth)")
        // An empty array has no base address; with rows or depth 0 nothing is read.
        self = weights.withUnsafeBufferPointer { BF16PackedWeights($0.baseAddress ?? UnsafePointer(bitPattern: 4)!, rows: rows, depth: depth) }
    }
}

/// C[M×N] = W_bf16[M×K] · bf16(X[K×N]) (+ bias[i]), fp32 sums, row-major: X (fp32 activations) rounded to bf16
/// (nearest even) while it is packed, per call, one 32-column panel at a time; the loops are `Int8GEMM`'s
/// (N panels over threads, K blocks of `blockPairs`, partial sums between blocks; `.amx` runs `Int8GEMM`'s AMX loops).
///
/// Accuracy: every product of two bf16 values is exact in fp32, so each result is within
/// (K + 2) · 2^-24 · (Σ_k |W·X| + |bias|) of the exact sum of the rounded operands, on every kernel (the
/// `.avx512bf16` and `.amx` kernels also flush denormal inputs and results to zero). The `.avx512` and `.scalar` fallbacks
/// agree bit for bit; `vdpbf16ps` need not round the same way.
public struct BF16GEMM: Sendable {
    /// The kernel that runs (never `.automatic`).
    public let kernel: LowPrecisionKernel.BF16
    public let threads: Int

    /// K block, in pairs of 2 values (the block of X: 16 KB).
    static let blockPairs = 128

    /// Throws `UnsupportedKernelError` when a forced kernel needs what this CPU lacks.
    public init(kernel: LowPrecisionKernel.BF16 = .automatic, threads: Int = 1) throws {
        self.kernel = try kernel.resolved()
        self.threads = max(1, threads)
    }

    /// A kernel already resolved for this CPU (a layer resolves once when it is built, then runs on each pass's threads).
    init(resolved kernel: LowPrecisionKernel.BF16, threads: Int) {
        precondition(kernel != .automatic, "BF16GEMM: resolve the kernel first")
        self.kernel = kernel
        self.threads = max(1, threads)
    }

    /// The bf16 bits of `x`, rounded to nearest even (NaN stays NaN).
    public static func bfloat16Bits(_ x: Float) -> UInt16 { cqk_f32_to_bf16(x) }

    /// c[i, j] = Σ_k W[i, k] · bf16(x[k, j]) (+ bias[i]). `x` has weights.depth rows of `columns` values at stride
    /// ldx (default columns); c has weights.rows rows at stride ldc (default columns).
    public func multiply(_ weights: BF16PackedWeights, activations x: UnsafePointer<Float>, columns n: Int, ldx: Int? = nil,
                         bias: [Float]? = nil, into c: UnsafeMutablePointer<Float>, ldc: Int? = nil) {
        multiply(weights, activations: .matrix(x, ldx: ldx ?? n), columns: n, bias: bias, into: c, ldc: ldc)
    }

    /// The same with X from `source` (a matrix, or blocks of columns written on the way: a conv's im2col).
    public func multiply(_ weights: BF16PackedWeights, activations source: GEMMActivations<Float>, columns n: Int,
                         bias: [Float]? = nil, into c: UnsafeMutablePointer<Float>, ldc: Int? = nil) {
        let m = weights.rows, k = weights.depth, ldc = ldc ?? n
        if case .matrix(_, let ldx) = source { precondition(ldx >= max(1, n), "bf16 GEMM: ldx \(ldx) below columns \(n)") }
        precondition(n >= 0 && ldc >= max(1, n), "bf16 GEMM: bad columns \(n) or ldc \(ldc)")
        precondition(bias == nil || bias!.count == m, "\(bias?.count ?? 0) biases for \(m) rows")
        guard m > 0, n > 0 else { return }
        let mr = LowPrecisionTile.rows, nr = LowPrecisionTile.columns
        let pairs = weights.pairs, mPanels = (m + mr - 1) / mr, nPanels = (n + nr - 1) / nr
        let workers = 2 * m * n * k < 4_000_000 ? 1 : min(threads, nPanels)
        let biasValues = bias ?? []
        if self.kernel == .amx {
            return biasValues.withUnsafeBufferPointer { b in
                runAMX(weights, source, columns: n, bias: bias == nil ? nil : b.baseAddress, c: c, ldc: ldc, workers: workers)
            }
        }
        let kernel = self.kernel.cKernel
        weights.packed.withUnsafeBufferPointer { packedW in biasValues.withUnsafeBufferPointer { biasBuffer in
            let a = packedW.baseAddress!, b = bias == nil ? nil : biasBuffer.baseAddress
            parallelChunks(nPanels, threads: workers) { panels in
                let panelX = UnsafeMutableRawPointer.allocate(byteCount: max(1, pairs) * nr * 4, alignment: 64)
                    .bindMemory(to: UInt16.self, capacity: max(1, pairs) * nr * 2)
                let partial = UnsafeMutableRawPointer.allocate(byteCount: mPanels * mr * nr * 4, alignment: 64)
                    .bindMemory(to: Float.self, capacity: mPanels * mr * nr)
                let block = ColumnBlock<Float>(source, rows: k, bytes: 2 * Int8GEMM.blockBytes, end: min(n, panels.upperBound * nr))
                defer { panelX.deallocate(); partial.deallocate() }
                for jp in panels {
                    let col0 = jp * nr, cols = min(nr, n - col0)
                    let (x, ldx) = block.columns(col0, col0 + cols)
                    cqk_bf16_pack_activations(kernel, x, Int64(k), Int64(cols), Int64(ldx), panelX)
                    var p0 = 0
                    repeat {
                        let depth = min(BF16GEMM.blockPairs, pairs - p0)
                        let flags = (p0 > 0 ? CQK_LOAD_PARTIAL : 0) | (p0 + depth < pairs ? CQK_STORE_PARTIAL : 0)
                        for ip in 0..<mPanels {
                            let row0 = ip * mr, rows = min(mr, m - row0)
                            cqk_bf16_tile(kernel, Int64(depth), a + (ip * pairs + p0) * mr * 2, panelX + p0 * nr * 2,
                                          partial + ip * mr * nr, Int32(flags), Int32(rows), Int32(cols), b.map { $0 + row0 },
                                          c + row0 * ldc + col0, Int64(ldc))
                        }
                        p0 += depth
                    } while p0 < pairs
                }
            }
        }}
    }

    /// `Int8GEMM`'s AMX loops: panel groups of `Int8GEMM.amxGroupBytes` (half that from blocks of columns: their fp32
    /// block is twice the packed bf16 one, and both should stay in L2) over the workers, every 32-row block of W over a
    /// whole group, all of K at once.
    private func runAMX(_ w: BF16PackedWeights, _ source: GEMMActivations<Float>, columns n: Int, bias: UnsafePointer<Float>?,
                        c: UnsafeMutablePointer<Float>, ldc: Int, workers: Int) {
        guard let amxPacked = w.amxPacked else { preconditionFailure("BF16GEMM: AMX weights are packed only where the CPU has AMX") }
        let m = w.rows, k = w.depth, chunks = w.chunks, nr = LowPrecisionTile.columns
        let panelElements = max(1, chunks) * 16 * nr * 2, nPanels = (n + nr - 1) / nr
        var groupBytes = Int8GEMM.amxGroupBytes
        if case .columns = source { groupBytes /= 2 }
        let group = max(1, min(nPanels, groupBytes / (2 * panelElements)))
        amxPacked.withUnsafeBufferPointer { packedW in
            let a = packedW.baseAddress!
            amxPanelGroups(source, rows: k, columns: n, panelElements: panelElements, group: group, workers: workers, packed: UInt16.self,
                           pack: { x, columns, ldx, into in cqk_amx_bf16_pack_activations(x, Int64(k), Int64(columns), Int64(ldx), into) },
                           run: { buffer, panelCount, col0, columns in
                for row0 in stride(from: 0, to: m, by: 32) {
                    let tileA = a + (row0 / 16) * max(1, chunks) * Int(CQK_AMX_TILE_BYTES) / 2
                    cqk_amx_bf16_blocks(Int64(chunks), tileA, Int32(min(32, m - row0)), buffer, Int64(panelCount), Int64(panelElements),
                                        Int64(columns), bias.map { $0 + row0 }, c + row0 * ldc + col0, Int64(ldc))
                }
            })
        }
    }
}
