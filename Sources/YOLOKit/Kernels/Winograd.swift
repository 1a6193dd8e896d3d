import Foundation

/// Winograd convolution F(m×m, 3×3) (Lavin & Gray 2015) for 3×3, stride-1, pad-1 convolutions: each m×m output
/// tile comes from an α×α input tile (α = m + 2) as Y = Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A. The sum over input channels is
/// α² GEMMs — one per position ξ of the α×α transform: M_ξ[Cout, tiles] = U_ξ[Cout, Cin] × V_ξ[Cin, tiles] — run by
/// the network's GEMM backend (OpenBLAS or Swift alike), between an input transform and an output transform (with
/// bias and activation) written in Swift SIMD. Two tile sizes (`WinogradTile`):
/// - F(2×2, 3×3) (this file): 16 GEMMs, 4 multiplies per output instead of 9. The transforms only add, subtract
///   and halve, so results stay within a few ulp of the direct convolution's.
/// - F(4×4, 3×3) (WinogradF43.swift): 36 GEMMs, 2.25 multiplies per output, 6×6 tiles; its transforms scale by
///   up to 8 (points 0, ±1, ±2, ∞) and its products cancel more, so rounding errors grow about 10× (KernelTests:
///   1.7e-4 against F(2×2)'s 1.6e-5, relative to max(1, |y|), with 256 input channels).
///
/// Used where it measured faster on Zen 4 (`Winograd.tile`, `WinogradPolicy.measured`); a network built with
/// another `ExecutionOptions.winograd` turns it off or forces one tile size wherever Winograd applies (for
/// measuring and testing; the CLI reads `YOLO_WINOGRAD=0|2|4`).
public enum WinogradTile: Sendable, Hashable {
    case f2x2, f4x4

    /// m: output pixels per tile side.
    public var outputSize: Int { self == .f2x2 ? 2 : 4 }
    /// α = m + 2: input pixels per tile side.
    public var inputSize: Int { outputSize + 2 }
    /// α²: transform positions, one GEMM each.
    public var positions: Int { inputSize * inputSize }
    /// Tiles covering an output map (partial tiles at the right and bottom edges).
    func tiles(_ output: TensorShape) -> (y: Int, x: Int) {
        ((output.height + outputSize - 1) / outputSize, (output.width + outputSize - 1) / outputSize)
    }
    /// G (α×3), the filter transform U = G g Gᵀ.
    var filterTransform: [[Double]] {
        switch self {
        case .f2x2: [[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]]
        case .f4x4: WinogradF43.filterTransform
        }
    }
}

/// Which 3×3 convolutions of a network run as Winograd (chosen when the network is built).
public enum WinogradPolicy: String, Sendable, CaseIterable {
    /// im2col + GEMM everywhere.
    case off
    /// F(2×2, 3×3) wherever Winograd applies.
    case f2x2
    /// F(4×4, 3×3) wherever Winograd applies.
    case f4x4
    /// Where it measured faster, and the tile size that measured faster (`Winograd.tile`): the default.
    case measured

    /// The policy for a run that will do `forwards` forward passes (nil: not known, as for a folder or a list).
    /// Winograd's filters are transformed once per layer, on first use; the transform (and the memory it writes:
    /// 70 MB for yolov3-tiny) costs more than a few forwards save. Measured with `yolo detect` on 1, 2, 4 and 8
    /// images (2-vCPU Xeon, 2026-12-01): yolov3-tiny 0.14 s without against 0.21 s with it for one image, about even
    /// at 4 and 8; the fall checkpoint about even from 2 images. So `.measured` turns into `.off` below
    /// `amortizingForwards`; the other policies stay as asked. Both paths stay within 1e-4 of the references.
    public func forRun(forwards: Int?) -> WinogradPolicy {
        guard self == .measured, let forwards, forwards < WinogradPolicy.amortizingForwards else { return self }
        return .off
    }
    public static let amortizingForwards = 4
}

