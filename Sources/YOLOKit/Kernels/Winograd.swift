import Foundation

/// Winograd F(2×2, 3×3) convolution (Lavin & Gray 2015) for 3×3, stride-1, pad-1 convolutions: each 2×2
/// output tile comes from a 4×4 input tile as Y = Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A, so the multiply count falls from
/// 36 to 16 per tile and channel pair (2.25×). The sum over input channels is 16 GEMMs — one per position ξ of
/// the 4×4 transform: M_ξ[Cout, tiles] = U_ξ[Cout, Cin] × V_ξ[Cin, tiles] — run by the network's GEMM backend
/// (OpenBLAS or Swift alike), between an input transform and an output transform (with bias and activation)
/// written here in Swift SIMD. The transforms only add, subtract and halve, so results stay within a few
/// ulp of the direct convolution's.
///
/// Used where it measured faster on Zen 4 (`WinogradF23.isWorthwhile`); `YOLO_WINOGRAD=0` turns it off.
public enum WinogradF23 {
    /// Whether `YOLO_WINOGRAD=0` turned it off for this process.
    public static let enabled: Bool = ProcessInfo.processInfo.environment["YOLO_WINOGRAD"] != "0"

    /// A 3×3 stride-1 "same" convolution with enough channels and a large enough map to win (measured).
    public static func isWorthwhile(inputShape: TensorShape, outputShape: TensorShape, size: Int, stride: Int, pad: Int, groups: Int) -> Bool {
        enabled && size == 3 && stride == 1 && pad == 1 && groups == 1
            && inputShape.channels >= minChannels && outputShape.channels >= minChannels
            && outputShape.height >= 8 && outputShape.width >= 8
    }
    static let minChannels = 32

    /// Few tiles (small maps) and many output channels: the 16 GEMMs run transposed, Mᵀ_ξ[tiles, Cout] =
    /// V_ξᵀ[tiles, Cin] × Uᵀ_ξ[Cin, Cout] (`sgemmTransposingA`), so the GEMM's vector dimension is Cout (1024 for
    /// yolov3-tiny's 13×13 layer, against 49 tiles) and the large operand U is read as B, row by row, in sequence.
    public static func prefersTransposed(inChannels: Int, outChannels: Int, tiles: Int) -> Bool {
        batchTiles(inChannels: inChannels, outChannels: outChannels, tiles: tiles) < min(outChannels, 256)
    }

    /// Tiles per GEMM batch: V and M of one batch (16·tiles·(Cin + Cout) floats) stay within about 8 MB.
    static func batchTiles(inChannels: Int, outChannels: Int, tiles: Int) -> Int {
        min(tiles, max(64, 2_000_000 / (16 * (inChannels + outChannels))))
    }

    /// Scratch floats: V and M of one batch of tiles.
    public static func workspaceSize(inputShape: TensorShape, outputShape: TensorShape) -> Int {
        let tiles = ((outputShape.height + 1) / 2) * ((outputShape.width + 1) / 2)
        let batch = batchTiles(inChannels: inputShape.channels, outChannels: outputShape.channels, tiles: tiles)
        return 16 * batch * (inputShape.channels + outputShape.channels)
    }
}

/// The transformed filters U_ξ = (G g Gᵀ)_ξ of a 3×3 convolution, [16][Cout][Cin], made once per weights
/// buffer (networks built for several input sizes share them).
public final class WinogradWeights: @unchecked Sendable {
    public let outChannels: Int
    public let inChannels: Int
    /// Layout of `u`: [16, Cout, Cin], or [16, Cin, Cout] when transposed (`WinogradF23.prefersTransposed`).
    public let transposed: Bool
    public let u: FloatBuffer

