import Foundation

/// What a finished run leaves.
public struct TrainingSummary: Sendable {
    public var saveDirectory: String
    public var lastWeights: String
    public var bestWeights: String
    public var results: [EpochResult]
    public var bestEpoch: Int
    public var stoppedEarly: Bool
    /// Images of the training split left out (unreadable image or label).
    public var skippedImages: Int
    public var seconds: Double
}

/// `yolo train`: Ultralytics' BaseTrainer / DetectionTrainer on the CPU (ultralytics 8.4.190).
///
/// Setup: the dataset yaml and its train / val images (each image and label checked first; a bad one is reported
/// and left out); the source model's weights, its Detect head rebuilt for the dataset's classes when they differ
/// (`DetectHeadReinitialization`); the training graph with `freeze`; the optimizer, schedule, warmup and EMA
/// (`TrainingOptimization`). Each epoch: the batches (`TrainingBatchLoader`: shuffled, augmented, mosaic until the
/// last close_mosaic epochs), forward + loss + backward (`TrainingGraph.trainingStep`), an optimizer step whenever the
/// accumulation says so; then the EMA weights are validated by `Validator` (yolo val's code, at imgsz, from memory),
/// written atomically to `weights/last.safetensors` (+ `.pt`) with the best fitness so far (0.1·mAP50 + 0.9·mAP50-95),
/// `best` made a hard link of those files when this epoch's fitness is that best, the row appended to results.csv,
/// and early stopping checked (patience).
public final class Trainer {
    public let settings: TrainingSettings
    private let emit: (TrainingEvent) -> Void
    private let cancelLock = NSLock()
    private var cancelRequested = false

    public init(settings: TrainingSettings, events: @escaping (TrainingEvent) -> Void) {
        self.settings = settings
        self.emit = events
    }

    /// Asks the run to stop after the batch it is on (Ctrl-C): `run` then throws, and `--resume` continues from the
    /// last finished epoch. Safe to call from any thread.
    public func cancel() {
        cancelLock.lock(); cancelRequested = true; cancelLock.unlock()
    }

    private var isCancelled: Bool {
        cancelLock.lock(); defer { cancelLock.unlock() }
        return cancelRequested
    }

