/// Max pooling over [C, H, W] with Darknet's padding convention: the window for output (oy, ox) starts at
/// (oy·stride − pad/2, ox·stride − pad/2) where `pad` is the total padding (Darknet default size − 1);
/// positions outside the input are ignored (never win the max). With size 2, stride 1 the map keeps its size.
///
/// Separable: per output row, the max over the window's input rows (16 lanes across x), then the max along x
/// over a row padded with −greatestFiniteMagnitude (what an all-outside window gives), so no bounds tests run
/// in the inner loops. Stride 1 (SPPF's 5×5, yolov3-tiny's 2×2) takes `size` shifted vector loads; 2×2 stride 2
/// takes the even/odd halves of 32-float loads.
func maxPool(_ input: UnsafePointer<Float>, channels: Int, height: Int, width: Int,
             size: Int, stride: Int, pad: Int, outHeight: Int, outWidth: Int,
             into output: UnsafeMutablePointer<Float>, threads: Int) {
    let offset = pad / 2
    let lowest = -Float.greatestFiniteMagnitude
    // Row buffer: `left` pad cells, the row, then enough pad on the right for every window and a vector overrun.
    let left = offset + 16
    let rightNeeded = max(0, (outWidth - 1) * stride - offset + size - width)
    let bufferCount = left + width + rightNeeded + 2 * 32 + size
    let workers = channels * outHeight * outWidth < 16_384 ? 1 : threads
    parallelChunks(channels, threads: workers) { range in
        let buffer = UnsafeMutablePointer<Float>.allocate(capacity: bufferCount)
        defer { buffer.deallocate() }
        buffer.initialize(repeating: lowest, count: bufferCount)
        let row = buffer + left  // row[x] for x in −left ..< width + right pad
        for c in range {
            let src = input + c * height * width
            let dst = output + c * outHeight * outWidth
            for oy in 0..<outHeight {
                let y0 = oy * stride - offset
                let yLo = max(y0, 0), yHi = min(y0 + size, height)
                // Vertical max of the window's rows into `row` (all −max when the window misses the map).
                if yLo >= yHi {
                    row.update(repeating: lowest, count: width)
                } else {
                    row.update(from: src + yLo * width, count: width)
                    for y in (yLo + 1)..<max(yHi, yLo + 1) {
                        let s = src + y * width
                        var x = 0
                        while x + 16 <= width { storeV(vmax(loadV(row + x), loadV(s + x)), row + x); x += 16 }
                        while x < width { row[x] = max(row[x], s[x]); x += 1 }
                    }
                }
                horizontalMax(row - offset, size: size, stride: stride, count: outWidth, into: dst + oy * outWidth)
            }
        }
    }
}

/// out[ox] = max(row[ox·stride + j] for j in 0..<size); `row` is readable (padded) for every index used,
/// plus 32 floats of overrun.
@inline(__always)
private func horizontalMax(_ row: UnsafeMutablePointer<Float>, size: Int, stride: Int, count: Int, into out: UnsafeMutablePointer<Float>) {
    var ox = 0
    if stride == 1 {
        while ox + 16 <= count {
            var m = loadV(row + ox)
            for j in 1..<max(size, 1) { m = vmax(m, loadV(row + ox + j)) }
            storeV(m, out + ox)
            ox += 16
        }
    } else if stride == 2 && size == 2 {
        while ox + 16 <= count {
            let v = UnsafeRawPointer(row + 2 * ox).loadUnaligned(as: SIMD32<Float>.self)
            storeV(vmax(v.evenHalf, v.oddHalf), out + ox)
            ox += 16
        }
    }
    while ox < count {
        let s = row + ox * stride
        var m = s[0]
        for j in 1..<max(size, 1) { m = max(m, s[j]) }
        out[ox] = m
        ox += 1
    }
}

/// Nearest-neighbour upsampling of [C, H, W] by an integer factor, values multiplied by `scale`.
func upsampleNearest(_ input: UnsafePointer<Float>, channels: Int, height: Int, width: Int, factor: Int, scale: Float,
                     into output: UnsafeMutablePointer<Float>, threads: Int) {
    let outW = width * factor
    let workers = channels * height * width < 16_384 ? 1 : threads
    parallelChunks(channels, threads: workers) { range in
        for c in range {
            let src = input + c * height * width
            let dst = output + c * height * factor * outW
            for y in 0..<height {
                let row = dst + y * factor * outW, s = src + y * width
                if factor == 2 {
                    var x = 0
                    while x + 16 <= width {
                        let v = loadV(s + x) * scale
                        // Each value twice: lanes (v0, v0, v1, v1, …) built from two halves of the same vector.
                        storeV(SIMD16(v[0], v[0], v[1], v[1], v[2], v[2], v[3], v[3], v[4], v[4], v[5], v[5], v[6], v[6], v[7], v[7]), row + 2 * x)
                        storeV(SIMD16(v[8], v[8], v[9], v[9], v[10], v[10], v[11], v[11], v[12], v[12], v[13], v[13], v[14], v[14], v[15], v[15]), row + 2 * x + 16)
                        x += 16
                    }
                    while x < width { let v = s[x] * scale; row[2 * x] = v; row[2 * x + 1] = v; x += 1 }
                } else {
                    for x in 0..<width {
                        let v = s[x] * scale
                        for f in 0..<factor { row[x * factor + f] = v }
                    }
                }
                for f in 1..<max(factor, 1) { (row + f * outW).update(from: row, count: outW) }
            }
        }
    }
}