public enum Winograd {
    /// The tile size to run a conv with, or nil for im2col + GEMM: 3×3 stride-1 "same" convolutions with enough
    /// channels and a large enough map (measured), F(4×4) where it measured faster (`WinogradF43.isWorthwhile`)
    /// unless `policy` says otherwise.
    public static func tile(_ geometry: ConvolutionGeometry, policy: WinogradPolicy) -> WinogradTile? {
        let (inputShape, outputShape) = (geometry.inputShape, geometry.outputShape)
        guard policy != .off, geometry.size == 3, geometry.stride == 1, geometry.pad == 1, geometry.groups == 1,
              inputShape.channels >= minChannels, outputShape.channels >= minChannels,
              outputShape.height >= 8, outputShape.width >= 8 else { return nil }
        switch policy {
        case .off: return nil
        case .f2x2: return .f2x2
        case .f4x4: return .f4x4
        case .measured: return WinogradF43.isWorthwhile(inChannels: inputShape.channels, outputShape: outputShape) ? .f4x4 : .f2x2
        }
    }
    static let minChannels = 32

    /// Few tiles (small maps) and many output channels: the GEMMs run transposed, Mᵀ_ξ[tiles, Cout] =
    /// V_ξᵀ[tiles, Cin] × Uᵀ_ξ[Cin, Cout] (`sgemmTransposingA`), so the GEMM's vector dimension is Cout (1024 for
    /// yolov3-tiny's 13×13 layer, against 49 tiles) and the large operand U is read as B, row by row, in sequence.
    public static func prefersTransposed(_ tile: WinogradTile, inChannels: Int, outputShape: TensorShape) -> Bool {
        let (tilesY, tilesX) = tile.tiles(outputShape), outChannels = outputShape.channels
        return batchTiles(tile, inChannels: inChannels, outChannels: outChannels, tiles: tilesY * tilesX) < min(outChannels, 256)
    }

    /// Tiles per GEMM batch: V and M of one batch (α²·tiles·(Cin + Cout) floats) stay within about 8 MB.
    static func batchTiles(_ tile: WinogradTile, inChannels: Int, outChannels: Int, tiles: Int) -> Int {
        min(tiles, max(64, 2_000_000 / (tile.positions * (inChannels + outChannels))))
    }

    /// Scratch floats: V and M of one batch of tiles.
    public static func workspaceSize(_ tile: WinogradTile, inputShape: TensorShape, outputShape: TensorShape) -> Int {
        let (tilesY, tilesX) = tile.tiles(outputShape)
        let batch = batchTiles(tile, inChannels: inputShape.channels, outChannels: outputShape.channels, tiles: tilesY * tilesX)
        return tile.positions * batch * (inputShape.channels + outputShape.channels)
    }
}

/// The transformed filters U_ξ = (G g Gᵀ)_ξ of a 3×3 convolution, [α²][Cout][Cin], made once per weights
/// buffer, tile size and layout (networks built for several input sizes share them).
public final class WinogradWeights: @unchecked Sendable {
    public let tile: WinogradTile
    public let outChannels: Int
    public let inChannels: Int
    /// Layout of `u`: [α², Cout, Cin], or [α², Cin, Cout] when transposed (`Winograd.prefersTransposed`).
    public let transposed: Bool
    public let u: FloatBuffer

