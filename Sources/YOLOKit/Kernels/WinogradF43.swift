/// Winograd F(4×4, 3×3) (Lavin & Gray 2015; points 0, ±1, ±2, ∞): each 4×4 output tile from a 6×6 input tile,
/// 36 GEMMs per batch of tiles (2.25 multiplies per output against F(2×2)'s 4), run by `runWinograd` (Winograd.swift)
/// with the transforms below:
///     Bᵀ = [4  0 −5  0 1 0;   G = [ 1/4     0     0;    Aᵀ = [1 1  1 1  1 0;
///           0 −4 −4  1 1 0;        −1/6  −1/6  −1/6;          0 1 −1 2 −2 0;
///           0  4 −4 −1 1 0;        −1/6   1/6  −1/6;          0 1  1 4  4 0;
///           0 −2 −1  2 1 0;        1/24  1/12   1/6;          0 1 −1 8 −8 1]
///           0  2 −1 −2 1 0;        1/24 −1/12   1/6;
///           0  4  0 −5 0 1]           0     0     1]
/// The filter transform runs in double precision (WinogradWeights); the input and output transforms in float,
/// 16 tiles (or 16 output channels) per vector.
enum WinogradF43 {
    static let filterTransform: [[Double]] = [
        [1.0 / 4, 0, 0], [-1.0 / 6, -1.0 / 6, -1.0 / 6], [-1.0 / 6, 1.0 / 6, -1.0 / 6],
        [1.0 / 24, 1.0 / 12, 1.0 / 6], [1.0 / 24, -1.0 / 12, 1.0 / 6], [0, 0, 1],
    ]

    /// Where F(4×4) beats F(2×2), measured per layer (thread CPU time, 1 thread, medians of 3 bench runs; F(4×4)
    /// over F(2×2) time, blas / swift backends):
    /// - ≥ 64 input channels on maps with ≥ 32 tiles of 4×4: 0.74–0.94 (YOLOv8s 30×40 128→128: 2.9 → 2.2 ms,
    ///   60×80 64→64: 3.4 → 2.9 ms; yolov3-tiny 26×26 384→256: 7.1–7.4 → 6.6 ms).
    /// - 32 input channels (large early maps, the transforms outweigh the GEMMs): 0.90–1.12, so F(2×2).
    /// - Fewer than 32 tiles (13×13, 15×20 maps) with Cin·Cout ≥ 256²: 1.0–1.37 (yolov3-tiny 13×13 512→1024:
    ///   12.6 → 14.3 / 17.2 ms): U (36·Cin·Cout floats) is streamed from memory for few tiles, so F(2×2).
    ///   With smaller weights on those maps (YOLOv8s 15×20 64→64, 128→128, 512→64): 0.72–1.05, F(4×4).
    static func isWorthwhile(inChannels: Int, outputShape: TensorShape) -> Bool {
        let (tilesY, tilesX) = WinogradTile.f4x4.tiles(outputShape)
        return inChannels >= 64 && !(tilesY * tilesX < 32 && inChannels * outputShape.channels >= 256 * 256)
    }
}

typealias Vector6 = (SIMD16<Float>, SIMD16<Float>, SIMD16<Float>, SIMD16<Float>, SIMD16<Float>, SIMD16<Float>)
typealias Vector4 = (SIMD16<Float>, SIMD16<Float>, SIMD16<Float>, SIMD16<Float>)

/// Bᵀ x on one row or column of a 6×6 tile.
@inline(__always)
private func inputTransform6(_ x: Vector6) -> Vector6 {
    let a = x.4 - 4 * x.2, b = x.3 - 4 * x.1  // rows 1, 2: a ± b
    let c = x.4 - x.2, d = 2 * (x.3 - x.1)    // rows 3, 4: c ± d
    return (4 * x.0 - 5 * x.2 + x.4, a + b, a - b, c + d, c - d, 4 * x.1 - 5 * x.3 + x.5)
}

/// Aᵀ x on one row or column of a 6×6 tile.
@inline(__always)
private func outputTransform6(_ x: Vector6) -> Vector4 {
    let s12 = x.1 + x.2, d12 = x.1 - x.2, s34 = x.3 + x.4, d34 = x.3 - x.4
    return (x.0 + s12 + s34, d12 + 2 * d34, s12 + 4 * s34, d12 + 8 * d34 + x.5)
}

/// Y = Aᵀ m A for the 6×6 values x(r, c), before bias and activation: y.i.j is output pixel (i, j).
@inline(__always)
private func outputTransformF43(_ x: (Int, Int) -> SIMD16<Float>) -> (Vector4, Vector4, Vector4, Vector4) {
    // Aᵀ m: column c of the 4×6 product, then each of its 4 rows · A.
    @inline(__always) func column(_ c: Int) -> Vector4 { outputTransform6((x(0, c), x(1, c), x(2, c), x(3, c), x(4, c), x(5, c))) }
    let c0 = column(0), c1 = column(1), c2 = column(2), c3 = column(3), c4 = column(4), c5 = column(5)
    return (outputTransform6((c0.0, c1.0, c2.0, c3.0, c4.0, c5.0)), outputTransform6((c0.1, c1.1, c2.1, c3.1, c4.1, c5.1)),
            outputTransform6((c0.2, c1.2, c2.2, c3.2, c4.2, c5.2)), outputTransform6((c0.3, c1.3, c2.3, c3.3, c4.3, c5.3)))
}

