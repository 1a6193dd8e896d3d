/// The uint8 twin of `im2col`: unfolds quantized activations [C, H, W] into the int8 GEMM's X [C·k·k, outH·outW]
/// (row r = (c·k + ky)·k + kx holds q[c, oy·stride − pad + ky, ox·stride − pad + kx]). Outside the input it writes
/// the zero point: it is the quantized 0, so padding contributes exactly what fp32 zero padding does.
func quantizedIm2col(_ input: UnsafePointer<UInt8>, channels: Int, height: Int, width: Int,
                     kernel: Int, stride: Int, pad: Int, outHeight: Int, outWidth: Int, zeroPoint: UInt8,
                     into columns: UnsafeMutablePointer<UInt8>, threads: Int) {
    let outPlane = outHeight * outWidth, rows = channels * kernel * kernel
    let workers = rows * outPlane < 1 << 20 ? 1 : threads  // bytes copied; below ~1 MB one thread is faster
    parallelChunks(rows, threads: workers) { range in
        for r in range {
            let c = r / (kernel * kernel), ky = (r / kernel) % kernel, kx = r % kernel
            let plane = input + c * height * width
            // Output columns whose input column ix = ox·stride − pad + kx lies inside [0, width).
            let firstInside = kx >= pad ? 0 : (pad - kx + stride - 1) / stride
            let reach = width - 1 + pad - kx
            let lastInside = reach < 0 ? -1 : min(outWidth - 1, reach / stride)  // may be < firstInside
            for oy in 0..<outHeight {
                let out = columns + r * outPlane + oy * outWidth
                let iy = oy * stride - pad + ky
                guard iy >= 0 && iy < height, firstInside <= lastInside else {
                    out.initialize(repeating: zeroPoint, count: outWidth)
                    continue
                }
                let row = plane + iy * width
                if firstInside > 0 { out.initialize(repeating: zeroPoint, count: firstInside) }
                if stride == 1 {
                    (out + firstInside).update(from: row + (firstInside - pad + kx), count: lastInside - firstInside + 1)
                } else {
                    var ix = firstInside * stride - pad + kx
                    for ox in firstInside...lastInside { out[ox] = row[ix]; ix += stride }
                }
                if lastInside + 1 < outWidth { (out + lastInside + 1).initialize(repeating: zeroPoint, count: outWidth - lastInside - 1) }
            }
        }
    }
}