    /// `weights`: [Cout, Cin, 3, 3].
    init(weights: UnsafePointer<Float>, tile: WinogradTile, outChannels: Int, inChannels: Int, transposed: Bool) {
        self.tile = tile
        self.outChannels = outChannels
        self.inChannels = inChannels
        self.transposed = transposed
        let alpha = tile.inputSize, g = tile.filterTransform.flatMap { $0 }  // G: α×3, row-major
        u = FloatBuffer(count: alpha * alpha * outChannels * inChannels)
        let plane = outChannels * inChannels, out = u.pointer
        // Position `at` of a plane holds the filter of pair (co, ci) = source(at): at = co·Cin + ci, or ci·Cout + co
        // when transposed. Sixteen consecutive positions are transformed at once in SIMD16<Double> (the same operations
        // in the same order as one at a time, so the same bits), in double precision, rounded once: the transform adds
        // no error of its own; each plane gets whole 64-byte lines. Split over the cores: the F(4×4) transform of a
        // large layer is ~0.15 GFLOP.
        @inline(__always) func source(_ at: Int) -> Int { transposed ? (at % outChannels) * inChannels + at / outChannels : at }
        // A block is 16 consecutive positions. Transposed, block b is 16 output channels co₀ + lane at one input channel
        // ci (b = coBlock·Cin + ci): each lane reads its filter row in order and the rows stay in L1 across ci.
        let lanes = 16
        let blocks = transposed ? (outChannels / lanes) * inChannels : plane / lanes
        let workers = max(1, min(ProcessInfo.processInfo.activeProcessorCount, blocks / 512))
        g.withUnsafeBufferPointer { g in
            parallelChunks(blocks, threads: workers) { range in
                // The block's 9 filter taps, tap-major (w[k·16 + lane]): the gather happens once, in L1.
                let taps = UnsafeMutablePointer<Double>.allocate(capacity: 9 * lanes)
                var gw = [SIMD16<Double>](repeating: .zero, count: alpha * 3)
                defer { taps.deallocate() }
                @inline(__always) func tap(_ k: Int) -> SIMD16<Double> { UnsafeRawPointer(taps + k * lanes).loadUnaligned(as: SIMD16<Double>.self) }
                gw.withUnsafeMutableBufferPointer { gw in
                    for block in range {
                        let first: Int, filters: UnsafePointer<Float>, laneStride: Int
                        if transposed {
                            let co = block / inChannels * lanes, ci = block % inChannels
                            first = ci * outChannels + co
                            filters = weights + (co * inChannels + ci) * 9
                            laneStride = inChannels * 9
                        } else {
                            first = block * lanes
                            filters = weights + first * 9
                            laneStride = 9
                        }
                        for lane in 0..<lanes {
                            let filter = filters + lane * laneStride
                            for k in 0..<9 { taps[k * lanes + lane] = Double(filter[k]) }
                        }
                        for r in 0..<alpha {  // G w: α×3
                            let g0: Double = g[r * 3], g1: Double = g[r * 3 + 1], g2: Double = g[r * 3 + 2]
                            for c in 0..<3 {
                                let p0: SIMD16<Double> = g0 * tap(c), p1: SIMD16<Double> = g1 * tap(3 + c), p2: SIMD16<Double> = g2 * tap(6 + c)
                                gw[r * 3 + c] = (p0 + p1) + p2
                            }
                        }
                        for r in 0..<alpha {
                            for c in 0..<alpha {  // (G w Gᵀ)[r][c]
                                let p0: SIMD16<Double> = gw[r * 3] * g[c * 3], p1: SIMD16<Double> = gw[r * 3 + 1] * g[c * 3 + 1]
                                let p2: SIMD16<Double> = gw[r * 3 + 2] * g[c * 3 + 2]
                                let value = SIMD16<Float>((p0 + p1) + p2)
                                UnsafeMutableRawPointer(out + (r * alpha + c) * plane + first).storeBytes(of: value, as: SIMD16<Float>.self)
                            }
                        }
                    }
                }
            }
            // What the blocks left, one position at a time: transposed, the last Cout % 16 channels of every ci; else the
            // last plane % 16 positions.
            let covered = outChannels / lanes * lanes
            let rest: [Int] = transposed
                ? (0..<inChannels).flatMap { ci in (covered..<outChannels).map { ci * outChannels + $0 } }
                : Array((blocks * lanes)..<plane)
            var gw = [Double](repeating: 0, count: alpha * 3)
            for at in rest {
                let filter = weights + source(at) * 9
                for r in 0..<alpha {
                    for c in 0..<3 { gw[r * 3 + c] = g[r * 3] * Double(filter[c]) + g[r * 3 + 1] * Double(filter[3 + c]) + g[r * 3 + 2] * Double(filter[6 + c]) }
                }
                for r in 0..<alpha {
                    for c in 0..<alpha {
                        out[(r * alpha + c) * plane + at] = Float(gw[r * 3] * g[c * 3] + gw[r * 3 + 1] * g[c * 3 + 1] + gw[r * 3 + 2] * g[c * 3 + 2])
                    }
                }
            }
        }
    }

    private static let lock = NSLock()
    /// Both held weakly: a transform lives as long as a layer uses it.
    nonisolated(unsafe) private static var cache: [Key: (source: WeakBuffer, weights: WeakTransform)] = [:]
    private struct WeakBuffer { weak var buffer: FloatBuffer? }
    private struct WeakTransform { weak var transform: WinogradWeights? }
    private struct Key: Hashable { let id: ObjectIdentifier; let tile: WinogradTile; let transposed: Bool }