    public func run() throws -> TrainingSummary {
        try settings.check()
        let start = DispatchTime.now()
        let stride = 32
        let imageSize = (settings.imageSize + stride - 1) / stride * stride
        if imageSize != settings.imageSize { emit(.warning("imgsz=\(settings.imageSize) must be a multiple of the max stride \(stride), updating to \(imageSize)")) }

        // Dataset.
        let config = try DatasetConfig.load(path: settings.data)
        let trainList = try config.images(for: .train)
        for file in trainList.unsupported { emit(.warning("\(file): image format not supported (ignored)")) }
        let checked = TrainingSampleList.check(files: trainList.files, classCount: config.names.count)
        for w in checked.warnings { emit(.warning(w)) }
        for p in checked.problems { emit(.warning(p)) }
        guard !checked.samples.isEmpty else { throw TrainingError("\(settings.data): no usable training images (\(trainList.files.count) found, all left out)") }
        let valImages = try validationImages(config)
        emit(.info("train: \(checked.samples.count) images, \(checked.samples.reduce(0) { $0 + $1.labels.count }) instances, \(checked.problems.count) left out; val: \(valImages.count) images; \(config.names.count) classes"))

        // Model.
        let modelPath = FileManager.default.fileExists(atPath: settings.model) ? settings.model : try ModelRegistry.resolve(settings.model)
        guard ["pt", "safetensors"].contains((modelPath as NSString).pathExtension.lowercased()) else {
            throw TrainingError("\(modelPath): only Ultralytics models (.pt checkpoints or their .safetensors exports) can be trained")
        }
        let source = try UltralyticsModel(path: modelPath)
        var initial = try DetectHeadReinitialization.apply(tensors: try source.stateDict().tensors,
                                                           metadata: try source.exportMetadata(dtype: .float32, imageSize: imageSize),
                                                           sourceNames: source.names, names: config.names, strides: source.strides, seed: settings.seed)
        if !initial.reinitialized.isEmpty {
            emit(.info("Overriding model classes: nc=\(source.names.count) → nc=\(config.names.count); the class convs are new (\(initial.reinitialized.count) tensors), \(initial.remappedClasses) classes keep their rows by name"))
        }
        initial.metadata["source"] = (modelPath as NSString).lastPathComponent

        // Folders and the starting weights (loaded back: the graph is built from the file's module tree).
        let folder = settings.saveDirectory
        let weightsFolder = (folder as NSString).appendingPathComponent("weights")
        try FileManager.default.createDirectory(atPath: weightsFolder, withIntermediateDirectories: true)
        let lastPath = (weightsFolder as NSString).appendingPathComponent("last.safetensors")
        let bestPath = (weightsFolder as NSString).appendingPathComponent("best.safetensors")
        let startPath = (weightsFolder as NSString).appendingPathComponent("start.safetensors")
        let template = TrainedWeights(tensors: initial.tensors, metadata: initial.metadata)
        try SafetensorsWriter.write(template.tensors, metadata: template.metadata, to: startPath)
        let startModel = try UltralyticsModel(path: startPath)
        let made = try TrainingGraph.make(from: startModel, freeze: settings.freeze)
        let graph = made.graph
        var store = made.store
        try? FileManager.default.removeItem(atPath: startPath)
        let trainable = store.parameters.filter { !$0.isFrozen }.count
        emit(.info("Transferred \(store.parameters.count + store.buffers.count - initial.reinitialized.count)/\(store.parameters.count + store.buffers.count) float tensors from \(modelPath); \(trainable)/\(store.parameters.count) parameters trainable (freeze=\(settings.freeze))"))

        // Optimizer side.
        let loader = TrainingBatchLoader(samples: checked.samples, augmentation: TrainingAugmentation(settings: settings.augmentation, imageSize: imageSize),
                                         workers: settings.workers, seed: settings.seed, cacheImages: settings.cacheImages)
        let batchesPerEpoch = (checked.samples.count + settings.batch - 1) / settings.batch
        var optimization = try TrainingOptimization(settings: settings.optimizer, store: store, batchSize: settings.batch, batchesPerEpoch: batchesPerEpoch,
                                                    epochs: settings.epochs, imageCount: checked.samples.count, classCount: config.names.count)
        let choice = optimization.choice
        emit(.info("optimizer: \(choice.kind.rawValue)(lr=\(choice.learningRate), momentum=\(choice.momentum)) with parameter groups \(ParameterGroup.allCases.map { g in store.parameters.filter { $0.group == g && !$0.isFrozen }.count }.map(String.init).joined(separator: "/")) (weights decayed / norm weights / biases), weight_decay=\(optimization.accumulation.scaledWeightDecay), accumulate=\(optimization.accumulation.accumulate)"))
        let criterion = DetectionLoss(classes: graph.classes, regMax: graph.regMax, hyperparameters: settings.loss)
        let execution = ExecutionOptions(threads: settings.threads)
        let gemm = execution.gemm

        var results: [EpochResult] = []
        var stopper = EarlyStopping(patience: settings.patience)
        var bestFitness: Double?
        var stoppedEarly = false
        let csvPath = (folder as NSString).appendingPathComponent("results.csv")
        let writer = try AtomicFileWriter(temporaryFolder: folder)
        let trainArguments = self.trainArguments(imageSize: imageSize)
        let statePath = (weightsFolder as NSString).appendingPathComponent("last.resume.safetensors")
        let fingerprint = try Self.fingerprint(trainArguments + [("val", ["bool", settings.validate ? 1 : 0])])
        var firstEpoch = 0, elapsedBefore = 0.0
        if settings.resume {
            guard FileManager.default.fileExists(atPath: statePath) else {
                throw TrainingError("\(statePath): no training state to resume (run without --resume first, or give the run's --save-dir)")
            }
            let state = try TrainingState.read(from: statePath)
            guard state.fingerprint == fingerprint else {
                throw TrainingError("\(statePath): the settings differ from the interrupted run's; resume with the same model, data and hyperparameters")
            }
            guard state.epochsDone < settings.epochs else { throw TrainingError("\(folder): all \(settings.epochs) epochs are done; nothing to resume") }
            try state.restore(into: &store, optimization: &optimization, batchesPerEpoch: batchesPerEpoch)
            firstEpoch = state.epochsDone
            bestFitness = state.bestFitness
            stopper = EarlyStopping(patience: settings.patience, bestFitness: state.stopperBest.fitness, bestEpoch: state.stopperBest.epoch)
            elapsedBefore = state.elapsedSeconds
            let text = (try? String(contentsOfFile: csvPath, encoding: .utf8)) ?? ""
            results = (TrainingResultsFile.parse(text) ?? []).filter { $0.epoch <= firstEpoch }
            guard results.count == firstEpoch else { throw TrainingError("\(csvPath): holds \(results.count) of the \(firstEpoch) epochs done; cannot resume") }
            emit(.info("Resuming training from epoch \(firstEpoch + 1) of \(settings.epochs) (\(statePath))"))
        }
        let elapsed = { elapsedBefore + elapsedSeconds(since: start) }

        for epoch in firstEpoch..<settings.epochs {
            let mosaicAllowed = epoch < settings.epochs - settings.closeMosaic
            if epoch == settings.epochs - settings.closeMosaic && settings.augmentation.mosaic > 0 { emit(.info("Closing dataloader mosaic")) }
            let batches = loader.batches(epoch: epoch, batchSize: settings.batch)
            var running = (box: 0.0, cls: 0.0, dfl: 0.0), counted = 0
            var next: TrainingBatchLoader.PendingBatch? = loader.prefetch(batches[0], epoch: epoch, mosaicAllowed: mosaicAllowed)
            for i in batches.indices {
                let batch = next!.wait()
                next = i + 1 < batches.count ? loader.prefetch(batches[i + 1], epoch: epoch, mosaicAllowed: mosaicAllowed) : nil
                for failure in batch.failures { emit(.warning("\(failure) (left out of the batch)")) }
                let ni = optimization.beginIteration(batch: i, epoch: epoch)
                if batch.images.batch > 0 {
                    let step = try graph.trainingStep(batch.images, targets: batch.targets, store: &store, loss: criterion, gemm: gemm, threads: settings.threads)
                    let l = step.loss
                    guard l.boxLoss.isFinite, l.classLoss.isFinite, l.dflLoss.isFinite else {
                        throw TrainingError("epoch \(epoch + 1), batch \(i + 1): the loss is not finite (box \(l.boxLoss), cls \(l.classLoss), dfl \(l.dflLoss)); try a lower lr0")
                    }
                    // Ultralytics' tloss: the running mean over the epoch's batches.
                    let n = Double(counted)
                    running = ((running.box * n + Double(l.boxLoss)) / (n + 1), (running.cls * n + Double(l.classLoss)) / (n + 1), (running.dfl * n + Double(l.dflLoss)) / (n + 1))
                    counted += 1
                }
                try optimization.endIteration(ni, store: &store)
                if isCancelled {
                    throw TrainingError("stopped in epoch \(epoch + 1) of \(settings.epochs) (batch \(i + 1)); \(epoch) epochs are saved in \(folder): continue with --resume")
                }
                emit(.batch(.init(epoch: epoch + 1, epochs: settings.epochs, batch: i + 1, batches: batches.count, box: running.box, cls: running.cls,
                                  dfl: running.dfl, instances: batch.instances, imageSize: imageSize, seconds: elapsed(),
                                  residentBytes: ResidentMemory.current())))
            }
            let learningRates = optimization.optimizer.groups.map(\.learningRate)

            // Validate the EMA weights (from memory), then write them as last, and as best when the fitness is the best
            // so far: both carry that best fitness (as Ultralytics' last.pt and best.pt), so best is last's files linked.
            let final = epoch + 1 == settings.epochs
            var values: [String: [Float]] = [:]
            for (i, p) in store.parameters.enumerated() { values[p.name] = optimization.ema.parameterValues[i] }
            for (i, b) in store.buffers.enumerated() { values[b.name] = optimization.ema.bufferValues[i] }
            var row = EpochResult(epoch: epoch + 1, time: elapsed(), trainLoss: running, precision: 0, recall: 0, mAP50: 0, mAP50_95: 0,
                                  valLoss: (0, 0, 0), learningRates: learningRates)
            var fitness = -(running.box + running.cls + running.dfl)  // Ultralytics' fitness without validation
            let weights = try template.filled(with: values, epoch: epoch + 1, bestFitness: bestFitness, trainArguments: trainArguments)
            if settings.validate || final {
                let file = try SafetensorsFile(bytes: try SafetensorsWriter.serialize(weights.tensors, metadata: weights.metadata, path: lastPath), path: lastPath)
                let model = try UltralyticsDetectionModel(path: lastPath, imageSize: imageSize, options: execution, file: file)
                let report = Validator.run(Detector(model: model, execution: execution), images: valImages)
                for failure in report.failures { emit(.warning("\(failure.path): \(failure.reason) (left out of validation)")) }
                emit(.validation(report))
                row.precision = report.metrics.precision; row.recall = report.metrics.recall
                row.mAP50 = report.metrics.mAP50; row.mAP50_95 = report.metrics.mAP50_95
                let valLoss = try ValidationLoss.compute(model: model.model, images: valImages, imageSize: imageSize, gemm: gemm, threads: settings.threads,
                                                         hyperparameters: settings.loss)
                row.valLoss = (valLoss.box, valLoss.cls, valLoss.dfl)
                fitness = row.fitness
            }
            let isBest = bestFitness.map { $0 < fitness } ?? true
            if isBest { bestFitness = fitness }
            // No fsync per epoch (0.25–0.35 s of a ~9 s epoch here); the rename keeps each file whole if the run is
            // killed, and the files are synced once the run ends.
            // The values are filled already; this only puts the best fitness into the metadata.
            try weights.filled(with: [:], epoch: epoch + 1, bestFitness: bestFitness, trainArguments: trainArguments)
                .write(to: lastPath, sync: false)
            if isBest { try TrainedWeights.link(lastPath, as: bestPath) }
            row.time = elapsed()
            results.append(row)
            try writer.write(TrainingResultsFile.text(results), to: csvPath)
            emit(.epoch(row, isBest: isBest))
            let stop = stopper.update(epoch: epoch + 1, fitness: fitness)
            try TrainingState(epochsDone: epoch + 1, fingerprint: fingerprint, store: store, optimization: optimization, bestFitness: bestFitness,
                              stopperBest: (stopper.bestFitness, stopper.bestEpoch), elapsedSeconds: elapsed()).write(to: statePath, sync: false)
            if stop && !final {
                emit(.info("EarlyStopping: no improvement in the last \(settings.patience) epochs; best epoch \(stopper.bestEpoch), saved as best"))
                stoppedEarly = true
                break
            }
        }
        // The epochs' files were renamed into place without an fsync; sync them once.
        for path in [lastPath, bestPath] where FileManager.default.fileExists(atPath: path) { try TrainedWeights.sync(path) }
        try AtomicOutputFile.sync(statePath)
        if settings.plots {
            do {
                for (name, image) in TrainingPlots.render(results) {
                    try writer.write(try ImageEncoder.pngData(image), to: (folder as NSString).appendingPathComponent(name))
                }
            } catch {
                emit(.warning("plots not written: \(error)"))
            }
        }
        let bestEpoch = results.firstIndex { $0.fitness == results.map(\.fitness).max() }.map { results[$0].epoch } ?? 0
        return TrainingSummary(saveDirectory: folder, lastWeights: lastPath, bestWeights: bestPath, results: results, bestEpoch: bestEpoch,
                               stoppedEarly: stoppedEarly, skippedImages: checked.problems.count, seconds: elapsed())
    }

