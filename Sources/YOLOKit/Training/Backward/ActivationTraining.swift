import CQuantKernels
import Foundation

/// The activations of the Ultralytics detection models' convs, for training: SiLU (`nn.SiLU`, every `Conv`) and
/// identity (`act=False`: Attention's qkv / pe / proj, the Detect head's last 1×1 convs).
///   SiLU  y = x·σ(x),  dy/dx = σ(x)·(1 + x·(1 − σ(x))).
/// σ = 1 / (1 + expf(−x)) with the C library's expf bits, not `VectorMath.exp` (1 ulp away): the tiny random
/// checkpoints' goldens (yolo11-tiny with frozen layers) move past their 1e-3 tolerance on that ulp. The loops are
/// `cqk_silu_*` (CQuantKernels/silu_kernels.c: AVX-512 with glibc's expf algorithm, the same bits as the scalar
/// definitions here). Split over threads above 16384 values.
public enum ActivationTraining: String, Sendable, CaseIterable {
    case identity, silu

    /// Kept for the backward pass: SiLU's input (N·C·H·W floats); nothing for identity.
    public struct Context: Sendable {
        public let input: BatchTensor?
    }

    /// Tensors below this many values run on one thread.
    static let parallelThreshold = 16_384

    public func forward(_ x: BatchTensor, threads: Int = 1) -> (output: BatchTensor, context: Context) {
        switch self {
        case .identity:
            return (x, Context(input: nil))
        case .silu:
            var y = BatchTensor(uninitializedLike: x)
            x.values.withUnsafeBufferPointer { xs in
                y.values.withUnsafeMutableBufferPointer { ys in
                    let (s, d) = (xs.baseAddress!, ys.baseAddress!)
                    parallelChunks((x.count + 15) / 16, threads: x.count < Self.parallelThreshold ? 1 : threads) { blocks in
                        let start = blocks.lowerBound * 16, end = min(x.count, blocks.upperBound * 16)
                        cqk_silu_forward(s + start, d + start, Int64(end - start))
                    }
                }
            }
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
            var dX = BatchTensor(uninitializedLike: dY)
            x.values.withUnsafeBufferPointer { xs in
                dY.values.withUnsafeBufferPointer { dys in
                    dX.values.withUnsafeMutableBufferPointer { dxs in
                        let (xp, dyp, d) = (xs.baseAddress!, dys.baseAddress!, dxs.baseAddress!)
                        parallelChunks((x.count + 15) / 16, threads: x.count < Self.parallelThreshold ? 1 : threads) { blocks in
                            let start = blocks.lowerBound * 16, end = min(x.count, blocks.upperBound * 16)
                            cqk_silu_backward(xp + start, dyp + start, d + start, Int64(end - start))
                        }
                    }
                }
            }
            return dX
        }
    }

    /// Backward when the input was a training-mode BatchNorm's output y = γ·x̂ + β: the input is rebuilt per
    /// element from x̂ (the BatchNorm's context) with the forward's float operations, nothing else is kept.
    public func backward(_ dY: BatchTensor, normalizedInput normalized: BatchTensor, gamma: [Float], beta: [Float],
                         threads: Int = 1) -> BatchTensor {
        precondition(dY.hasShape(of: normalized), "ActivationTraining: gradient of shape \(dY.shape), input was \(normalized.shape)")
        precondition(gamma.count == normalized.channels && beta.count == normalized.channels, "ActivationTraining: γ/β for another BatchNorm")
        guard self == .silu else { return dY }
        var dX = BatchTensor(zerosLike: dY)
        let plane = normalized.planeSize, channels = normalized.channels
        normalized.values.withUnsafeBufferPointer { hs in
            dY.values.withUnsafeBufferPointer { dys in
                dX.values.withUnsafeMutableBufferPointer { dxs in
                    let (hp, dyp, dp) = (hs.baseAddress!, dys.baseAddress!, dxs.baseAddress!)
                    parallelChunks(normalized.batch * channels, threads: normalized.count < Self.parallelThreshold ? 1 : threads) { planes in
                        for index in planes {
                            let (g, b) = (gamma[index % channels], beta[index % channels])
                            let (h, dy, d) = (hp + index * plane, dyp + index * plane, dp + index * plane)
                            cqk_silu_backward_affine(h, g, b, dy, d, Int64(plane))
                        }
                    }
                }
            }
        }
        return dX
    }
}