    /// The transform of `weights` ([Cout, Cin, 3, 3]) for the given tile size and layout, computed once per buffer
    /// while some layer holds it.
    public static func shared(for weights: FloatBuffer, tile: WinogradTile, outChannels: Int, inChannels: Int, transposed: Bool) -> WinogradWeights {
        lock.lock(); defer { lock.unlock() }
        let key = Key(id: ObjectIdentifier(weights), tile: tile, transposed: transposed)
        if let hit = cache[key], hit.source.buffer === weights, let u = hit.weights.transform, u.outChannels == outChannels { return u }
        cache = cache.filter { $0.value.source.buffer != nil && $0.value.weights.transform != nil }  // drop what was freed
        let made = WinogradWeights(weights: weights.pointer, tile: tile, outChannels: outChannels, inChannels: inChannels, transposed: transposed)
        cache[key] = (WeakBuffer(buffer: weights), WeakTransform(transform: made))
        return made
    }
}

extension ConvolutionGEMM {
    /// The convolution by Winograd (`w.tile`): input transform, α² GEMMs per batch of tiles, output transform with
    /// bias and activation. Needs `winograd` and a workspace of `Winograd.workspaceSize` floats.
    public func runWinograd(_ gemm: any GEMMBackend, _ w: WinogradWeights) {
        let tile = w.tile, positions = tile.positions
        let cin = inputShape.channels, cout = outputShape.channels
        let (tilesY, tilesX) = tile.tiles(outputShape), tiles = tilesY * tilesX
        let batch = Winograd.batchTiles(tile, inChannels: cin, outChannels: cout, tiles: tiles)
        let v = workspace, m = workspace + positions * batch * cin
        var first = 0
        while first < tiles {
            let count = min(batch, tiles - first)
            // V_ξ[ci, t] = (Bᵀ d B)_ξ for the batch's tiles.
            let runs = InputTileRuns(input: input, height: inputShape.height, width: inputShape.width, tile: tile, tilesX: tilesX,
                                     firstTile: first, count: count)
            parallelChunks(cin, threads: threads) { channels in
                switch tile {
                case .f2x2: winogradInputF23(runs, channels: channels, into: v, ldv: count, plane: cin * count)
                case .f4x4: winogradInputF43(runs, channels: channels, into: v, ldv: count, plane: cin * count)
                }
            }
            for xi in 0..<positions {
                let u = w.u.pointer + xi * cout * cin, vx = v + xi * cin * count, mx = m + xi * cout * count
                if w.transposed {
                    // Mᵀ_ξ[t, co] = V_ξᵀ · Uᵀ_ξ: A is V_ξ read transposed.
                    gemm.sgemmTransposingA(m: count, n: cout, k: cin, alpha: 1, a: vx, lda: count, b: u, ldb: cout, beta: 0, c: mx, ldc: cout)
                } else {
                    gemm.sgemm(m: cout, n: count, k: cin, alpha: 1, a: u, lda: cin, b: vx, ldb: count, beta: 0, c: mx, ldc: count)
                }
            }
            let target = OutputTiles(output: output, height: outputShape.height, width: outputShape.width, tile: tile, tilesX: tilesX,
                                     firstTile: first, count: count, bias: bias, activation: activation)
            if w.transposed {
                parallelChunks(count, threads: threads) { tileRange in
                    switch tile {
                    case .f2x2: winogradOutputTransposedF23(m, tiles: tileRange, channels: cout, plane: cout * count, into: target)
                    case .f4x4: winogradOutputTransposedF43(m, tiles: tileRange, channels: cout, plane: cout * count, into: target)
                    }
                }
            } else {
                parallelChunks(cout, threads: threads) { channels in
                    switch tile {
                    case .f2x2: winogradOutputF23(m, channels: channels, ldm: count, plane: cout * count, into: target)
                    case .f4x4: winogradOutputF43(m, channels: channels, ldm: count, plane: cout * count, into: target)
                    }
                }
            }
            first += count
        }
    }
}

