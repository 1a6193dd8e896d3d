/// The per-iteration warmup of BaseTrainer._do_train (ultralytics 8.4.190). For iteration ni = batch + nb·epoch
/// while 0 < ni ≤ nw (ni == nw lands on the targets exactly), each by np.interp(ni, [0, nw], [start, target]):
///   accumulate = max(1, round(interp(1 → acc0)))     (numpy round: ties to even)
///   lr of pg2 (biases) from warmup_bias_lr, of pg0 / pg1 from 0, to initial_lr · lf(epoch)
///   momentum (groups that have one: SGD, RMSprop) from warmup_momentum to the `momentum` setting
public struct Warmup: Equatable, Sendable {
    /// nw; 0 means no warmup.
    public let iterations: Int
    public let biasLearningRate: Double
    public let initialMomentum: Double
    /// The `momentum` setting (for optimizer=auto this is not the 0.9 the optimizer was built with).
    public let targetMomentum: Double
    /// acc0: the (capped) accumulate warmup ramps up to.
    public let nominalAccumulate: Int

    public init(iterations: Int, biasLearningRate: Double = 0.1, initialMomentum: Double = 0.8, targetMomentum: Double = 0.937,
                nominalAccumulate: Int) {
        self.iterations = iterations
        self.biasLearningRate = biasLearningRate
        self.initialMomentum = initialMomentum
        self.targetMomentum = targetMomentum
        self.nominalAccumulate = nominalAccumulate
    }

    /// nw = round(min(warmup_epochs, max(epochs − 1, 0)) · nb) when that is > 0, else 0 (Python round: ties to
    /// even): the final epoch always trains without warmup.
    public static func iterationCount(warmupEpochs: Double, epochs: Int, batchesPerEpoch: Int) -> Int {
        let epochsOfWarmup = min(warmupEpochs, Double(max(epochs - 1, 0)))
        return epochsOfWarmup > 0 ? Int((epochsOfWarmup * Double(batchesPerEpoch)).rounded(.toNearestOrEven)) : 0
    }

    public func isActive(atIteration ni: Int) -> Bool { iterations > 0 && ni <= iterations }

    public func accumulate(atIteration ni: Int) -> Int {
        max(1, Int(Self.interpolate(ni, over: iterations, from: 1, to: Double(nominalAccumulate)).rounded(.toNearestOrEven)))
    }

    /// The lr of `group` at ni, rising (falling, for biases) to `target` = initial_lr · lf(epoch).
    public func learningRate(atIteration ni: Int, group: ParameterGroup, target: Double) -> Double {
        Self.interpolate(ni, over: iterations, from: group == .biases ? biasLearningRate : 0, to: target)
    }

    public func momentum(atIteration ni: Int) -> Double {
        Self.interpolate(ni, over: iterations, from: initialMomentum, to: targetMomentum)
    }

    /// np.interp(x, [0, x1], [y0, y1]) in double as numpy computes it: y0 at or left of 0, y1 at or right of x1,
    /// else slope·x + y0 with slope = (y1 − y0) / x1.
    public static func interpolate(_ x: Int, over x1: Int, from y0: Double, to y1: Double) -> Double {
        if x >= x1 { return y1 }
        if x <= 0 { return y0 }
        let slope = (y1 - y0) / Double(x1)
        return slope * Double(x) + y0
    }
}
