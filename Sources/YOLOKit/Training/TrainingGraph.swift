import Foundation

/// An Ultralytics detection model (YOLOv8, YOLO11) as an unfused training graph: Conv2d, BatchNorm (batch
/// statistics), activations, residual adds, concats, pooling, upsampling and attention as separate ops of a tape
/// (`TrainingGraphOp`), whose parameters live in a `ParameterStore` named as the checkpoint's state dict.
///
///     let (graph, store) = try TrainingGraph.make(from: model, freeze: 0)
///     let step = try graph.trainingStep(images, targets: targets, store: &store, gemm: OpenBLASGEMM(threads: 2))
///     // store's gradients now hold d(B·(box + cls + dfl))/dθ, its buffers the new running statistics
///
/// What is not trained: the DFL conv (frozen, as Ultralytics always freezes ".dfl"), the frozen top-level modules
/// (`freeze`: no gradients; their BatchNorms run in eval mode, as BaseTrainer._model_train sets them). YOLO26's
/// end-to-end head is refused: its loss (E2ELoss: one-to-many and one-to-one v8DetectionLoss, the latter with a
/// top-k of 7 then 1, on detached features, with a decaying weight) is not implemented.
public struct TrainingGraph: Sendable {
    public let classes: Int
    public let regMax: Int
    public let strides: [Int]
    /// Top-level modules frozen (Ultralytics `freeze`), ascending.
    public let frozenLayers: [Int]
    let ops: [TrainingGraphOp]
    let tensorCount: Int
    /// Per detection level, the tensors of the box branch [B, 4·regMax, H, W] and the class branch [B, nc, H, W].
    let heads: [(box: Int, classes: Int)]
    /// Whether a tensor's gradient is needed (it depends on a trainable parameter's op); the input's is not.
    let needsGradient: [Bool]
    /// The last op reading each tensor (ops.count for the head outputs, which the loss reads).
    let lastReader: [Int]
    /// Activation op → the training-mode BatchNorm op that made its input (see `activationOfBatchNorm`).
    let batchNormBeforeActivation: [Int: Int]

    /// The forward pass of one batch in training mode.
    public struct Forward: Sendable {
        /// The Detect head's raw outputs per level, what the loss reads.
        public let levels: [DetectionLevelOutputs]
        /// The BatchNorm running statistics after this forward (training-mode BatchNorms only), as
        /// (buffer index in the store, values): the caller stores them (`store(runningStatistics:in:)`).
        public let runningStatistics: [(buffer: Int, values: [Float])]
        /// Floats the contexts keep for the backward pass: what scales with N·H·W (kept inputs, x̂, argmax), what
        /// scales with N·(H·W)² (attention probabilities) and what does not scale (BatchNorm's 1/σ per channel).
        public let keptFloats: (linear: Int, quadratic: Int, fixed: Int)
        let contexts: [TrainingGraphOpContext]
        let batch: Int
    }

    /// One iteration's forward, loss and backward.
    public struct Step: Sendable {
        public let loss: DetectionLossResult
        public let forward: Forward
    }

    /// The whole iteration as BaseTrainer runs it: forward in training mode on `images` ([N, 3, H, W], letterboxed,
    /// 0…1; H and W multiples of the largest stride), the detection loss on `targets` (per image), backward of
    /// B·(box + cls + dfl) ADDED into the store's gradients, and the new running statistics written into the store.
    public func trainingStep(_ images: BatchTensor, targets: [[DetectionTarget]], store: inout ParameterStore,
                             loss: DetectionLoss? = nil, gemm: any GEMMBackend, threads: Int = 1) throws -> Step {
        let forward = try self.forward(images, store: store, gemm: gemm, threads: threads)
        let criterion = loss ?? DetectionLoss(classes: classes, regMax: regMax)
        let result = try criterion.compute(levels: forward.levels, targets: targets)
        try backward(forward, levelGradients: result.gradients, store: &store, gemm: gemm, threads: threads)
        try Self.store(runningStatistics: forward.runningStatistics, in: &store)
        return Step(loss: result, forward: forward)
    }