/// The input side of one batch of tiles (row-major over tilesY × tilesX, tiles firstTile ..< firstTile + count):
/// tile (ty, tx) reads input rows m·ty − 1 … m·ty + m and columns m·tx − 1 … m·tx + m, zero outside the map.
struct InputTileRuns {
    let input: UnsafePointer<Float>
    let height: Int, width: Int
    let tile: WinogradTile
    let tilesX: Int, firstTile: Int, count: Int

    /// Calls body(channel, run, offset, n) for each channel and each run of n ≤ 16 consecutive tiles of one tile
    /// row, offset being the run's first tile's index in the batch; `run` loads their columns.
    @inline(__always)
    func forEach(channels: Range<Int>, _ body: (Int, PhaseRows, Int, Int) -> Void) {
        let step = tile.outputSize
        let phaseStride = tilesX + 17, rowStride = step * phaseStride
        let firstRow = firstTile / tilesX, lastRow = (firstTile + count - 1) / tilesX
        let rows = step * (lastRow - firstRow) + tile.inputSize
        let padded = UnsafeMutablePointer<Float>.allocate(capacity: rowStride * rows)
        defer { padded.deallocate() }
        for ci in channels {
            // Padded row r = input row step·firstRow − 1 + r, zero outside the map; padded column x = input column
            // x − 1, stored in phase x mod step at x / step.
            padded.update(repeating: 0, count: rowStride * rows)
            let src = input + ci * height * width
            for r in 0..<rows {
                let y = step * firstRow - 1 + r
                if y >= 0 && y < height { splitPhases(src + y * width, count: width, step: step, into: padded + r * rowStride, phaseStride: phaseStride) }
            }
            var t = firstTile
            while t < firstTile + count {
                let ty = t / tilesX, tx = t - ty * tilesX
                let n = min(16, tilesX - tx, firstTile + count - t)
                body(ci, PhaseRows(base: padded + step * (ty - firstRow) * rowStride + tx, rowStride: rowStride, phaseStride: phaseStride),
                     t - firstTile, n)
                t += n
            }
        }
    }
}

/// A run of 16 tiles' input rows split by column phase, so that column c of every tile (padded column m·tx + c,
/// lane l = tile l) is one plain load: phase c mod m, shifted by c / m.
struct PhaseRows {
    let base: UnsafePointer<Float>
    let rowStride: Int, phaseStride: Int
    /// Phase `phase` of row r, shifted by `shift` tiles.
    @inline(__always)
    func load(row r: Int, phase: Int, shift: Int = 0) -> SIMD16<Float> { loadV(base + r * rowStride + phase * phaseStride + shift) }
}

/// Copies `count` floats from src into `step` (2 or 4) phase rows `phaseStride` apart: src[x] is padded column
/// x + 1, which goes to phase (x + 1) mod step at (x + 1) / step. Even/odd shuffles, 16·step floats at a time.
@inline(never)
private func splitPhases(_ src: UnsafePointer<Float>, count: Int, step: Int, into dst: UnsafeMutablePointer<Float>, phaseStride: Int) {
    var x = 0
    if step == 2 {
        while x + 32 <= count {
            let (even, odd) = evenOdd(loadV(src + x), loadV(src + x + 16))
            storeV(even, dst + phaseStride + x / 2); storeV(odd, dst + x / 2 + 1)
            x += 32
        }
    } else if step == 4 {
        while x + 64 <= count {
            let (e01, o01) = evenOdd(loadV(src + x), loadV(src + x + 16)), (e23, o23) = evenOdd(loadV(src + x + 32), loadV(src + x + 48))
            let (q0, q2) = evenOdd(e01, e23), (q1, q3) = evenOdd(o01, o23)  // q_k: columns ≡ k (mod 4)
            let j = x / 4
            storeV(q0, dst + phaseStride + j); storeV(q1, dst + 2 * phaseStride + j); storeV(q2, dst + 3 * phaseStride + j); storeV(q3, dst + j + 1)
            x += 64
        }
    }
    var phase = (x + 1) % step, index = (x + 1) / step  // the rest one at a time, without a division each
    while x < count {
        dst[phase * phaseStride + index] = src[x]
        x += 1; phase += 1
        if phase == step { phase = 0; index += 1 }
    }
}

