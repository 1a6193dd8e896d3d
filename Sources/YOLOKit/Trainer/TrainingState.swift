import Foundation

/// What `--resume` continues from, written atomically after every epoch to `weights/last.resume.safetensors`: the
/// model's current values (parameters and BatchNorm statistics), the gradients accumulated since the last optimizer
/// step (an epoch may end between two steps when batches accumulate), the EMA (values and update count), the optimizer's
/// per-parameter state (SGD / RMSprop momentum buffers, Adam moments and step counts), the early-stopping and best
/// fitness, the epochs done and a fingerprint of the settings. The learning-rate / warmup schedule is a function of
/// the iteration, replayed on resume; the random numbers are drawn from generators keyed by (seed, epoch, image), so
/// there is no generator state to keep. A run resumed from epoch k therefore computes what the uninterrupted run
/// computes from epoch k on, bit for bit.
struct TrainingState {
    static let formatTag = "swiftyolo.train-state/1"

    var epochsDone: Int
    var fingerprint: String
    var parameters: [[Float]]
    var buffers: [[Float]]
    /// Per parameter the gradient not yet stepped (empty for frozen parameters or when all zero).
    var gradients: [[Float]]
    var emaParameters: [[Float]]
    var emaBuffers: [[Float]]
    var emaUpdates: Int
    /// Optimizer slot name ("momentum", "exp_avg", …) → per parameter index its state (empty: not stepped yet).
    var optimizerSlots: [String: [[Float]]]
    var optimizerSteps: [Int]
    var bestFitness: Double?
    /// EarlyStopping's best fitness and epoch.
    var stopperBest: (fitness: Double, epoch: Int)
    var elapsedSeconds: Double

    /// The state of a run after `epochsDone` epochs.
    init(epochsDone: Int, fingerprint: String, store: ParameterStore, optimization: TrainingOptimization, bestFitness: Double?,
         stopperBest: (fitness: Double, epoch: Int), elapsedSeconds: Double) {
        self.epochsDone = epochsDone
        self.fingerprint = fingerprint
        parameters = store.parameters.map(\.values)
        buffers = store.buffers.map(\.values)
        gradients = store.parameters.map { $0.gradient.contains { $0 != 0 } ? $0.gradient : [] }
        emaParameters = optimization.ema.parameterValues
        emaBuffers = optimization.ema.bufferValues
        emaUpdates = optimization.ema.updates
        let state = optimization.optimizer.state
        optimizerSlots = state.slots
        optimizerSteps = state.steps
        self.bestFitness = bestFitness
        self.stopperBest = stopperBest
        self.elapsedSeconds = elapsedSeconds
    }

    /// Puts the state back into a freshly set-up run (same settings): the store's values, the EMA, the optimizer, and
    /// the schedule replayed through the epochs done.
    func restore(into store: inout ParameterStore, optimization: inout TrainingOptimization, batchesPerEpoch: Int) throws {
        guard parameters.count == store.parameters.count, buffers.count == store.buffers.count else {
            throw TrainingError("the saved state holds \(parameters.count) parameters and \(buffers.count) buffers, the model \(store.parameters.count) and \(store.buffers.count)")
        }
        for (i, v) in parameters.enumerated() { try store.setValues(v, ofParameterAt: i) }
        for (i, v) in buffers.enumerated() { try store.setValues(v, ofBufferAt: i) }
        guard gradients.count == store.parameters.count else { throw TrainingError("the saved state has \(gradients.count) gradients for \(store.parameters.count) parameters") }
        store.zeroGradients()
        for (i, g) in gradients.enumerated() where !g.isEmpty { try store.accumulateGradient(g, intoParameterAt: i) }  // 0 + g = g exactly
        var averaged = store
        for (i, v) in emaParameters.enumerated() { try averaged.setValues(v, ofParameterAt: i) }
        for (i, v) in emaBuffers.enumerated() { try averaged.setValues(v, ofBufferAt: i) }
        optimization.ema = ModelEMA(copying: averaged, decay: optimization.ema.maximumDecay, tau: optimization.ema.tau, updates: emaUpdates)
        do { try optimization.optimizer.restore(OptimizerState(slots: optimizerSlots, steps: optimizerSteps)) } catch let error as OptimizerError {
            throw TrainingError(error.reason)
        }
        for epoch in 0..<epochsDone {
            for batch in 0..<batchesPerEpoch {
                let ni = optimization.beginIteration(batch: batch, epoch: epoch)
                _ = optimization.schedule.shouldStep(atIteration: ni)
            }
        }
    }

