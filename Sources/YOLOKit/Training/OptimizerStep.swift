/// BaseTrainer.optimizer_step, in its order: clip the gradients to total norm 10 (no AMP unscale on the CPU),
/// optimizer.step(), zero_grad(), then the EMA update from the stepped weights and the current buffers.
public enum OptimizerStep {
    /// Returns the total gradient norm before clipping. Throws, changing nothing, when `ema` was made from
    /// differently laid-out tensors.
    @discardableResult
    public static func run<Optimizer: ParameterOptimizer>(store: inout ParameterStore, optimizer: inout Optimizer, ema: inout ModelEMA,
                                                         maxNorm: Float = GradientClipping.ultralyticsMaxNorm) throws -> Float {
        guard ema.isLaidOut(like: store) else {
            throw OptimizerError("the EMA was made from a model with other tensors than the one being trained")
        }
        let norm = GradientClipping.clip(&store, maxNorm: maxNorm)
        optimizer.step(&store)
        store.zeroGradients()
        try ema.update(from: store)
        return norm
    }
}