/// The output side of one batch of tiles: where tile t's m×m pixels go, and the bias and activation to apply.
struct OutputTiles {
    let output: UnsafeMutablePointer<Float>
    let height: Int, width: Int
    let tile: WinogradTile
    let tilesX: Int, firstTile: Int, count: Int
    let bias: UnsafePointer<Float>?
    let activation: Activation

    /// Calls body(offset, oy, ox, n) for each run of n ≤ 16 consecutive tiles of one tile row: offset is the run's
    /// first tile's index in the batch, (oy, ox) its top-left output pixel.
    @inline(__always)
    func forEachRun(_ body: (Int, Int, Int, Int) -> Void) {
        var t = firstTile
        while t < firstTile + count {
            let ty = t / tilesX, tx = t - ty * tilesX
            let n = min(16, tilesX - tx, firstTile + count - t)
            body(t - firstTile, tile.outputSize * ty, tile.outputSize * tx, n)
            t += n
        }
    }

    /// Top-left output pixel of the batch's tile `offset`.
    func origin(_ offset: Int) -> (y: Int, x: Int) {
        let t = firstTile + offset, ty = t / tilesX
        return (tile.outputSize * ty, tile.outputSize * (t - ty * tilesX))
    }

    /// Stores the m×m pixels of a run of n tiles of channel co from (oy, ox), clipped to the map. `values`: m×m
    /// vectors, pixel (i, j) of tile l at values[(i·m + j)·16 + l]; each output row is their interleaving.
    /// Full F(2×2) runs are stored inline (yolov3-tiny 104×104 32→64: 4.4 → 3.9 ms); F(4×4)'s were not faster so.
    @inline(__always)
    func storeRun(_ values: UnsafePointer<Float>, channel co: Int, oy: Int, ox: Int, n: Int) {
        guard tile == .f2x2 && n == 16 && ox + 32 <= width && oy + 2 <= height else {
            return storeRunOutOfLine(values, channel: co, oy: oy, ox: ox, n: n)
        }
        for i in 0..<2 { storeRow(values + i * 32, output + (co * height + oy + i) * width + ox) }
    }

    /// `storeRun`'s other cases (F(4×4), runs at the map's edges): a row that ends at the edge goes through a
    /// scratch row, copied as far as the map goes.
    @inline(never)
    private func storeRunOutOfLine(_ values: UnsafePointer<Float>, channel co: Int, oy: Int, ox: Int, n: Int) {
        let m = tile.outputSize, inside = min(m * n, width - ox)
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 64) { row in
            for i in 0..<m where oy + i < height {
                let dst = output + (co * height + oy + i) * width + ox
                if inside == 16 * m {
                    storeRow(values + i * m * 16, dst)
                } else {
                    storeRow(values + i * m * 16, row.baseAddress!)
                    dst.update(from: row.baseAddress!, count: inside)
                }
            }
        }
    }

    /// dst[m·l + j] = v[j·16 + l]: one output row of 16 tiles from its m vectors.
    @inline(__always)
    private func storeRow(_ v: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>) {
        if tile == .f2x2 {
            storeInterleaved(loadV(v), loadV(v + 16), dst)
        } else {
            let (e0, e1) = interleaved(loadV(v), loadV(v + 32)), (f0, f1) = interleaved(loadV(v + 16), loadV(v + 48))
            storeInterleaved(e0, f0, dst); storeInterleaved(e1, f1, dst + 32)
        }
    }

    /// Stores one pixel of 16 consecutive channels (lanes), `lanes` of them valid: the transposed layout's output.
    @inline(__always)
    func storeChannels(_ y: SIMD16<Float>, firstChannel: Int, lanes: Int, y py: Int, x px: Int) {
        guard py < height && px < width else { return }
        let mapSize = height * width, dst = output + firstChannel * mapSize + py * width + px
        for l in 0..<lanes { dst[l * mapSize] = y[l] }
    }

    /// The bias of channel co on every lane.
    func bias(channel co: Int) -> SIMD16<Float> { SIMD16(repeating: bias?[co] ?? 0) }
    /// The bias of channels co ..< co + lanes.
    func bias(channels co: Int, lanes: Int) -> SIMD16<Float> {
        guard let bias else { return SIMD16() }
        return loadLanes(bias + co, lanes)
    }
}