    /// The settings a resumed run must share with the interrupted one, as text.
    static func fingerprint(_ arguments: [(String, [Any])]) throws -> String {
        String(decoding: try JSONSerialization.data(withJSONObject: arguments.map { [$0.0, $0.1] as [Any] }, options: []), as: UTF8.self)
    }

    /// The val split's images with their labels; a malformed label file is reported and its image left out.
    func validationImages(_ config: DatasetConfig) throws -> [ValidationImage] {
        let list = try config.images(for: .val)
        for file in list.unsupported { emit(.warning("\(file): image format not supported (left out of validation)")) }
        var images: [ValidationImage] = []
        for file in list.files {
            do {
                let labels = try LabelFile.read(imagePath: file, classCount: config.names.count)
                images.append(ValidationImage(path: file, truth: .normalized(labels.labels)))
            } catch {
                emit(.warning("\(error) (left out of validation)"))
            }
        }
        guard !images.isEmpty else { throw TrainingError("\(config.yamlPath): no usable validation images") }
        return images
    }

    /// The train_args kept in the saved weights (typed as the module tree codec types values).
    func trainArguments(imageSize: Int) -> [(String, [Any])] {
        let s = settings, o = s.optimizer, a = s.augmentation
        return [("task", ["str", "detect"]), ("mode", ["str", "train"]), ("model", ["str", s.model]), ("data", ["str", s.data]),
                ("epochs", ["int", s.epochs]), ("imgsz", ["int", imageSize]), ("batch", ["int", s.batch]), ("freeze", ["int", s.freeze]),
                ("optimizer", ["str", o.optimizer]), ("lr0", ["float", "\(o.lr0)"]), ("lrf", ["float", "\(o.lrf)"]),
                ("momentum", ["float", "\(o.momentum)"]), ("weight_decay", ["float", "\(o.weightDecay)"]),
                ("warmup_epochs", ["float", "\(o.warmupEpochs)"]), ("patience", ["int", s.patience]), ("seed", ["int", Int(truncatingIfNeeded: s.seed)]),
                ("mosaic", ["float", "\(a.mosaic)"]), ("close_mosaic", ["int", s.closeMosaic]), ("fliplr", ["float", "\(a.fliplr)"]),
                ("scale", ["float", "\(a.scale)"]), ("translate", ["float", "\(a.translate)"]),
                ("hsv_h", ["float", "\(a.hsvH)"]), ("hsv_s", ["float", "\(a.hsvS)"]), ("hsv_v", ["float", "\(a.hsvV)"])]
    }
}

private func elapsedSeconds(since start: DispatchTime) -> Double {
    Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
}

/// The process's resident memory (Linux: /proc/self/statm), 0 where unknown.
enum ResidentMemory {
    static func current() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }
}
