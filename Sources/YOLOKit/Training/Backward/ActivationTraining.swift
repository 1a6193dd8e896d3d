import Foundation

/// The activations of the Ultralytics detection models' convs, for training: SiLU (`nn.SiLU`, every `Conv`) and
/// identity (`act=False`: Attention's qkv / pe / proj, the Detect head's last 1×1 convs).
///   SiLU  y = x·σ(x),  dy/dx = σ(x)·(1 + x·(1 − σ(x))).
public enum ActivationTraining: String, Sendable, CaseIterable {
    case identity, silu

    /// Kept for the backward pass: SiLU's input (N·C·H·W floats); nothing for identity.
    public struct Context: Sendable {
        public let input: BatchTensor?
    }

    @inline(__always)
    static func sigmoid(_ x: Float) -> Float { 1 / (1 + exp(-x)) }

    public func forward(_ x: BatchTensor, threads: Int = 1) -> (output: BatchTensor, context: Context) {
        switch self {
        case .identity:
            return (x, Context(input: nil))
        case .silu:
            var y = x
            Self.map(count: x.count, threads: threads, x.values, into: &y.values) { v in v * Self.sigmoid(v) }
            return (y, Context(input: x))
        }
    }

    public func backward(_ dY: BatchTensor, context: Context, threads: Int = 1) -> BatchTensor {
        switch self {
        case .identity:
            return dY
        case .silu:
            guard let x = context.input else { preconditionFailure("ActivationTraining.silu: context without the forward's input") }
            precondition(dY.hasShape(of: x), "ActivationTraining: gradient of shape \(dY.shape), input was \(x.shape)")
            var dX = dY
            Self.zip(count: x.count, threads: threads, x.values, dY.values, into: &dX.values) { x, dy in
                let s = Self.sigmoid(x)
                return dy * s * (1 + x * (1 - s))
            }
            return dX
        }
    }

    /// out[i] = f(source[i]), split over the threads for large tensors.
    private static func map(count: Int, threads: Int, _ source: [Float], into out: inout [Float], _ f: (Float) -> Float) {
        guard count > 0 else { return }
        source.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                let (s, d) = (src.baseAddress!, dst.baseAddress!)
                parallelChunks(count, threads: count < 65_536 ? 1 : threads) { range in
                    for i in range { d[i] = f(s[i]) }
                }
            }
        }
    }

    /// out[i] = f(a[i], b[i]), split over the threads for large tensors.
    private static func zip(count: Int, threads: Int, _ a: [Float], _ b: [Float], into out: inout [Float], _ f: (Float, Float) -> Float) {
        guard count > 0 else { return }
        a.withUnsafeBufferPointer { aBuffer in
            b.withUnsafeBufferPointer { bBuffer in
                out.withUnsafeMutableBufferPointer { dst in
                    let (ap, bp, d) = (aBuffer.baseAddress!, bBuffer.baseAddress!, dst.baseAddress!)
                    parallelChunks(count, threads: count < 65_536 ? 1 : threads) { range in
                        for i in range { d[i] = f(ap[i], bp[i]) }
                    }
                }
            }
        }
    }
}