/// F(2×2) input transform: V[ξ·plane + ci·ldv + t] = (Bᵀ d B)_ξ of tile t, 16 tiles per vector.
private func winogradInputF23(_ runs: InputTileRuns, channels: Range<Int>, into v: UnsafeMutablePointer<Float>, ldv: Int, plane: Int) {
    runs.forEach(channels: channels) { ci, run, offset, n in
        // Row r of the 4×4 input tiles of 16 tiles side by side: columns 0…3 are phases 0, 1 and the same shifted by one.
        @inline(__always) func load(_ r: Int) -> (SIMD16<Float>, SIMD16<Float>, SIMD16<Float>, SIMD16<Float>) {
            (run.load(row: r, phase: 0), run.load(row: r, phase: 1), run.load(row: r, phase: 0, shift: 1), run.load(row: r, phase: 1, shift: 1))
        }
        let d0 = load(0), d1 = load(1), d2 = load(2), d3 = load(3)
        // Bᵀ d (rows d0 − d2, d1 + d2, d2 − d1, d1 − d3), then the same on the columns (· B).
        let dst = v + ci * ldv + offset
        @inline(__always) func put(_ r: Int, _ e0: SIMD16<Float>, _ e1: SIMD16<Float>, _ e2: SIMD16<Float>, _ e3: SIMD16<Float>) {
            storeLanes(e0 - e2, dst + (r * 4) * plane, n); storeLanes(e1 + e2, dst + (r * 4 + 1) * plane, n)
            storeLanes(e2 - e1, dst + (r * 4 + 2) * plane, n); storeLanes(e1 - e3, dst + (r * 4 + 3) * plane, n)
        }
        put(0, d0.0 - d2.0, d0.1 - d2.1, d0.2 - d2.2, d0.3 - d2.3)
        put(1, d1.0 + d2.0, d1.1 + d2.1, d1.2 + d2.2, d1.3 + d2.3)
        put(2, d2.0 - d1.0, d2.1 - d1.1, d2.2 - d1.2, d2.3 - d1.3)
        put(3, d1.0 - d3.0, d1.1 - d3.1, d1.2 - d3.2, d1.3 - d3.3)
    }
}

/// Y = Aᵀ m A of F(2×2) (Aᵀ = [1 1 1 0; 0 1 −1 −1]) for the 4×4 values x[r][c], before bias and activation.
@inline(__always)
private func outputTransformF23(_ x: (Int, Int) -> SIMD16<Float>) -> (SIMD16<Float>, SIMD16<Float>, SIMD16<Float>, SIMD16<Float>) {
    @inline(__always) func row(_ r: Int) -> (SIMD16<Float>, SIMD16<Float>, SIMD16<Float>, SIMD16<Float>) { (x(r, 0), x(r, 1), x(r, 2), x(r, 3)) }
    let x0 = row(0), x1 = row(1), x2 = row(2), x3 = row(3)
    // Aᵀ m (rows m0 + m1 + m2, m1 − m2 − m3), then the same on the columns (· A).
    let a0 = (x0.0 + x1.0 + x2.0, x0.1 + x1.1 + x2.1, x0.2 + x1.2 + x2.2, x0.3 + x1.3 + x2.3)
    let a1 = (x1.0 - x2.0 - x3.0, x1.1 - x2.1 - x3.1, x1.2 - x2.2 - x3.2, x1.3 - x2.3 - x3.3)
    return (a0.0 + a0.1 + a0.2, a0.1 - a0.2 - a0.3, a1.0 + a1.1 + a1.2, a1.1 - a1.2 - a1.3)
}

/// F(2×2) output transform for channels `channels`, 16 tiles per vector; M[ξ·plane + co·ldm + t].
private func winogradOutputF23(_ m: UnsafeMutablePointer<Float>, channels: Range<Int>, ldm: Int, plane: Int, into target: OutputTiles) {
    let activation = target.activation
    withUnsafeTemporaryAllocation(of: Float.self, capacity: 4 * 16) { pixels in
        let pixels = pixels.baseAddress!
        for co in channels {
            let src = m + co * ldm, b = target.bias(channel: co)
            target.forEachRun { offset, oy, ox, n in
                let y = outputTransformF23 { r, c in loadLanes(src + (4 * r + c) * plane + offset, n) }
                storeV(activation.apply(y.0 + b), pixels); storeV(activation.apply(y.1 + b), pixels + 16)
                storeV(activation.apply(y.2 + b), pixels + 32); storeV(activation.apply(y.3 + b), pixels + 48)
                target.storeRun(pixels, channel: co, oy: oy, ox: ox, n: n)
            }
        }
    }
}

