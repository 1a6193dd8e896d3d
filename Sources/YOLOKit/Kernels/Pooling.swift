/// Max pooling over [C, H, W] with Darknet's padding convention: the window for output (oy, ox) starts at
/// (oy·stride − pad/2, ox·stride − pad/2) where `pad` is the total padding (Darknet default size − 1);
/// positions outside the input are ignored (never win the max). With size 2, stride 1 the map keeps its size.
func maxPool(_ input: UnsafePointer<Float>, channels: Int, height: Int, width: Int,
             size: Int, stride: Int, pad: Int, outHeight: Int, outWidth: Int,
             into output: UnsafeMutablePointer<Float>, threads: Int) {
    let offset = pad / 2
    parallelChunks(channels, threads: threads) { range in
        for c in range {
            let src = input + c * height * width
            let dst = output + c * outHeight * outWidth
            for oy in 0..<outHeight {
                let y0 = oy * stride - offset
                let yLo = max(y0, 0), yHi = min(y0 + size, height)
                for ox in 0..<outWidth {
                    let x0 = ox * stride - offset
                    let xLo = max(x0, 0), xHi = min(x0 + size, width)
                    var best = -Float.greatestFiniteMagnitude
                    if yLo < yHi && xLo < xHi {
                        for y in yLo..<yHi { for x in xLo..<xHi { best = max(best, src[y * width + x]) } }
                    }
                    dst[oy * outWidth + ox] = best
                }
            }
        }
    }
}

/// Nearest-neighbour upsampling of [C, H, W] by an integer factor, values multiplied by `scale`.
func upsampleNearest(_ input: UnsafePointer<Float>, channels: Int, height: Int, width: Int, factor: Int, scale: Float,
                     into output: UnsafeMutablePointer<Float>, threads: Int) {
    let outW = width * factor
    parallelChunks(channels, threads: threads) { range in
        for c in range {
            let src = input + c * height * width
            let dst = output + c * height * factor * outW
            for y in 0..<height {
                let row = dst + y * factor * outW
                for x in 0..<width {
                    let v = src[y * width + x] * scale
                    for f in 0..<factor { row[x * factor + f] = v }
                }
                for f in 1..<max(factor, 1) { (row + f * outW).update(from: row, count: outW) }
            }
        }
    }
}
