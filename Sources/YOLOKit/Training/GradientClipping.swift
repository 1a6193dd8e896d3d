/// torch.nn.utils.clip_grad_norm_ (norm type 2) over every trainable gradient, as BaseTrainer.optimizer_step calls
/// it with max_norm 10. On the CPU there is no AMP, so nothing is unscaled first (the GradScaler is disabled).
public enum GradientClipping {
    /// Ultralytics' max_norm.
    public static let ultralyticsMaxNorm: Float = 10

    /// The total norm of all gradients: √(Σ‖gᵢ‖²) over the per-tensor float32 norms (torch's foreach path).
    /// Sums run in double, so each norm is the correctly rounded float32 value.
    public static func totalNorm(_ store: ParameterStore) -> Float {
        var sumOfSquares = 0.0
        for parameter in store.parameters where !parameter.isFrozen {
            let norm = Double(tensorNorm(parameter.gradient))
            sumOfSquares += norm * norm
        }
        return Float(sumOfSquares.squareRoot())
    }

    /// Scales every gradient by min(maxNorm / (total + 1e-6), 1) in float32 (torch: `max_norm / t` is
    /// `t.reciprocal() * max_norm`); returns the total norm before clipping.
    @discardableResult
    public static func clip(_ store: inout ParameterStore, maxNorm: Float = ultralyticsMaxNorm) -> Float {
        let total = totalNorm(store)
        let coefficient = min((1 / (total + Float(1e-6))) * maxNorm, 1)
        if coefficient < 1 {
            store.forEachTrainableGradient { g in
                for i in 0..<g.count { g[i] *= coefficient }
            }
        }
        return total
    }

    private static func tensorNorm(_ values: [Float]) -> Float {
        values.withUnsafeBufferPointer { v in
            var sum = 0.0
            for x in v { sum += Double(x) * Double(x) }
            return Float(sum.squareRoot())
        }
    }
}
