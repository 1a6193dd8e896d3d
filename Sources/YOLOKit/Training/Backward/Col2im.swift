/// The adjoint of `im2col`: adds columns [C·k·k, outH·outW] back onto a [C, H, W] map. Row r = (c·k + ky)·k + kx,
/// column oy·outW + ox adds to input[c, oy·stride − pad + ky, ox·stride − pad + kx] when that lies inside the
/// map (padding cells receive nothing). Accumulates: `image` must hold the values to add to (zeros for a fresh
/// gradient). Channels are split over the threads: each channel's rows write only to its own plane.
func col2im(_ columns: UnsafePointer<Float>, channels: Int, height: Int, width: Int,
            kernel: Int, stride: Int, pad: Int, outHeight: Int, outWidth: Int,
            addingInto image: UnsafeMutablePointer<Float>, rowStride: Int? = nil, threads: Int) {
    let outPlane = outHeight * outWidth, ld = rowStride ?? outPlane
    let workers = channels * kernel * kernel * outPlane < 32_768 ? 1 : threads
    parallelChunks(channels, threads: workers) { range in
        for c in range {
            let plane = image + c * height * width
            for ky in 0..<kernel {
                for kx in 0..<kernel {
                    let row = columns + ((c * kernel + ky) * kernel + kx) * ld
                    // Output columns whose input x is inside the map: 0 ≤ ox·stride − pad + kx < width.
                    let oxLo = max(0, (pad - kx + stride - 1) / stride)
                    let lastX = width - 1 + pad - kx  // ox·stride ≤ lastX (negative: no column reaches the map)
                    let oxHi = lastX < 0 ? 0 : min(outWidth, lastX / stride + 1)
                    guard oxLo < oxHi else { continue }
                    for oy in 0..<outHeight {
                        let iy = oy * stride - pad + ky
                        guard iy >= 0 && iy < height else { continue }
                        let src = row + oy * outWidth, dst = plane + iy * width - pad + kx
                        for ox in oxLo..<oxHi { dst[ox * stride] += src[ox] }
                    }
                }
            }
        }
    }
}
