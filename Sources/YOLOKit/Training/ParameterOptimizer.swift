/// The settings torch keeps per parameter group and Ultralytics' warmup rewrites every iteration.
public struct OptimizerGroupSettings: Equatable, Sendable {
    public var learningRate: Double
    /// SGD / RMSprop momentum. nil for the Adam family: their torch groups hold `betas`, no "momentum" key, so
    /// the warmup (`if "momentum" in x`) leaves beta1 alone.
    public var momentum: Double?
    public var weightDecay: Double

    public init(learningRate: Double, momentum: Double?, weightDecay: Double) {
        self.learningRate = learningRate; self.momentum = momentum; self.weightDecay = weightDecay
    }
}

/// A torch optimizer over a `ParameterStore`: per-group settings indexed by `ParameterGroup.rawValue`, state per
/// parameter index, one `step` that reads each trainable parameter's gradient and updates its values.
public protocol ParameterOptimizer: Sendable {
    /// pg0 decayed weights, pg1 normalization weights, pg2 biases (MuSGD: 8 groups, see `groupKinds`).
    var groups: [OptimizerGroupSettings] { get set }
    /// What each entry of `groups` is, for the warmup (biases start at warmup_bias_lr, the rest at 0); by default
    /// the three `ParameterGroup`s in order.
    var groupKinds: [ParameterGroup] { get }
    /// `optimizer.step()`; frozen parameters are skipped (torch skips parameters whose grad is None).
    mutating func step(_ store: inout ParameterStore)
    /// The buffers carried between steps (what `yolo train --resume` saves).
    var state: OptimizerState { get }
    /// Puts saved buffers back (same parameters, same optimizer).
    mutating func restore(_ state: OptimizerState) throws
}

extension ParameterOptimizer {
    public var groupKinds: [ParameterGroup] { ParameterGroup.allCases }

    /// `group`'s lr, momentum (0 when it has none) and weight decay, rounded to float32 as torch's kernels
    /// receive them.
    func floatSettings(for group: ParameterGroup) -> (learningRate: Float, momentum: Float, weightDecay: Float) {
        let settings = groups[group.rawValue]
        return (Float(settings.learningRate), Float(settings.momentum ?? 0), Float(settings.weightDecay))
    }
}

/// Three groups with the same learning rate and momentum; weight decay only on pg0 (build_optimizer's layout).
func ultralyticsGroups(learningRate: Double, momentum: Double?, weightDecay: Double) -> [OptimizerGroupSettings] {
    ParameterGroup.allCases.map {
        OptimizerGroupSettings(learningRate: learningRate, momentum: momentum, weightDecay: $0 == .decayedWeights ? weightDecay : 0)
    }
}
