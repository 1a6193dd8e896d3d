/// Bilinear resize of an RGB8 image, bit-exact with OpenCV's `cv::resize(..., INTER_LINEAR)` for 8-bit
/// images (what `cv2.dnn.blobFromImage` and Ultralytics' letterbox use), so preprocessing matches the
/// reference to the byte. OpenCV's arithmetic:
/// - source coordinate f = Float((d + 0.5)·scale − 0.5) with scale = 1/(dst/src) in Double, s = floor(f),
///   frac = f − s; horizontally s < 0 → (0, 0) and s ≥ n − 1 → (n − 1, 0); vertically s and frac stay as
///   they are and only the two source rows are clamped to the image;
/// - weights are 11-bit fixed point: a0 = round((1 − frac)·2048), a1 = round(frac·2048);
/// - horizontal pass: row[x] = S[s]·a0 + S[s+1]·a1 (int);
/// - vertical pass: out = (((b0·(r0 >> 4)) >> 16) + ((b1·(r1 >> 4)) >> 16) + 2) >> 2.
public func resizeBilinear(_ image: RGBImage, width dstW: Int, height dstH: Int) -> RGBImage {
    precondition(dstW > 0 && dstH > 0)
    if dstW == image.width && dstH == image.height { return image }
    let xTaps = bilinearTaps(source: image.width, destination: dstW, clampAtBorders: true)
    let yTaps = bilinearTaps(source: image.height, destination: dstH, clampAtBorders: false)
    let srcW = image.width, srcH = image.height
    var out = [UInt8](repeating: 0, count: dstW * dstH * 3)
    image.pixels.withUnsafeBufferPointer { src in
        out.withUnsafeMutableBufferPointer { dst in
            // Horizontal passes of the two source rows a destination row needs; cached by source row.
            var rows = [[Int32]](repeating: [Int32](repeating: 0, count: dstW * 3), count: 2)
            var rowSource = [-1, -1]
            func horizontal(_ sy: Int, into slot: Int) {
                if rowSource[slot] == sy { return }
                rowSource[slot] = sy
                let line = src.baseAddress! + sy * srcW * 3
                rows[slot].withUnsafeMutableBufferPointer { r in
                    for dx in 0..<dstW {
                        let (sx, a0, a1) = xTaps[dx]
                        let p0 = line + sx * 3, p1 = line + min(sx + 1, srcW - 1) * 3
                        for c in 0..<3 { r[dx * 3 + c] = Int32(p0[c]) * a0 + Int32(p1[c]) * a1 }
                    }
                }
            }
            for dy in 0..<dstH {
                let (rawY, b0, b1) = yTaps[dy]
                let sy = min(max(rawY, 0), srcH - 1), sy1 = min(max(rawY + 1, 0), srcH - 1)
                // Keep slot 0 = row sy, slot 1 = row sy1, reusing a computed row when it shifts down.
                if rowSource[1] == sy && rowSource[0] != sy { rows.swapAt(0, 1); rowSource.swapAt(0, 1) }
                horizontal(sy, into: 0)
                horizontal(sy1, into: 1)
                let d = dst.baseAddress! + dy * dstW * 3
                rows[0].withUnsafeBufferPointer { r0 in
                    rows[1].withUnsafeBufferPointer { r1 in
                        for i in 0..<(dstW * 3) {
                            let v = ((b0 &* (r0[i] >> 4)) >> 16) &+ ((b1 &* (r1[i] >> 4)) >> 16) &+ 2
                            d[i] = UInt8(clamping: v >> 2)
                        }
                    }
                }
            }
        }
    }
    return RGBImage(width: dstW, height: dstH, pixels: out)
}

/// Per destination index: source index and the two 11-bit fixed-point weights (OpenCV INTER_LINEAR).
/// OpenCV clamps index and weight at the borders for columns only (`clampAtBorders`); for rows it keeps
/// them and clamps the row indices when reading.
func bilinearTaps(source: Int, destination: Int, clampAtBorders: Bool) -> [(Int, Int32, Int32)] {
    let scale = 1.0 / (Double(destination) / Double(source))
    return (0..<destination).map { d in
        var f = Float((Double(d) + 0.5) * scale - 0.5)
        var s = Int(f.rounded(.down))
        f -= Float(s)
        if clampAtBorders {
            if s < 0 { s = 0; f = 0 }
            if s >= source - 1 { s = source - 1; f = 0 }
        }
        let a0 = Int32(((1 - f) * 2048).rounded(.toNearestOrEven))
        let a1 = Int32((f * 2048).rounded(.toNearestOrEven))
        return (s, a0, a1)
    }
}