/// F(4×4) input transform: V[ξ·plane + ci·ldv + t] = (Bᵀ d B)_ξ of tile t, 16 tiles per vector.
func winogradInputF43(_ runs: InputTileRuns, channels: Range<Int>, into v: UnsafeMutablePointer<Float>, ldv: Int, plane: Int) {
    runs.forEach(channels: channels) { ci, run, offset, n in
        // Row r of the 6×6 input tiles of 16 tiles side by side, · B: columns 0…3 are phases 0…3, columns 4 and 5
        // phases 0 and 1 shifted by one tile.
        @inline(__always) func row(_ r: Int) -> Vector6 {
            inputTransform6((run.load(row: r, phase: 0), run.load(row: r, phase: 1), run.load(row: r, phase: 2), run.load(row: r, phase: 3),
                             run.load(row: r, phase: 0, shift: 1), run.load(row: r, phase: 1, shift: 1)))
        }
        let r0 = row(0), r1 = row(1), r2 = row(2), r3 = row(3), r4 = row(4), r5 = row(5)
        // Bᵀ on each column c of (d B), stored as positions ξ = 6·i + c.
        let dst = v + ci * ldv + offset
        @inline(__always) func put(_ c: Int, _ x: Vector6) {
            let y = inputTransform6(x)
            storeLanes(y.0, dst + c * plane, n); storeLanes(y.1, dst + (6 + c) * plane, n)
            storeLanes(y.2, dst + (12 + c) * plane, n); storeLanes(y.3, dst + (18 + c) * plane, n)
            storeLanes(y.4, dst + (24 + c) * plane, n); storeLanes(y.5, dst + (30 + c) * plane, n)
        }
        put(0, (r0.0, r1.0, r2.0, r3.0, r4.0, r5.0)); put(1, (r0.1, r1.1, r2.1, r3.1, r4.1, r5.1))
        put(2, (r0.2, r1.2, r2.2, r3.2, r4.2, r5.2)); put(3, (r0.3, r1.3, r2.3, r3.3, r4.3, r5.3))
        put(4, (r0.4, r1.4, r2.4, r3.4, r4.4, r5.4)); put(5, (r0.5, r1.5, r2.5, r3.5, r4.5, r5.5))
    }
}

/// F(4×4) output transform for channels `channels`, 16 tiles per vector; M[ξ·plane + co·ldm + t].
func winogradOutputF43(_ m: UnsafeMutablePointer<Float>, channels: Range<Int>, ldm: Int, plane: Int, into target: OutputTiles) {
    let activation = target.activation
    withUnsafeTemporaryAllocation(of: Float.self, capacity: 16 * 16) { pixels in
        let pixels = pixels.baseAddress!
        for co in channels {
            let src = m + co * ldm, b = target.bias(channel: co)
            target.forEachRun { offset, oy, ox, n in
                let y = outputTransformF43 { r, c in loadLanes(src + (6 * r + c) * plane + offset, n) }
                @inline(__always) func put(_ i: Int, _ row: Vector4) {
                    let p = pixels + 64 * i
                    storeV(activation.apply(row.0 + b), p); storeV(activation.apply(row.1 + b), p + 16)
                    storeV(activation.apply(row.2 + b), p + 32); storeV(activation.apply(row.3 + b), p + 48)
                }
                put(0, y.0); put(1, y.1); put(2, y.2); put(3, y.3)
                target.storeRun(pixels, channel: co, oy: oy, ox: ox, n: n)
            }
        }
    }
}

/// F(4×4) output transform of the transposed layout Mᵀ[ξ][t][co], 16 output channels at a time (contiguous in Mᵀ).
func winogradOutputTransposedF43(_ m: UnsafeMutablePointer<Float>, tiles: Range<Int>, channels: Int, plane: Int, into target: OutputTiles) {
    let activation = target.activation
    for offset in tiles {
        let (oy, ox) = target.origin(offset), src = m + offset * channels
        for co in stride(from: 0, to: channels, by: 16) {
            let lanes = min(16, channels - co), b = target.bias(channels: co, lanes: lanes)
            let y = outputTransformF43 { r, c in loadLanes(src + (6 * r + c) * plane + co, lanes) }
            for i in 0..<4 {
                let row = lane(y, i)
                for j in 0..<4 { target.storeChannels(activation.apply(lane(row, j) + b), firstChannel: co, lanes: lanes, y: oy + i, x: ox + j) }
            }
        }
    }
}

/// Element i (0…3) of a 4-tuple.
@inline(__always)
private func lane<T>(_ t: (T, T, T, T), _ i: Int) -> T {
    switch i { case 0: t.0; case 1: t.1; case 2: t.2; default: t.3 }
}
