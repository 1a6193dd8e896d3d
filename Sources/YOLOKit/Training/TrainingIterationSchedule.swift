/// The optimizer side of BaseTrainer._do_train's batch loop: which lr / momentum every group has for iteration
/// ni = batch + nb·epoch, how many batches accumulate, and whether the optimizer steps after this batch.
///
/// Outside warmup every group's lr is initial_lr · lf(epoch) (what LambdaLR sets at the epoch start; the
/// warmup's last iteration lands on that same value) and momentum stays as warmup left it (or as built, without
/// warmup). Inside warmup the `Warmup` ramps set lr, momentum and accumulate.
public struct TrainingIterationSchedule: Equatable, Sendable {
    public let learningRates: LearningRateSchedule
    public let warmup: Warmup
    /// torch's `initial_lr` per group: the lr each group was built with (one per entry of the optimizer's groups).
    public let initialLearningRates: [Double]
    public let batchesPerEpoch: Int
    /// Batches per optimizer step now: ramps 1 → acc0 during warmup.
    public private(set) var accumulate: Int
    /// ni of the last optimizer step; -1 before the first.
    public private(set) var lastOptimizerStep = -1

    public init(learningRates: LearningRateSchedule, warmup: Warmup, initialLearningRates: [Double], batchesPerEpoch: Int) throws {
        guard initialLearningRates.count >= ParameterGroup.allCases.count else {
            throw OptimizerError("at least \(ParameterGroup.allCases.count) initial learning rates needed (one per group), got \(initialLearningRates.count)")
        }
        guard batchesPerEpoch > 0 else { throw OptimizerError("an epoch needs at least one batch") }
        self.learningRates = learningRates
        self.warmup = warmup
        self.initialLearningRates = initialLearningRates
        self.batchesPerEpoch = batchesPerEpoch
        accumulate = warmup.nominalAccumulate
    }

    /// Before batch `batch` of `epoch`: sets the optimizer's group lrs (and momentum, in warmup) and
    /// `accumulate`. Returns ni.
    @discardableResult
    public mutating func prepare<Optimizer: ParameterOptimizer>(batch: Int, epoch: Int, optimizer: inout Optimizer) -> Int {
        let ni = batch + batchesPerEpoch * epoch
        let factor = learningRates.factor(epoch: epoch)
        let warm = warmup.isActive(atIteration: ni)
        if warm { accumulate = warmup.accumulate(atIteration: ni) }
        let kinds = optimizer.groupKinds
        precondition(kinds.count == initialLearningRates.count && optimizer.groups.count == kinds.count,
                     "TrainingIterationSchedule: \(initialLearningRates.count) initial lrs for an optimizer of \(optimizer.groups.count) groups")
        for (index, group) in kinds.enumerated() {
            let target = initialLearningRates[index] * factor
            optimizer.groups[index].learningRate = warm ? warmup.learningRate(atIteration: ni, group: group, target: target) : target
            if warm, optimizer.groups[index].momentum != nil {
                optimizer.groups[index].momentum = warmup.momentum(atIteration: ni)
            }
        }
        return ni
    }

    /// After iteration ni's backward: whether the optimizer steps now (`ni − last_opt_step ≥ accumulate`);
    /// a step is recorded when it does.
    public mutating func shouldStep(atIteration ni: Int) -> Bool {
        guard ni - lastOptimizerStep >= accumulate else { return false }
        lastOptimizerStep = ni
        return true
    }

    /// Back to "no step yet" (the trainer's OOM and NaN restarts set last_opt_step = -1).
    public mutating func restartStepCadence() { lastOptimizerStep = -1 }
}