    /// `weights`: [Cout, Cin, 3, 3].
    init(weights: UnsafePointer<Float>, outChannels: Int, inChannels: Int, transposed: Bool) {
        self.outChannels = outChannels
        self.inChannels = inChannels
        self.transposed = transposed
        u = FloatBuffer(count: 16 * outChannels * inChannels)
        let plane = outChannels * inChannels
        // In double precision, rounded once: the transform adds no error of its own.
        for co in 0..<outChannels {
            for ci in 0..<inChannels {
                let g = (0..<9).map { Double(weights[(co * inChannels + ci) * 9 + $0]) }
                // G g: 4×3, G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1]
                var gg = [Double](repeating: 0, count: 12)
                for c in 0..<3 {
                    let g0 = g[c], g1 = g[3 + c], g2 = g[6 + c]
                    gg[c] = g0; gg[3 + c] = 0.5 * (g0 + g1 + g2); gg[6 + c] = 0.5 * (g0 - g1 + g2); gg[9 + c] = g2
                }
                // (G g) Gᵀ: 4×4
                for r in 0..<4 {
                    let a0 = gg[r * 3], a1 = gg[r * 3 + 1], a2 = gg[r * 3 + 2]
                    let row = [a0, 0.5 * (a0 + a1 + a2), 0.5 * (a0 - a1 + a2), a2]
                    let at = transposed ? ci * outChannels + co : co * inChannels + ci
                    for c in 0..<4 { u.pointer[(r * 4 + c) * plane + at] = Float(row[c]) }
                }
            }
        }
    }

    private static let lock = NSLock()
    nonisolated(unsafe) private static var cache: [Key: (source: WeakBuffer, weights: WinogradWeights)] = [:]
    private struct WeakBuffer { weak var buffer: FloatBuffer? }
    private struct Key: Hashable { let id: ObjectIdentifier; let transposed: Bool }

    /// The transform of `weights` ([Cout, Cin, 3, 3]) in the given layout, computed once per buffer.
    public static func shared(for weights: FloatBuffer, outChannels: Int, inChannels: Int, transposed: Bool) -> WinogradWeights {
        lock.lock(); defer { lock.unlock() }
        let key = Key(id: ObjectIdentifier(weights), transposed: transposed)
        if let hit = cache[key], hit.source.buffer === weights, hit.weights.outChannels == outChannels { return hit.weights }
        cache = cache.filter { $0.value.source.buffer != nil }  // drop transforms of freed buffers
        let made = WinogradWeights(weights: weights.pointer, outChannels: outChannels, inChannels: inChannels, transposed: transposed)
        cache[key] = (WeakBuffer(buffer: weights), made)
        return made
    }
}

extension ConvolutionGEMM {
    /// The convolution by Winograd F(2×2, 3×3): input transform, 16 `gemm.sgemm` calls per batch of tiles,
    /// output transform with bias and activation. Needs `winograd` and a workspace of
    /// `WinogradF23.workspaceSize` floats.
    public func runWinograd(_ gemm: any GEMMBackend, _ w: WinogradWeights) {
        let cin = inputShape.channels, cout = outputShape.channels
        let outH = outputShape.height, outW = outputShape.width
        let tilesY = (outH + 1) / 2, tilesX = (outW + 1) / 2, tiles = tilesY * tilesX
        let batch = WinogradF23.batchTiles(inChannels: cin, outChannels: cout, tiles: tiles)
        let v = workspace, m = workspace + 16 * batch * cin
        let h = inputShape.height, wIn = inputShape.width
        var first = 0
        while first < tiles {
            let count = min(batch, tiles - first)
            // V_ξ[ci, t] = (Bᵀ d B)_ξ for the batch's tiles.
            parallelChunks(cin, threads: threads) { channels in
                winogradInput(input, channels: channels, height: h, width: wIn, tilesX: tilesX, firstTile: first, count: count,
                              into: v, ldv: count, plane: cin * count)
            }
            for xi in 0..<16 {
                let u = w.u.pointer + xi * cout * cin, vx = v + xi * cin * count, mx = m + xi * cout * count
                if w.transposed {
                    // Mᵀ_ξ[t, co] = V_ξᵀ · Uᵀ_ξ: A is V_ξ read transposed.
                    gemm.sgemmTransposingA(m: count, n: cout, k: cin, alpha: 1, a: vx, lda: count, b: u, ldb: cout, beta: 0, c: mx, ldc: cout)
                } else {
                    gemm.sgemm(m: cout, n: count, k: cin, alpha: 1, a: u, lda: cin, b: vx, ldb: count, beta: 0, c: mx, ldc: count)
                }
            }
            if w.transposed {
                parallelChunks(count, threads: threads) { tileRange in
                    winogradOutputTransposed(m, tiles: tileRange, channels: cout, plane: cout * count, tilesX: tilesX, firstTile: first,
                                             outHeight: outH, outWidth: outW, bias: bias, activation: activation, into: output)
                }
            } else {
                parallelChunks(cout, threads: threads) { channels in
                    winogradOutput(m, channels: channels, ldm: count, plane: cout * count, tilesX: tilesX, firstTile: first, count: count,
                                   outHeight: outH, outWidth: outW, bias: bias, activation: activation, into: output)
                }
            }
            first += count
        }
    }
}

