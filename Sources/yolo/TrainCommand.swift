import ArgumentParser
import Foundation
import YOLOKit

/// `yolo train`: fine-tune an Ultralytics model on an Ultralytics-format dataset (Trainer), printing as Ultralytics'
/// trainer prints: a line per batch with the running losses, the validation table after each epoch.
struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Fine-tune an Ultralytics model (.pt or exported .safetensors) on a dataset yaml, as Ultralytics' `yolo train` does.",
        discussion: """
        Hyperparameters have Ultralytics' names and defaults (underscores or hyphens: --weight_decay or --weight-decay). \
        When the dataset's classes differ from the model's, the Detect head's class convs are rebuilt for them and \
        everything else is transferred. Each epoch validates the EMA weights (yolo val's code) and writes \
        SAVE_DIR/results.csv and SAVE_DIR/weights/{last,best}.safetensors (+ state-dict .pt), atomically; \
        best by fitness 0.1·mAP50 + 0.9·mAP50-95. Images or labels that cannot be read are reported and left out. \
        Exit status: 0 when every image was used, 1 when some were left out, 2 for a bad model, dataset or usage.
        """
    )

    @Option(help: "Source weights: a model name (see `yolo models`), an Ultralytics .pt checkpoint, or an exported .safetensors.")
    var model: String

    @Option(help: "Dataset yaml (Ultralytics format: path, train, val, names).")
    var data: String

    @Option(help: "Epochs to train.") var epochs: Int = 100
    @Option(help: "Training image size (square; rounded up to a multiple of 32).") var imgsz: Int = 640
    @Option(help: "Images per batch.") var batch: Int = 16
    @Option(help: "Freeze the first N modules of the model.") var freeze: Int = 0
    @Option(help: "auto, SGD, AdamW, Adam or RMSprop (auto: AdamW with lr fitted to the class count up to 10000 iterations).") var optimizer: String = "auto"
    @Option(help: "Initial learning rate (ignored by --optimizer auto).") var lr0: Double = 0.01
    @Option(help: "Final learning rate as a fraction of lr0.") var lrf: Double = 0.01
    @Option(help: "SGD momentum / Adam beta1 (ignored by --optimizer auto).") var momentum: Double = 0.937
    @Option(name: [.customLong("weight-decay"), .customLong("weight_decay")], help: "Weight decay (scaled by batch × accumulate / nbs).") var weightDecay: Double = 0.0005
    @Option(name: [.customLong("warmup-epochs"), .customLong("warmup_epochs")], help: "Warmup epochs (fractions allowed).") var warmupEpochs: Double = 3
    @Option(name: [.customLong("warmup-momentum"), .customLong("warmup_momentum")], help: "Momentum at the start of warmup.") var warmupMomentum: Double = 0.8
    @Option(name: [.customLong("warmup-bias-lr"), .customLong("warmup_bias_lr")], help: "Bias lr at the start of warmup.") var warmupBiasLR: Double = 0.1
    @Option(help: "Nominal batch size (gradients accumulate to about this many images).") var nbs: Int = 64
    @Flag(name: [.customLong("cos-lr"), .customLong("cos_lr")], help: "Cosine lr decay instead of linear.") var cosLR = false
    @Option(help: "Box loss gain.") var box: Double = 7.5
    @Option(help: "Class loss gain.") var cls: Double = 0.5
    @Option(help: "DFL loss gain.") var dfl: Double = 1.5
    @Option(name: [.customLong("hsv-h"), .customLong("hsv_h")], help: "Hue augmentation (fraction).") var hsvH: Double = 0.015
    @Option(name: [.customLong("hsv-s"), .customLong("hsv_s")], help: "Saturation augmentation (fraction).") var hsvS: Double = 0.7
    @Option(name: [.customLong("hsv-v"), .customLong("hsv_v")], help: "Value augmentation (fraction).") var hsvV: Double = 0.4
    @Option(help: "Rotation range (± degrees).") var degrees: Double = 0
    @Option(help: "Translation range (± fraction).") var translate: Double = 0.1
    @Option(help: "Scale range (± gain).") var scale: Double = 0.5
    @Option(help: "Shear range (± degrees).") var shear: Double = 0
    @Option(help: "Left-right flip probability.") var fliplr: Double = 0.5
    @Option(help: "Mosaic probability.") var mosaic: Double = 1.0
    @Option(name: [.customLong("close-mosaic"), .customLong("close_mosaic")], help: "Train the last N epochs without mosaic.") var closeMosaic: Int = 10
    @Option(help: "Stop after this many epochs without a better fitness.") var patience: Int = 100
    @Option(help: "Seed of every random choice (shuffling, augmentation, the new head's weights).") var seed: UInt64 = 0
    @Option(help: "Threads decoding and augmenting images (0: on the training thread).") var workers: Int = 8
    @Option(help: "Threads of the forward / backward pass (default: all cores).") var threads: Int?
    @Option(name: .customLong("save-dir"), help: "Run folder (default runs/detect/train, then train2, …).") var saveDir: String?
    @Flag(help: "Continue the run in --save-dir (default: the latest runs/detect/train*) from its last finished epoch, with the same settings.") var resume = false
    @Flag(help: "Keep the decoded, resized training images in memory (Ultralytics' cache=ram).") var cache = false
    @Flag(inversion: .prefixedNo, help: "Validate after every epoch (the last epoch is always validated).") var val = true
    @Flag(inversion: .prefixedNo, help: "Write the loss and metric curves (PNG) at the end.") var plots = true

    func settings() -> TrainingSettings {
        var s = TrainingSettings(model: model, data: data)
        s.epochs = epochs; s.imageSize = imgsz; s.batch = batch; s.freeze = freeze; s.patience = patience; s.seed = seed
        s.workers = workers; s.threads = threads ?? ProcessInfo.processInfo.activeProcessorCount; s.closeMosaic = closeMosaic
        s.cacheImages = cache; s.validate = val; s.plots = plots
        s.saveDirectory = RunFolder.choose(explicit: saveDir, resume: resume, name: "train")
        s.resume = resume
        s.optimizer.optimizer = optimizer; s.optimizer.lr0 = lr0; s.optimizer.lrf = lrf; s.optimizer.momentum = momentum
        s.optimizer.weightDecay = weightDecay; s.optimizer.warmupEpochs = warmupEpochs; s.optimizer.warmupMomentum = warmupMomentum
        s.optimizer.warmupBiasLR = warmupBiasLR; s.optimizer.nominalBatchSize = nbs; s.optimizer.cosineLR = cosLR
        s.augmentation.hsvH = hsvH; s.augmentation.hsvS = hsvS; s.augmentation.hsvV = hsvV; s.augmentation.degrees = degrees
        s.augmentation.translate = translate; s.augmentation.scale = scale; s.augmentation.shear = shear
        s.augmentation.fliplr = fliplr; s.augmentation.mosaic = mosaic
        s.loss = DetectionLossHyperparameters(box: box, cls: cls, dfl: dfl)
        return s
    }

    func validate() throws {
        if let threads, threads <= 0 { throw ValidationError("--threads must be positive (got \(threads))") }
        do { try settings().check() } catch { throw ValidationError("\(error)") }
    }

    func run() throws {
        let settings = settings()
        let interactive = isatty(1) != 0
        var lastEpochHeader = 0
        let trainer = Trainer(settings: settings) { event in
            switch event {
            case .info(let text): print(text)
            case .warning(let text): printError("warning: \(text)")
            case .batch(let b):
                if b.epoch != lastEpochHeader {
                    lastEpochHeader = b.epoch
                    print("\n" + ["Epoch", "Mem", "box_loss", "cls_loss", "dfl_loss", "Instances", "Size"].map { Self.pad($0) }.joined())
                }
                let line = Self.pad("\(b.epoch)/\(b.epochs)") + Self.pad(String(format: "%.3gG", Double(b.residentBytes) / 1e9))
                    + [b.box, b.cls, b.dfl].map { Self.pad(String(format: "%.4g", $0)) }.joined()
                    + Self.pad("\(b.instances)") + Self.pad("\(b.imageSize)") + String(format: ": %3d%% %d/%d %.1fs", 100 * b.batch / b.batches, b.batch, b.batches, b.seconds)
                if interactive {
                    print("\r" + line, terminator: b.batch == b.batches ? "\n" : "")
                    fflush(stdout)
                } else {
                    print(line)
                }
            case .validation(let report):
                print(ValidationTable.text(report, model: "validation (EMA weights)", cocoStats: nil))
            case .epoch(let row, let isBest):
                print(String(format: "epoch %d: fitness %.4f%@", row.epoch, row.fitness, isBest ? " (best so far)" : ""))
            }
            fflush(stdout)
        }
        // Ctrl-C: stop after the current batch; the epochs done stay saved for --resume.
        signal(SIGINT, SIG_IGN)
        let interrupt = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
        var interrupted = false
        interrupt.setEventHandler {
            interrupted = true
            printError("\ninterrupt: stopping after this batch (again to quit now)")
            trainer.cancel()
            signal(SIGINT, SIG_DFL)
        }
        interrupt.resume()
        let summary: TrainingSummary
        do {
            summary = try trainer.run()
        } catch {
            if interrupted {
                printError("\(error)")
                throw ExitCode(130)
            }
            printError("error: \(error)")
            throw ExitCode(2)
        }
        print(String(format: "\n%d epochs completed in %.3f hours%@.", summary.results.count, summary.seconds / 3600, summary.stoppedEarly ? " (stopped early)" : ""))
        print("Results saved to \(summary.saveDirectory): best epoch \(summary.bestEpoch), weights \(summary.bestWeights) and \(summary.lastWeights)")
        if summary.skippedImages > 0 { throw ExitCode(1) }
    }

    static func pad(_ s: String) -> String { s.count >= 11 ? s : String(repeating: " ", count: 11 - s.count) + s }
}
