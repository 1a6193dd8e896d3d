/// EXIF orientation (tag 0x0112): how the stored pixels must be transformed to be displayed upright.
/// Applying it gives what `PIL.ImageOps.exif_transpose` and OpenCV's `imread` (by default) return.
public enum ImageOrientation: Int, Sendable, CaseIterable {
    case up = 1             // as stored
    case mirrored = 2       // mirror horizontally (flip left-right)
    case down = 3           // rotate 180
    case downMirrored = 4   // mirror vertically (flip top-bottom)
    case transposed = 5     // transpose (mirror across the main diagonal)
    case right = 6          // rotate 90 degrees clockwise
    case transversed = 7    // transverse (mirror across the anti-diagonal)
    case left = 8           // rotate 90 degrees counter-clockwise

    /// Whether the result has width and height swapped.
    public var swapsAxes: Bool { rawValue >= 5 }
}

extension RGBImage {
    /// The upright image for an EXIF orientation value; values outside 1...8 leave the image unchanged.
    public func applyingEXIFOrientation(_ orientation: Int) -> RGBImage {
        guard let o = ImageOrientation(rawValue: orientation) else { return self }
        return applyingOrientation(o)
    }

    /// The image transformed as the EXIF orientation `o` prescribes.
    public func applyingOrientation(_ o: ImageOrientation) -> RGBImage {
        if o == .up { return self }
        let w = width, h = height
        let outW = o.swapsAxes ? h : w, outH = o.swapsAxes ? w : h
        // Output pixel (x, y) reads source pixel index base + x * dx + y * dy (in pixels).
        let (base, dx, dy): (Int, Int, Int)
        switch o {
        case .up: (base, dx, dy) = (0, 1, w)
        case .mirrored: (base, dx, dy) = (w - 1, -1, w)                   // src(w-1-x, y)
        case .down: (base, dx, dy) = ((h - 1) * w + w - 1, -1, -w)        // src(w-1-x, h-1-y)
        case .downMirrored: (base, dx, dy) = ((h - 1) * w, 1, -w)         // src(x, h-1-y)
        case .transposed: (base, dx, dy) = (0, w, 1)                      // src(y, x)
        case .right: (base, dx, dy) = ((h - 1) * w, -w, 1)                // src(y, h-1-x)
        case .transversed: (base, dx, dy) = ((h - 1) * w + w - 1, -w, -1) // src(w-1-y, h-1-x)
        case .left: (base, dx, dy) = (w - 1, w, -1)                       // src(w-1-y, x)
        }
        var out = [UInt8](repeating: 0, count: outW * outH * 3)
        let tile = 64  // blocked so that 90-degree rotations of large images stay cache friendly
        pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                let s = src.baseAddress!, d = dst.baseAddress!
                var ty = 0
                while ty < outH {
                    let yEnd = min(ty + tile, outH)
                    var tx = 0
                    while tx < outW {
                        let xEnd = min(tx + tile, outW)
                        for y in ty..<yEnd {
                            var si = base + tx * dx + y * dy
                            var di = (y * outW + tx) * 3
                            for _ in tx..<xEnd {
                                d[di] = s[si * 3]
                                d[di + 1] = s[si * 3 + 1]
                                d[di + 2] = s[si * 3 + 2]
                                si += dx
                                di += 3
                            }
                        }
                        tx = xEnd
                    }
                    ty = yEnd
                }
            }
        }
        return RGBImage(width: outW, height: outH, pixels: out)
    }
}