/// Input transform for channels `channels`, tiles firstTile ..< firstTile + count (row-major over tilesY × tilesX):
/// tile t reads input rows 2·ty − 1 … 2·ty + 2 and columns 2·tx − 1 … 2·tx + 2 (zero outside), writes
/// V[ξ·plane + ci·ldv + (t − firstTile)].
private func winogradInput(_ input: UnsafePointer<Float>, channels: Range<Int>, height: Int, width: Int, tilesX: Int,
                           firstTile: Int, count: Int, into v: UnsafeMutablePointer<Float>, ldv: Int, plane: Int) {
    // The channel with a zero border, so that tile loads need no bounds tests: padded (y, x) = input (y − 1, x − 1).
    let pw = 2 * ((tilesX + 15) / 16) * 16 + 4 + 32
    let firstRow = firstTile / tilesX, lastRow = (firstTile + count - 1) / tilesX
    let rows = 2 * (lastRow - firstRow) + 4
    let padded = UnsafeMutablePointer<Float>.allocate(capacity: pw * rows)
    defer { padded.deallocate() }
    for ci in channels {
        padded.update(repeating: 0, count: pw * rows)
        let src = input + ci * height * width
        for r in 0..<rows {
            let y = 2 * firstRow - 1 + r
            if y >= 0 && y < height { (padded + r * pw + 1).update(from: src + y * width, count: width) }
        }
        let dst = v + ci * ldv
        var t = firstTile
        while t < firstTile + count {
            let ty = t / tilesX, tx = t - ty * tilesX
            let n = min(16, tilesX - tx, firstTile + count - t)  // tiles in this run (same tile row)
            let base = padded + 2 * (ty - firstRow) * pw + 2 * tx
            // Row r of the 4×4 input tiles of 16 tiles side by side: columns 2·tx + c as the even/odd halves of
            // two 32-float loads.
            @inline(__always) func load(_ r: Int) -> (SIMD16<Float>, SIMD16<Float>, SIMD16<Float>, SIMD16<Float>) {
                let p = base + r * pw
                let lo = UnsafeRawPointer(p).loadUnaligned(as: SIMD32<Float>.self)
                let hi = UnsafeRawPointer(p + 2).loadUnaligned(as: SIMD32<Float>.self)
                return (lo.evenHalf, lo.oddHalf, hi.evenHalf, hi.oddHalf)
            }
            let d0 = load(0), d1 = load(1), d2 = load(2), d3 = load(3)
            // Bᵀ d (rows d0 − d2, d1 + d2, d2 − d1, d1 − d3), then the same on the columns (· B).
            let offset = t - firstTile
            @inline(__always) func put(_ r: Int, _ e0: SIMD16<Float>, _ e1: SIMD16<Float>, _ e2: SIMD16<Float>, _ e3: SIMD16<Float>) {
                @inline(__always) func store(_ c: Int, _ value: SIMD16<Float>) {
                    let p = dst + (r * 4 + c) * plane + offset
                    if n == 16 { storeV(value, p) } else { for l in 0..<n { p[l] = value[l] } }
                }
                store(0, e0 - e2); store(1, e1 + e2); store(2, e2 - e1); store(3, e1 - e3)
            }
            put(0, d0.0 - d2.0, d0.1 - d2.1, d0.2 - d2.2, d0.3 - d2.3)
            put(1, d1.0 + d2.0, d1.1 + d2.1, d1.2 + d2.2, d1.3 + d2.3)
            put(2, d2.0 - d1.0, d2.1 - d1.1, d2.2 - d1.2, d2.3 - d1.3)
            put(3, d1.0 - d3.0, d1.1 - d3.1, d1.2 - d3.2, d1.3 - d3.3)
            t += n
        }
    }
}

