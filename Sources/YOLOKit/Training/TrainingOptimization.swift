/// The optimizer-related training settings (the names of Ultralytics' cfg/default.yaml, its values as defaults).
public struct OptimizerSettings: Equatable, Sendable {
    /// "auto", "SGD", "MuSGD", "Adam", "AdamW", "RMSprop" (any case); Adamax, NAdam and RAdam are not implemented.
    public var optimizer = "auto"
    public var lr0 = 0.01
    public var lrf = 0.01
    public var momentum = 0.937
    public var weightDecay = 0.0005
    public var warmupEpochs = 3.0
    public var warmupMomentum = 0.8
    public var warmupBiasLR = 0.1
    public var nominalBatchSize = 64
    public var cosineLR = false

    public init() {}
}

/// Everything on the optimizer side of one training run, assembled as BaseTrainer does it
/// (_build_train_pipeline, build_optimizer, _setup_scheduler, _setup_train's ModelEMA, _do_train's warmup):
///
///     var optimization = try TrainingOptimization(settings: s, store: store, batchSize: 16, batchesPerEpoch: nb,
///                                                 epochs: 100, imageCount: n, classCount: nc)
///     for epoch in 0..<100 { for batch in 0..<nb {
///         let ni = optimization.beginIteration(batch: batch, epoch: epoch)
///         … forward (updating store.buffers), backward (accumulating into store's gradients) …
///         try optimization.endIteration(ni, store: &store)
///     } }
public struct TrainingOptimization: Sendable {
    public let choice: OptimizerChoice
    public let accumulation: BatchAccumulation
    public var optimizer: any ParameterOptimizer
    public var schedule: TrainingIterationSchedule
    public var ema: ModelEMA

    /// `imageCount` feeds the auto rule's iteration count; `classCount` nil stands for a dataset without "nc"
    /// (Ultralytics then uses 10). The EMA starts as a copy of `store`.
    public init(settings: OptimizerSettings, store: ParameterStore, batchSize: Int, batchesPerEpoch: Int, epochs: Int,
                imageCount: Int, classCount: Int?) throws {
        guard epochs > 0, batchesPerEpoch > 0 else { throw OptimizerError("epochs (\(epochs)) and batches per epoch (\(batchesPerEpoch)) must be positive") }
        accumulation = try BatchAccumulation(batchSize: batchSize, weightDecay: settings.weightDecay, nominalBatchSize: settings.nominalBatchSize,
                                             batchesPerEpoch: batchesPerEpoch, epochs: epochs)
        let iterations = OptimizerChoice.autoIterations(imageCount: imageCount, batchSize: batchSize,
                                                        nominalBatchSize: settings.nominalBatchSize, epochs: epochs)
        choice = OptimizerChoice.resolve(try OptimizerRequest(parsing: settings.optimizer), learningRate: settings.lr0,
                                         momentum: settings.momentum, warmupBiasLearningRate: settings.warmupBiasLR,
                                         classCount: classCount, iterations: iterations)
        optimizer = try choice.makeOptimizer(weightDecay: accumulation.scaledWeightDecay, store: store)
        let warmup = Warmup(iterations: Warmup.iterationCount(warmupEpochs: settings.warmupEpochs, epochs: epochs, batchesPerEpoch: batchesPerEpoch),
                            biasLearningRate: choice.warmupBiasLearningRate, initialMomentum: settings.warmupMomentum,
                            targetMomentum: settings.momentum, nominalAccumulate: accumulation.accumulate)
        schedule = try TrainingIterationSchedule(
            learningRates: try LearningRateSchedule(curve: settings.cosineLR ? .cosine : .linear, epochs: epochs, finalFraction: settings.lrf),
            warmup: warmup, initialLearningRates: optimizer.groups.map(\.learningRate), batchesPerEpoch: batchesPerEpoch)
        ema = ModelEMA(copying: store)
    }

    /// Before batch `batch` of `epoch`: the group lrs / momentum / accumulate for it. Returns ni.
    @discardableResult
    public mutating func beginIteration(batch: Int, epoch: Int) -> Int {
        schedule.prepare(batch: batch, epoch: epoch, optimizer: &optimizer)
    }

    /// After iteration ni's backward: steps (clip, step, zero_grad, EMA) when the cadence says so; returns the
    /// gradient norm before clipping then, nil when the gradients keep accumulating.
    @discardableResult
    public mutating func endIteration(_ ni: Int, store: inout ParameterStore) throws -> Float? {
        guard schedule.shouldStep(atIteration: ni) else { return nil }
        return try OptimizerStep.run(store: &store, optimizer: &optimizer, ema: &ema)
    }
}
