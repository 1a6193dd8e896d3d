/// Unfolds a [C, H, W] input into columns [C·k·k, outH·outW] so that a convolution becomes one GEMM.
/// Row r = (c·k + ky)·k + kx holds input[c, oy·stride − pad + ky, ox·stride − pad + kx] (0 outside).
func im2col(_ input: UnsafePointer<Float>, channels: Int, height: Int, width: Int,
            kernel: Int, stride: Int, pad: Int, outHeight: Int, outWidth: Int,
            into columns: UnsafeMutablePointer<Float>, threads: Int) {
    let outPlane = outHeight * outWidth
    parallelChunks(channels * kernel * kernel, threads: threads) { rows in
        for r in rows {
            let kx = r % kernel, ky = (r / kernel) % kernel, c = r / (kernel * kernel)
            let src = input + c * height * width
            let dst = columns + r * outPlane
            // Output columns whose input x lies inside the image: ox in [oxLo, oxHi).
            let xOffset = kx - pad
            let oxLo = min(outWidth, max(0, (-xOffset + stride - 1) / stride))
            let oxHi = max(oxLo, min(outWidth, (width - xOffset + stride - 1) / stride))
            for oy in 0..<outHeight {
                let iy = oy * stride - pad + ky
                let d = dst + oy * outWidth
                if iy < 0 || iy >= height {
                    d.update(repeating: 0, count: outWidth)
                    continue
                }
                let s = src + iy * width + xOffset
                if oxLo > 0 { d.update(repeating: 0, count: oxLo) }
                if stride == 1 {
                    (d + oxLo).update(from: s + oxLo, count: oxHi - oxLo)
                } else {
                    for ox in oxLo..<oxHi { d[ox] = s[ox * stride] }
                }
                if oxHi < outWidth { (d + oxHi).update(repeating: 0, count: outWidth - oxHi) }
            }
        }
    }
}