/// Output transform for channels `channels`: Y = Aᵀ m A per tile (Aᵀ = [1 1 1 0; 0 1 −1 −1]), plus bias,
/// activation, written to the 2×2 output pixels that lie inside the map.
private func winogradOutput(_ m: UnsafeMutablePointer<Float>, channels: Range<Int>, ldm: Int, plane: Int, tilesX: Int,
                            firstTile: Int, count: Int, outHeight: Int, outWidth: Int, bias: UnsafePointer<Float>?,
                            activation: Activation, into output: UnsafeMutablePointer<Float>) {
    for co in channels {
        let src = m + co * ldm
        let out = output + co * outHeight * outWidth
        let b = SIMD16<Float>(repeating: bias?[co] ?? 0)
        var t = firstTile
        while t < firstTile + count {
            let ty = t / tilesX, tx = t - ty * tilesX
            let n = min(16, tilesX - tx, firstTile + count - t)
            let offset = t - firstTile
            @inline(__always) func load(_ r: Int) -> (SIMD16<Float>, SIMD16<Float>, SIMD16<Float>, SIMD16<Float>) {
                @inline(__always) func one(_ xi: Int) -> SIMD16<Float> {
                    let p = src + xi * plane + offset
                    if n == 16 { return loadV(p) }
                    var v = SIMD16<Float>()
                    for l in 0..<n { v[l] = p[l] }
                    return v
                }
                return (one(4 * r), one(4 * r + 1), one(4 * r + 2), one(4 * r + 3))
            }
            let x0 = load(0), x1 = load(1), x2 = load(2), x3 = load(3)
            // Aᵀ m (rows m0 + m1 + m2, m1 − m2 − m3), then the same on the columns (· A).
            let a0 = (x0.0 + x1.0 + x2.0, x0.1 + x1.1 + x2.1, x0.2 + x1.2 + x2.2, x0.3 + x1.3 + x2.3)
            let a1 = (x1.0 - x2.0 - x3.0, x1.1 - x2.1 - x3.1, x1.2 - x2.2 - x3.2, x1.3 - x2.3 - x3.3)
            let y00 = activation.apply(a0.0 + a0.1 + a0.2 + b), y01 = activation.apply(a0.1 - a0.2 - a0.3 + b)
            let y10 = activation.apply(a1.0 + a1.1 + a1.2 + b), y11 = activation.apply(a1.1 - a1.2 - a1.3 + b)
            let oy = 2 * ty, ox = 2 * tx
            let row0 = out + oy * outWidth + ox
            if n == 16 && ox + 32 <= outWidth && oy + 1 < outHeight {
                storeInterleaved(y00, y01, row0)
                storeInterleaved(y10, y11, row0 + outWidth)
            } else {
                for l in 0..<n {
                    let x0 = ox + 2 * l
                    row0[2 * l] = y00[l]
                    if x0 + 1 < outWidth { row0[2 * l + 1] = y01[l] }
                    if oy + 1 < outHeight {
                        row0[outWidth + 2 * l] = y10[l]
                        if x0 + 1 < outWidth { row0[outWidth + 2 * l + 1] = y11[l] }
                    }
                }
            }
            t += n
        }
    }
}

