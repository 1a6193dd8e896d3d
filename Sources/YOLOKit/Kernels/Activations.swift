import Foundation

/// Point-wise activations, applied in place after a conv's bias add.
public enum Activation: String, Sendable, CaseIterable {
    case linear, leaky, relu, logistic, mish, swish

    @inline(__always)
    static func sigmoid(_ x: Float) -> Float { 1 / (1 + exp(-x)) }

    @inline(__always)
    func apply(_ x: Float) -> Float {
        switch self {
        case .linear: return x
        case .leaky: return x > 0 ? x : 0.1 * x
        case .relu: return max(x, 0)
        case .logistic: return Activation.sigmoid(x)
        case .swish: return x * Activation.sigmoid(x)
        case .mish:
            // x · tanh(softplus(x)); softplus thresholded like Darknet/OpenCV for large |x|.
            let sp: Float = x > 20 ? x : (x < -20 ? exp(x) : log1p(exp(x)))
            return x * tanh(sp)
        }
    }

    /// out[c, i] = act(data[c, i] + bias[c]) over a [channels, plane] block, in place.
    func applyWithBias(_ data: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>?, channels: Int, plane: Int, threads: Int) {
        parallelChunks(channels, threads: threads) { range in
            for c in range {
                let row = data + c * plane
                let b = bias?[c] ?? 0
                switch self {
                case .linear:
                    if b != 0 { for i in 0..<plane { row[i] += b } }
                case .leaky:
                    for i in 0..<plane { let v = row[i] + b; row[i] = v > 0 ? v : 0.1 * v }
                case .relu:
                    for i in 0..<plane { row[i] = max(row[i] + b, 0) }
                default:
                    for i in 0..<plane { row[i] = apply(row[i] + b) }
                }
            }
        }
    }
}
