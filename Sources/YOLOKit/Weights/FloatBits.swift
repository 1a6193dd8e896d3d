/// Float32 ⇄ IEEE binary16 (F16) and bfloat16 (BF16) bit patterns, without relying on `Float16` (missing on
/// some platforms). Narrowing rounds to nearest, ties to even, as PyTorch's scalar conversions do (c10 `Half`,
/// `BFloat16::round_to_nearest_even`): infinities stay infinite, finite values past the range become infinite,
/// NaN stays NaN (as the quiet NaN torch writes: F16 `sign | 0x7E00`, BF16 `0x7FC0`). Widening is exact.
public enum FloatBits {
    /// Float32 → binary16 bits (1 sign, 5 exponent, 10 mantissa bits).
    public static func float16(_ x: Float) -> UInt16 {
        let bits = x.bitPattern
        let sign = UInt16(truncatingIfNeeded: (bits >> 16) & 0x8000)
        let magnitude = bits & 0x7FFF_FFFF
        if magnitude > 0x7F80_0000 { return sign | 0x7E00 }          // NaN
        if magnitude >= 0x477F_F000 { return sign | 0x7C00 }         // ≥ 65520 (half-way past 65504) or ∞
        if magnitude < 0x3880_0000 {                                 // below 2^-14: subnormal half (or zero)
            // Units of 2^-24; the scaling by 2^24 is exact, `rounded` gives ties-to-even. 1024 (= 2^-14) is
            // the smallest normal half's bit pattern, so rounding up across the boundary encodes correctly.
            let units = (Float(bitPattern: magnitude) * 16_777_216).rounded(.toNearestOrEven)
            return sign | UInt16(units)
        }
        // Normal: rebias the exponent (127 → 15), keep 10 of 23 mantissa bits, round on the 13 dropped ones
        // (a carry into the exponent is the right result; 65520 and up were handled above).
        let exponent = (magnitude >> 23) - 112
        let mantissa = magnitude & 0x7F_FFFF
        var half = (exponent << 10) | (mantissa >> 13)
        let dropped = mantissa & 0x1FFF
        if dropped > 0x1000 || (dropped == 0x1000 && half & 1 == 1) { half += 1 }
        return sign | UInt16(truncatingIfNeeded: half)
    }

    /// binary16 bits → Float32 (exact: subnormals, infinities and NaN payloads included).
    public static func float(fromFloat16 h: UInt16) -> Float { halfToFloat(h) }

    /// Float32 → bfloat16 bits (the upper 16 bits of the Float32, rounded to nearest even).
    public static func bfloat16(_ x: Float) -> UInt16 {
        if x.isNaN { return 0x7FC0 }
        let bits = x.bitPattern
        let bias = ((bits >> 16) & 1) + 0x7FFF
        return UInt16(truncatingIfNeeded: (bits &+ bias) >> 16)
    }

    /// bfloat16 bits → Float32 (exact).
    public static func float(fromBFloat16 b: UInt16) -> Float { Float(bitPattern: UInt32(b) << 16) }
}