/// Output transform of the transposed layout Mᵀ[ξ][t][co], 16 output channels at a time (contiguous in Mᵀ):
/// Y = Aᵀ m A, bias, activation, each of the 2×2 pixels stored per channel.
private func winogradOutputTransposed(_ m: UnsafeMutablePointer<Float>, tiles: Range<Int>, channels: Int, plane: Int, tilesX: Int,
                                      firstTile: Int, outHeight: Int, outWidth: Int, bias: UnsafePointer<Float>?,
                                      activation: Activation, into output: UnsafeMutablePointer<Float>) {
    let mapSize = outHeight * outWidth
    for offset in tiles {
        let t = firstTile + offset, ty = t / tilesX, tx = t - ty * tilesX
        let oy = 2 * ty, ox = 2 * tx
        let pixels = [(0, 0), (0, 1), (1, 0), (1, 1)].map { (dy, dx) in oy + dy < outHeight && ox + dx < outWidth ? (oy + dy) * outWidth + ox + dx : -1 }
        let src = m + offset * channels
        var co = 0
        while co < channels {
            let lanes = min(16, channels - co)
            @inline(__always) func one(_ xi: Int) -> SIMD16<Float> {
                let p = src + xi * plane + co
                if lanes == 16 { return loadV(p) }
                var v = SIMD16<Float>()
                for l in 0..<lanes { v[l] = p[l] }
                return v
            }
            @inline(__always) func row(_ r: Int) -> (SIMD16<Float>, SIMD16<Float>, SIMD16<Float>, SIMD16<Float>) {
                (one(4 * r), one(4 * r + 1), one(4 * r + 2), one(4 * r + 3))
            }
            let x0 = row(0), x1 = row(1), x2 = row(2), x3 = row(3)
            var b = SIMD16<Float>()
            if let bias { if lanes == 16 { b = loadV(bias + co) } else { for l in 0..<lanes { b[l] = bias[co + l] } } }
            let a0 = (x0.0 + x1.0 + x2.0, x0.1 + x1.1 + x2.1, x0.2 + x1.2 + x2.2, x0.3 + x1.3 + x2.3)
            let a1 = (x1.0 - x2.0 - x3.0, x1.1 - x2.1 - x3.1, x1.2 - x2.2 - x3.2, x1.3 - x2.3 - x3.3)
            let y = (activation.apply(a0.0 + a0.1 + a0.2 + b), activation.apply(a0.1 - a0.2 - a0.3 + b),
                     activation.apply(a1.0 + a1.1 + a1.2 + b), activation.apply(a1.1 - a1.2 - a1.3 + b))
            let dst = output + co * mapSize
            if pixels[0] >= 0 { for l in 0..<lanes { dst[l * mapSize + pixels[0]] = y.0[l] } }
            if pixels[1] >= 0 { for l in 0..<lanes { dst[l * mapSize + pixels[1]] = y.1[l] } }
            if pixels[2] >= 0 { for l in 0..<lanes { dst[l * mapSize + pixels[2]] = y.2[l] } }
            if pixels[3] >= 0 { for l in 0..<lanes { dst[l * mapSize + pixels[3]] = y.3[l] } }
            co += 16
        }
    }
}

/// p[0..<32] = a0, b0, a1, b1, …, a15, b15.
@inline(__always)
private func storeInterleaved(_ a: SIMD16<Float>, _ b: SIMD16<Float>, _ p: UnsafeMutablePointer<Float>) {
    storeV(SIMD16(a[0], b[0], a[1], b[1], a[2], b[2], a[3], b[3], a[4], b[4], a[5], b[5], a[6], b[6], a[7], b[7]), p)
    storeV(SIMD16(a[8], b[8], a[9], b[9], a[10], b[10], a[11], b[11], a[12], b[12], a[13], b[13], a[14], b[14], a[15], b[15]), p + 16)
}
