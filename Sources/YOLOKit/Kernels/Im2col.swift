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
    parallelChunks(rows, threads: workers) { range in
        for r in range { source.fill(row: r, col0: 0, count: outPlane, into: columns + r * ld) }
    }
}