    // MARK: - File

    func write(to path: String, sync: Bool = true) throws {
        var tensors: [WeightTensor] = []
        func add(_ prefix: String, _ arrays: [[Float]]) {
            for (i, v) in arrays.enumerated() where !v.isEmpty { tensors.append(WeightTensor(name: "\(prefix).\(i)", shape: [v.count], floats: v)) }
        }
        add("model.parameter", parameters); add("model.buffer", buffers); add("model.gradient", gradients)
        add("ema.parameter", emaParameters); add("ema.buffer", emaBuffers)
        for (name, arrays) in optimizerSlots { add("optimizer.\(name)", arrays) }
        let header: [String: Any] = [
            "epochs_done": epochsDone, "fingerprint": fingerprint, "ema_updates": emaUpdates, "optimizer_steps": optimizerSteps,
            "optimizer_slots": optimizerSlots.keys.sorted(), "best_fitness": bestFitness.map { "\($0)" } ?? "none",
            "stopper_best_fitness": "\(stopperBest.fitness)", "stopper_best_epoch": stopperBest.epoch,
            "counts": [parameters.count, buffers.count], "elapsed_seconds": "\(elapsedSeconds)",
        ]
        let json = String(decoding: try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys]), as: UTF8.self)
        try SafetensorsWriter.write(tensors, metadata: ["format": Self.formatTag, "state": json], to: path, sync: sync)
    }

    static func read(from path: String) throws -> TrainingState {
        let file = try SafetensorsFile(path: path)
        func fail(_ reason: String) -> TrainingError { TrainingError("\(path): \(reason)") }
        guard file.metadata["format"] == formatTag, let text = file.metadata["state"],
              let header = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
            throw fail("not a training state written by yolo train")
        }
        guard let epochs = header["epochs_done"] as? Int, let fingerprint = header["fingerprint"] as? String, let updates = header["ema_updates"] as? Int,
              let steps = header["optimizer_steps"] as? [Int], let slotNames = header["optimizer_slots"] as? [String],
              let counts = header["counts"] as? [Int], counts.count == 2, let bestText = header["best_fitness"] as? String,
              let stopperFitness = Double(header["stopper_best_fitness"] as? String ?? ""), let stopperEpoch = header["stopper_best_epoch"] as? Int,
              let elapsed = Double(header["elapsed_seconds"] as? String ?? "") else {
            throw fail("the training state's header is incomplete")
        }
        func arrays(_ prefix: String, _ count: Int) throws -> [[Float]] {
            try (0..<count).map { i in file.entry(named: "\(prefix).\(i)") == nil ? [] : try file.floats(named: "\(prefix).\(i)") }
        }
        var state = TrainingState(epochsDone: epochs, fingerprint: fingerprint, parameters: try arrays("model.parameter", counts[0]),
                                  buffers: try arrays("model.buffer", counts[1]), gradients: try arrays("model.gradient", counts[0]), emaParameters: try arrays("ema.parameter", counts[0]),
                                  emaBuffers: try arrays("ema.buffer", counts[1]), emaUpdates: updates, optimizerSlots: [:], optimizerSteps: steps,
                                  bestFitness: Double(bestText), stopperBest: (stopperFitness, stopperEpoch), elapsedSeconds: elapsed)
        for name in slotNames { state.optimizerSlots[name] = try arrays("optimizer.\(name)", counts[0]) }
        return state
    }

    private init(epochsDone: Int, fingerprint: String, parameters: [[Float]], buffers: [[Float]], gradients: [[Float]], emaParameters: [[Float]], emaBuffers: [[Float]],
                 emaUpdates: Int, optimizerSlots: [String: [[Float]]], optimizerSteps: [Int], bestFitness: Double?, stopperBest: (fitness: Double, epoch: Int),
                 elapsedSeconds: Double) {
        self.epochsDone = epochsDone; self.fingerprint = fingerprint; self.parameters = parameters; self.buffers = buffers; self.gradients = gradients
        self.emaParameters = emaParameters; self.emaBuffers = emaBuffers; self.emaUpdates = emaUpdates
        self.optimizerSlots = optimizerSlots; self.optimizerSteps = optimizerSteps; self.bestFitness = bestFitness
        self.stopperBest = stopperBest; self.elapsedSeconds = elapsedSeconds
    }
}