    /// Writes a forward's running statistics into the store's buffers.
    public static func store(runningStatistics: [(buffer: Int, values: [Float])], in store: inout ParameterStore) throws {
        for (index, values) in runningStatistics { try store.setValues(values, ofBufferAt: index) }
    }

    /// The forward pass in training mode; parameters and running statistics are read from `store`. `profile`, when
    /// given, receives each op's wall time.
    public func forward(_ images: BatchTensor, store: ParameterStore, gemm: any GEMMBackend, threads: Int = 1,
                        profile: TrainingOpProfile? = nil) throws -> Forward {
        guard images.channels == 3, images.batch > 0 else {
            throw TrainingGraphError("the batch must be [N, 3, H, W] with N ≥ 1, got \(images.shape)")
        }
        let largest = strides.max() ?? 1
        guard images.height > 0, images.width > 0, images.height % largest == 0, images.width % largest == 0 else {
            throw TrainingGraphError("the images are \(images.width)×\(images.height); both sides must be positive multiples of the largest stride \(largest)")
        }
        var values = [BatchTensor?](repeating: nil, count: tensorCount)
        values[0] = images
        var contexts = [TrainingGraphOpContext](repeating: .none, count: ops.count)
        var running: [(buffer: Int, values: [Float])] = []
        var keptTensors: [Int: Int] = [:]  // tensor → floats, for the tensors a context holds
        var linear = 0, quadratic = 0, fixed = 0
        func value(_ i: Int) -> BatchTensor { values[i]! }
        for (index, op) in ops.enumerated() {
            let opStart = profile == nil ? 0 : DispatchTime.now().uptimeNanoseconds
            switch op {
            case let .conv(conv, weight, bias, input, output):
                let (y, context) = conv.forward(value(input), weight: store.parameters[weight].values,
                                                bias: bias.map { store.parameters[$0].values }, gemm: gemm, threads: threads)
                values[output] = y
                contexts[index] = .conv(context)
                keptTensors[input] = values[input]!.count
            case let .batchNorm(bn, gamma, beta, mean, variance, training, input, output):
                let stats = BatchNorm2dTraining.RunningStatistics(mean: store.buffers[mean].values, variance: store.buffers[variance].values)
                let x = value(input)
                if training {
                    guard x.batch * x.planeSize > 1 else {
                        throw TrainingGraphError("a training-mode BatchNorm needs more than one value per channel; a \(x.height)×\(x.width) map with batch \(x.batch) has one (use a larger batch or image)")
                    }
                    let (y, updated, context) = bn.forwardTraining(x, gamma: store.parameters[gamma].values, beta: store.parameters[beta].values,
                                                                   running: stats, threads: threads)
                    values[output] = y
                    contexts[index] = .batchNorm(context)
                    running += [(mean, updated.mean), (variance, updated.variance)]
                    linear += context.normalized.count
                    fixed += context.inverseStd.count
                } else {
                    values[output] = bn.forwardEval(x, gamma: store.parameters[gamma].values, beta: store.parameters[beta].values, running: stats)
                    contexts[index] = .batchNormEval(stats)
                }
            case let .activation(activation, input, output):
                let (y, context) = activation.forward(value(input), threads: threads)
                values[output] = y
                if let batchNorm = batchNormBeforeActivation[index] {
                    contexts[index] = .activationOfBatchNorm(batchNorm)
                } else {
                    contexts[index] = .activation(context)
                    if context.input != nil { keptTensors[input] = values[input]!.count }
                }
            case let .add(a, b, output):
                values[output] = ResidualAdd.forward(value(a), value(b))
            case let .concat(parts, output):
                let tensors = parts.map(value)
                values[output] = ChannelConcat.forward(tensors)
                contexts[index] = .concat(tensors.map(\.channels))
            case let .slice(input, start, count, output):
                let x = value(input)
                values[output] = ChannelConcat.split(x, channels: [start, count, x.channels - start - count])[1]
                contexts[index] = .inputShape(batch: x.batch, channels: x.channels, height: x.height, width: x.width)
            case let .maxPool(pool, input, output):
                let (y, context) = pool.forward(value(input), threads: threads)
                values[output] = y
                contexts[index] = .maxPool(context)
                linear += context.argmax.count
            case let .upsample(upsample, input, output):
                values[output] = upsample.forward(value(input), threads: threads)
            case let .attention(core, qkv, output):
                let (y, context) = core.forward(value(qkv), gemm: gemm)
                values[output] = y
                contexts[index] = .attention(context)
                keptTensors[qkv] = values[qkv]!.count
                quadratic += context.attention.count
            case let .attentionValues(core, qkv, output):
                let x = value(qkv)
                values[output] = core.values(of: x)
                contexts[index] = .inputShape(batch: x.batch, channels: x.channels, height: x.height, width: x.width)
            }
            profile?.record(op, index: index, backward: false, since: opStart)
            // Inputs no later op reads are dropped (what a context keeps stays alive through the context).
            for input in op.inputs where lastReader[input] == index { values[input] = nil }
        }
        linear += keptTensors.values.reduce(0, +)
        let levels = heads.enumerated().map { level, head -> DetectionLevelOutputs in
            let box = value(head.box), cls = value(head.classes)
            return DetectionLevelOutputs(stride: strides[level], height: box.height, width: box.width,
                                         boxLogits: box.values, classLogits: cls.values)
        }
        return Forward(levels: levels, runningStatistics: running, keptFloats: (linear, quadratic, fixed), contexts: contexts,
                       batch: images.batch)
    }