/// F(2×2) output transform of the transposed layout Mᵀ[ξ][t][co], 16 output channels at a time (contiguous in Mᵀ).
private func winogradOutputTransposedF23(_ m: UnsafeMutablePointer<Float>, tiles: Range<Int>, channels: Int, plane: Int, into target: OutputTiles) {
    for offset in tiles {
        let (oy, ox) = target.origin(offset), src = m + offset * channels
        for co in stride(from: 0, to: channels, by: 16) {
            let lanes = min(16, channels - co), b = target.bias(channels: co, lanes: lanes)
            let y = outputTransformF23 { r, c in loadLanes(src + (4 * r + c) * plane + co, lanes) }
            let act = target.activation
            target.storeChannels(act.apply(y.0 + b), firstChannel: co, lanes: lanes, y: oy, x: ox)
            target.storeChannels(act.apply(y.1 + b), firstChannel: co, lanes: lanes, y: oy, x: ox + 1)
            target.storeChannels(act.apply(y.2 + b), firstChannel: co, lanes: lanes, y: oy + 1, x: ox)
            target.storeChannels(act.apply(y.3 + b), firstChannel: co, lanes: lanes, y: oy + 1, x: ox + 1)
        }
    }
}

/// The first n lanes from p (the rest zero).
@inline(__always)
func loadLanes(_ p: UnsafePointer<Float>, _ n: Int) -> SIMD16<Float> {
    if n == 16 { return loadV(p) }
    var v = SIMD16<Float>()
    for l in 0..<n { v[l] = p[l] }
    return v
}
@inline(__always)
func loadLanes(_ p: UnsafeMutablePointer<Float>, _ n: Int) -> SIMD16<Float> { loadLanes(UnsafePointer(p), n) }

/// The first n lanes of v to p.
@inline(__always)
func storeLanes(_ v: SIMD16<Float>, _ p: UnsafeMutablePointer<Float>, _ n: Int) {
    if n == 16 { storeV(v, p) } else { for l in 0..<n { p[l] = v[l] } }
}

/// p[0..<32] = a0, b0, a1, b1, …, a15, b15.
@inline(__always)
func storeInterleaved(_ a: SIMD16<Float>, _ b: SIMD16<Float>, _ p: UnsafeMutablePointer<Float>) {
    let (lo, hi) = interleaved(a, b)
    storeV(lo, p)
    storeV(hi, p + 16)
}

/// The even lanes of a ‖ b (a0, a2, …, a14, b0, …, b14) and the odd ones (a1, a3, …, b15): one two-source shuffle each.
@inline(__always)
func evenOdd(_ a: SIMD16<Float>, _ b: SIMD16<Float>) -> (SIMD16<Float>, SIMD16<Float>) {
    (SIMD16(a[0], a[2], a[4], a[6], a[8], a[10], a[12], a[14], b[0], b[2], b[4], b[6], b[8], b[10], b[12], b[14]),
     SIMD16(a[1], a[3], a[5], a[7], a[9], a[11], a[13], a[15], b[1], b[3], b[5], b[7], b[9], b[11], b[13], b[15]))
}

/// (a0, b0, a1, b1, …, a7, b7) and (a8, b8, …, a15, b15).
@inline(__always)
func interleaved(_ a: SIMD16<Float>, _ b: SIMD16<Float>) -> (SIMD16<Float>, SIMD16<Float>) {
    (SIMD16(a[0], b[0], a[1], b[1], a[2], b[2], a[3], b[3], a[4], b[4], a[5], b[5], a[6], b[6], a[7], b[7]),
     SIMD16(a[8], b[8], a[9], b[9], a[10], b[10], a[11], b[11], a[12], b[12], a[13], b[13], a[14], b[14], a[15], b[15]))
}
