import CQuantKernels

/// The scales that map float tensors to the integers `Int8GEMM` multiplies (the scheme of DESIGN.md's
/// quantization notes): weights int8 symmetric per output channel, activations uint8 per tensor with a zero point.
/// Rounding is to nearest, ties to even (as `torch.quantize_per_tensor` / `per_channel` round).

/// Weights W[rows × depth] (rows = output channels): s_i = max_k |W[i, k]| / 127, q = clamp(round(W / s_i), −127, 127),
/// W ≈ s_i · q with |W − s_i·q| ≤ s_i / 2. A row of zeros gets s_i = 1 (its values are all 0).
public struct PerChannelWeightQuantization: Sendable, Equatable {
    public let scales: [Float]

    public init(scales: [Float]) throws {
        guard let bad = scales.firstIndex(where: { !($0 > 0 && $0.isFinite) }) else { self.scales = scales; return }
        throw QuantizationError("weight scale \(bad) is \(scales[bad]); scales must be positive and finite")
    }

    /// The scales of `weights` (row-major, rows × depth).
    public init(weights: [Float], rows: Int, depth: Int) throws {
        precondition(rows >= 0 && depth >= 0 && weights.count == rows * depth, "weights hold \(weights.count) values, not \(rows) × \(depth)")
        var scales = [Float](repeating: 1, count: rows)
        for i in 0..<rows {
            var largest: Float = 0
            for v in weights[(i * depth)..<((i + 1) * depth)] {
                guard v.isFinite else { throw QuantizationError("weight row \(i) holds \(v); only finite weights can be quantized") }
                largest = max(largest, abs(v))
            }
            if largest > 0 { scales[i] = largest / 127 }
        }
        self.scales = scales
    }

    /// q[i, k] = clamp(round(W[i, k] / s_i), −127, 127).
    public func quantize(_ weights: [Float], depth: Int) -> [Int8] {
        precondition(weights.count == scales.count * depth, "weights hold \(weights.count) values, not \(scales.count) × \(depth)")
        var q = [Int8](repeating: 0, count: weights.count)
        for i in 0..<scales.count {
            let s = scales[i]
            for k in 0..<depth {
                let v = (weights[i * depth + k] / s).rounded(.toNearestOrEven)
                q[i * depth + k] = v.isNaN ? 0 : Int8(min(127, max(-127, v)))
            }
        }
        return q
    }

    /// W ≈ s_i · q[i, k].
    public func dequantize(_ values: [Int8], depth: Int) -> [Float] {
        precondition(values.count == scales.count * depth, "values hold \(values.count) entries, not \(scales.count) × \(depth)")
        var w = [Float](repeating: 0, count: values.count)
        for i in 0..<scales.count { for k in 0..<depth { w[i * depth + k] = scales[i] * Float(values[i * depth + k]) } }
        return w
    }
}

/// A tensor's activations: x ≈ s · (q − z) with q in 0…255. From a calibrated range [min, max], first widened to
/// hold 0 (so that 0 — zero padding, ReLU's floor — is exact: it is q = z): s = (max − min) / 255,
/// z = round(−min / s). Any x in [min, max] comes back within s / 2 (plus float rounding); values outside clamp.
public struct ActivationQuantization: Sendable, Equatable {
    public let scale: Float
    public let zeroPoint: UInt8

    public init(scale: Float, zeroPoint: UInt8) throws {
        guard scale > 0 && scale.isFinite else { throw QuantizationError("activation scale \(scale) must be positive and finite") }
        self.scale = scale
        self.zeroPoint = zeroPoint
    }

    /// From an observed (calibration) range; min == max == 0 gives s = 1, z = 0.
    public init(min: Float, max: Float) throws {
        guard min.isFinite && max.isFinite && min <= max else {
            throw QuantizationError("activation range [\(min), \(max)] must be finite with min ≤ max")
        }
        let low = Swift.min(min, 0), high = Swift.max(max, 0)
        let scale = high > low ? (high - low) / 255 : 1
        guard scale > 0 && scale.isFinite else { throw QuantizationError("activation range [\(min), \(max)] gives scale \(scale)") }
        let zero = (-low / scale).rounded(.toNearestOrEven)
        try self.init(scale: scale, zeroPoint: UInt8(Swift.min(255, Swift.max(0, zero))))
    }

    /// q = clamp(round(x / s) + z, 0, 255); NaN gives z (the value 0).
    @inline(__always)
    public func quantize(_ x: Float) -> UInt8 {
        let v = (x / scale).rounded(.toNearestOrEven) + Float(zeroPoint)
        if v.isNaN { return zeroPoint }
        return UInt8(Swift.min(255, Swift.max(0, v)))
    }

    /// q[i] = quantize(x[i]) (the same values): AVX-512 where the CPU has it (`cqk_quantize_u8`, the same division,
    /// rounding and clamping 16 at a time; ~0.3 ns a value), else the scalar definition in C.
    public func quantize(_ x: UnsafePointer<Float>, count: Int, into q: UnsafeMutablePointer<UInt8>,
                         vector: Bool = CPUFeatures.current.contains(.avx512bw)) {
        cqk_quantize_u8(x, Int64(count), scale, zeroPoint, vector ? 1 : 0, q)
    }

    /// s · (q − z).
    @inline(__always)
    public func dequantize(_ q: UInt8) -> Float { scale * (Float(q) - Float(zeroPoint)) }
}

/// Parameters that cannot quantize (a non-finite weight or range, a scale ≤ 0).
public struct QuantizationError: Error, CustomStringConvertible, Equatable, Sendable {
    public let description: String
    init(_ description: String) { self.description = description }
}