    /// Backward from the loss's gradients w.r.t. the head outputs: every trainable parameter's gradient is ADDED
    /// into the store (frozen ones receive nothing).
    /// `profile`, when given, receives each op's wall time.
    public func backward(_ forward: Forward, levelGradients: [DetectionLevelGradients], store: inout ParameterStore,
                         gemm: any GEMMBackend, threads: Int = 1, profile: TrainingOpProfile? = nil) throws {
        guard levelGradients.count == heads.count, forward.contexts.count == ops.count else {
            throw TrainingGraphError("\(levelGradients.count) level gradients for a head of \(heads.count) levels (or a forward of another graph)")
        }
        var gradients = [BatchTensor?](repeating: nil, count: tensorCount)
        for (level, head) in heads.enumerated() {
            let box = forward.levels[level], n = forward.batch
            gradients[head.box] = BatchTensor(batch: n, channels: 4 * regMax, height: box.height, width: box.width,
                                              values: levelGradients[level].boxLogits)
            gradients[head.classes] = BatchTensor(batch: n, channels: classes, height: box.height, width: box.width,
                                                  values: levelGradients[level].classLogits)
        }
        func accumulate(_ g: BatchTensor, into tensor: Int) {
            guard needsGradient[tensor] else { return }
            if gradients[tensor] == nil { gradients[tensor] = g } else { ResidualAdd.accumulate(g, into: &gradients[tensor]!) }
        }
        func addParameterGradient(_ g: [Float], _ index: Int) throws {
            guard !store.parameters[index].isFrozen else { return }
            try store.accumulateGradient(g, intoParameterAt: index)
        }
        for index in ops.indices.reversed() {
            let op = ops[index]
            guard let dY = gradients[op.output] else { continue }
            gradients[op.output] = nil  // every consumer of this tensor comes later on the tape: its gradient is complete
            let opStart = profile == nil ? 0 : DispatchTime.now().uptimeNanoseconds
            defer { profile?.record(op, index: index, backward: true, since: opStart) }
            switch (op, forward.contexts[index]) {
            case let (.conv(conv, weight, bias, input, _), .conv(context)):
                let g = conv.backward(dY, context: context, weight: store.parameters[weight].values, gemm: gemm, threads: threads)
                try addParameterGradient(g.weight, weight)
                if let bias, let db = g.bias { try addParameterGradient(db, bias) }
                accumulate(g.input, into: input)
            case let (.batchNorm(bn, gamma, beta, _, _, _, input, _), .batchNorm(context)):
                let g = bn.backwardTraining(dY, context: context, gamma: store.parameters[gamma].values, threads: threads)
                try addParameterGradient(g.gamma, gamma)
                try addParameterGradient(g.beta, beta)
                accumulate(g.input, into: input)
            case let (.batchNorm(bn, gamma, _, _, _, _, input, _), .batchNormEval(stats)):
                if needsGradient[input] { accumulate(bn.backwardEval(dY, gamma: store.parameters[gamma].values, running: stats), into: input) }
            case let (.activation(activation, input, _), .activation(context)):
                accumulate(activation.backward(dY, context: context, threads: threads), into: input)
            case let (.activation(activation, input, _), .activationOfBatchNorm(batchNorm)):
                guard case let .batchNorm(_, gamma, beta, _, _, _, _, _) = ops[batchNorm], case let .batchNorm(context) = forward.contexts[batchNorm] else {
                    throw TrainingGraphError("op \(index): the BatchNorm before this activation kept no context")
                }
                accumulate(activation.backward(dY, normalizedInput: context.normalized, gamma: store.parameters[gamma].values,
                                               beta: store.parameters[beta].values, threads: threads), into: input)
            case let (.add(a, b, _), _):
                accumulate(dY, into: a)
                accumulate(dY, into: b)
            case let (.concat(parts, _), .concat(channels)):
                for (part, g) in zip(parts, ChannelConcat.backward(dY, channels: channels)) { accumulate(g, into: part) }
            case let (.slice(input, start, count, _), .inputShape(n, c, h, w)):
                guard needsGradient[input] else { continue }
                let zeros = { (channels: Int) in BatchTensor(zerosBatch: n, channels: channels, height: h, width: w) }
                accumulate(ChannelConcat.forward([zeros(start), dY, zeros(c - start - count)]), into: input)
            case let (.maxPool(pool, input, _), .maxPool(context)):
                accumulate(pool.backward(dY, context: context, threads: threads), into: input)
            case let (.upsample(upsample, input, _), _):
                accumulate(upsample.backward(dY, threads: threads), into: input)
            case let (.attention(core, qkv, _), .attention(context)):
                accumulate(core.backward(dY, context: context, gemm: gemm), into: qkv)
            case let (.attentionValues(core, qkv, _), .inputShape(n, c, h, w)):
                var dQKV = BatchTensor(zerosBatch: n, channels: c, height: h, width: w)
                core.addValueGradient(dY, into: &dQKV)
                accumulate(dQKV, into: qkv)
            default:
                throw TrainingGraphError("op \(index) has no matching forward context (a forward of another graph?)")
            }
        }
    }

    /// Floats the training forward keeps for a batch of `batch` images of `height`×`width`, extrapolated from a
    /// forward at a smaller size (every map scales with the image, exactly, since sizes are stride multiples): the
    /// linear part scales with N·H·W, attention's probabilities with N·(H·W)².
    public static func keptFloats(_ measured: Forward, measuredHeight: Int, measuredWidth: Int,
                                  batch: Int, height: Int, width: Int) -> Int {
        let area = Double(height * width) / Double(measuredHeight * measuredWidth)
        let images = Double(batch) / Double(measured.batch)
        let kept = measured.keptFloats
        return Int((Double(kept.linear) * images * area + Double(kept.quadratic) * images * area * area).rounded()) + kept.fixed
    }
}

/// A training graph that cannot be built or run, with the reason.
public struct TrainingGraphError: Error, CustomStringConvertible, Equatable {
    public let description: String
    init(_ description: String) { self.description = description }
}
