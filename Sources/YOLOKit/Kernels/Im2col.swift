/// Unfolds a [C, H, W] input into columns [C·k·k, outH·outW] so that a convolution becomes one GEMM.
/// Row r = (c·k + ky)·k + kx holds input[c, oy·stride − pad + ky, ox·stride − pad + kx] (0 outside).
/// Rows are split over the threads; each row is written by `Im2colSource.fill` (the same code the Swift
/// GEMM uses to pack B straight from the input): runs copied per output row, stride 2 gathered 16 at a time.
/// `rowStride` (default outH·outW) lets several images' columns sit side by side in one wider matrix.
func im2col(_ input: UnsafePointer<Float>, channels: Int, height: Int, width: Int,
            kernel: Int, stride: Int, pad: Int, outHeight: Int, outWidth: Int,
            into columns: UnsafeMutablePointer<Float>, rowStride: Int? = nil, threads: Int) {
    let outPlane = outHeight * outWidth, ld = rowStride ?? outPlane
    let source = Im2colSource(input: input, height: height, width: width, kernel: kernel, stride: stride, pad: pad, outWidth: outWidth)
    let rows = channels * kernel * kernel
    let workers = rows * outPlane < 32_768 ? 1 : threads
    let shifted = stride == 1 && outWidth == width && outHeight == height
    parallelChunks(rows, threads: workers) { range in
        for r in range {
            let out = columns + r * ld
            if shifted { shiftedPlane(input, row: r, height: height, width: width, kernel: kernel, pad: pad, into: out) } else {
                source.fill(row: r, col0: 0, count: outPlane, into: out)
            }
        }
    }
}

/// Row r = (c·k + ky)·k + kx of a stride-1 "same" im2col (output H × W = input H × W) is input plane c shifted by
/// (dy, dx) = (ky − pad, kx − pad), zero outside: the valid output rows as ONE copy from the plane at offset
/// dy·W + dx, then the |dx| columns per row that the copy filled from the neighbouring row set to zero. On the
/// 5×5 … 20×20 maps of small training images, one copy per output row (`Im2colSource.fill`) was mostly call
/// overhead. The same values.
@inline(__always)
private func shiftedPlane(_ input: UnsafePointer<Float>, row r: Int, height: Int, width: Int, kernel: Int, pad: Int,
                          into out: UnsafeMutablePointer<Float>) {
    let kx = r % kernel, ky = (r / kernel) % kernel, c = r / (kernel * kernel)
    let plane = input + c * height * width
    let dy = ky - pad, dx = kx - pad
    let y0 = max(0, -dy), y1 = min(height, height - dy)  // output rows whose input row is inside
    guard y0 < y1, abs(dx) < width else { return out.update(repeating: 0, count: height * width) }
    if y0 > 0 { out.update(repeating: 0, count: y0 * width) }
    if y1 < height { (out + y1 * width).update(repeating: 0, count: (height - y1) * width) }
    let count = (y1 - y0) * width - abs(dx)
    if dx >= 0 {
        // out[y·W + x] = plane[(y + dy)·W + x + dx]; the last dx columns of each row are outside.
        (out + y0 * width).update(from: plane + (y0 + dy) * width + dx, count: count)
        for y in y0..<y1 { (out + y * width + width - dx).update(repeating: 0, count: dx) }
    } else {
        // The first −dx columns of each row are outside.
        (out + y0 * width - dx).update(from: plane + (y0 + dy) * width, count: count)
        for y in y0..<y1 { (out + y * width).update(repeating: 0, count: -dx) }
    }
}
