/// Ultralytics' `RandomHSV`: gains r = U(−1, 1)³ × (hsv_h, hsv_s, hsv_v), then per pixel in OpenCV's 8-bit HSV
/// (H in 0…179, S and V in 0…255) the lookup tables hue = (x + r₀·180) mod 180, sat = clip(x·(1 + r₁)) with
/// sat(0) = 0, val = clip(x·(1 + r₂)), and back to RGB. The RGB ⇄ HSV conversions follow OpenCV's formulas in
/// float with rounding (not its fixed-point tables: a value may differ by one unit).
public struct HSVAugmentation: Sendable {
    public var hue: Double = 0.015
    public var saturation: Double = 0.7
    public var value: Double = 0.4

    public init(hue: Double = 0.015, saturation: Double = 0.7, value: Double = 0.4) {
        self.hue = hue; self.saturation = saturation; self.value = value
    }

    public func apply(_ image: inout RGBImage, random: inout SplitMix64) {
        guard hue != 0 || saturation != 0 || value != 0 else { return }
        let r = (random.uniform(-1.0, 1.0) * hue, random.uniform(-1.0, 1.0) * saturation, random.uniform(-1.0, 1.0) * value)
        var lutH = [UInt8](repeating: 0, count: 256), lutS = lutH, lutV = lutH
        for x in 0..<256 {
            let h = (Double(x) + r.0 * 180).truncatingRemainder(dividingBy: 180)
            lutH[x] = UInt8(truncatingIfNeeded: Int(h < 0 ? h + 180 : h))  // numpy % is non-negative; astype(uint8) truncates
            lutS[x] = UInt8(min(max(Double(x) * (r.1 + 1), 0), 255))
            lutV[x] = UInt8(min(max(Double(x) * (r.2 + 1), 0), 255))
        }
        lutS[0] = 0
        image.pixels.withUnsafeMutableBufferPointer { px in
            for i in stride(from: 0, to: px.count, by: 3) {
                let (h, s, v) = Self.hsv(px[i], px[i + 1], px[i + 2])
                let (r, g, b) = Self.rgb(h: lutH[Int(h)], s: lutS[Int(s)], v: lutV[Int(v)])
                px[i] = r; px[i + 1] = g; px[i + 2] = b
            }
        }
    }

    /// OpenCV RGB → HSV (8-bit): V = max, S = 255·(V − min)/V, H = 60°·… / 2.
    static func hsv(_ r: UInt8, _ g: UInt8, _ b: UInt8) -> (UInt8, UInt8, UInt8) {
        let rf = Float(r), gf = Float(g), bf = Float(b)
        let v = max(rf, gf, bf), mn = min(rf, gf, bf), diff = v - mn
        let s: Float = v == 0 ? 0 : 255 * diff / v
        var h: Float = 0
        if diff > 0 {
            if v == rf { h = 60 * (gf - bf) / diff } else if v == gf { h = 120 + 60 * (bf - rf) / diff } else { h = 240 + 60 * (rf - gf) / diff }
            if h < 0 { h += 360 }
        }
        let h8 = Int((h / 2).rounded()) % 180
        return (UInt8(h8), UInt8(min(s.rounded(), 255)), UInt8(v))
    }

    /// OpenCV HSV (8-bit, H in 0…179) → RGB.
    static func rgb(h: UInt8, s: UInt8, v: UInt8) -> (UInt8, UInt8, UInt8) {
        let value = Float(v) / 255, sat = Float(s) / 255
        var hue = Float(h) * 2 / 60  // sectors of 60°
        if hue >= 6 { hue -= 6 }
        let sector = Int(hue), f = hue - Float(sector)
        let p = value * (1 - sat), q = value * (1 - sat * f), t = value * (1 - sat * (1 - f))
        let (r, g, b): (Float, Float, Float)
        switch sector {
        case 0: (r, g, b) = (value, t, p)
        case 1: (r, g, b) = (q, value, p)
        case 2: (r, g, b) = (p, value, t)
        case 3: (r, g, b) = (p, q, value)
        case 4: (r, g, b) = (t, p, value)
        default: (r, g, b) = (value, p, q)
        }
        func byte(_ x: Float) -> UInt8 { UInt8(min(max((x * 255).rounded(), 0), 255)) }
        return (byte(r), byte(g), byte(b))
    }
}
