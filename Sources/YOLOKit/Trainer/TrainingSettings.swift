import Foundation

/// Everything a `yolo train` run is told, by Ultralytics' names (cfg/default.yaml) with its defaults.
public struct TrainingSettings: Sendable {
    /// The source weights (`--model`: a registered name, a .pt checkpoint, an exported .safetensors).
    public var model: String
    /// The dataset yaml (`--data`).
    public var data: String
    public var epochs = 100
    public var imageSize = 640
    public var batch = 16
    /// Freeze the first N top-level modules.
    public var freeze = 0
    public var patience = 100
    public var seed: UInt64 = 0
    /// Threads decoding and augmenting images (Ultralytics' `workers`); 0 decodes on the training thread.
    public var workers = 8
    /// Threads of the forward / backward GEMMs and layers.
    public var threads = ProcessInfo.processInfo.activeProcessorCount
    public var saveDirectory = "runs/detect/train"
    /// close_mosaic: the last epochs train without mosaic.
    public var closeMosaic = 10
    /// Keep decoded, resized images in memory (Ultralytics' cache=ram).
    public var cacheImages = false
    /// Validate every epoch (val); the last epoch is always validated.
    public var validate = true
    /// Continue the run in `saveDirectory` from its last finished epoch (same settings).
    public var resume = false
    /// Write the loss / metric plots at the end.
    public var plots = true
    public var optimizer = OptimizerSettings()
    public var augmentation = AugmentationSettings()
    public var loss = DetectionLossHyperparameters.ultralyticsDefaults

    public init(model: String, data: String) {
        self.model = model
        self.data = data
    }

    /// Checks the values a user gives; the message names the setting.
    public func check() throws {
        func fail(_ text: String) -> TrainingError { TrainingError(text) }
        guard epochs > 0 else { throw fail("epochs must be positive (got \(epochs))") }
        guard imageSize >= 32 else { throw fail("imgsz must be at least 32 (got \(imageSize))") }
        guard batch > 0 else { throw fail("batch must be positive (got \(batch))") }
        guard freeze >= 0 else { throw fail("freeze must be 0 or more (got \(freeze))") }
        guard patience > 0 else { throw fail("patience must be positive (got \(patience))") }
        guard workers >= 0 else { throw fail("workers must be 0 or more (got \(workers))") }
        guard threads > 0 else { throw fail("threads must be positive (got \(threads))") }
        guard closeMosaic >= 0 else { throw fail("close_mosaic must be 0 or more (got \(closeMosaic))") }
        let o = optimizer
        for (name, value) in [("lr0", o.lr0), ("lrf", o.lrf), ("momentum", o.momentum), ("weight_decay", o.weightDecay),
                              ("warmup_epochs", o.warmupEpochs), ("warmup_momentum", o.warmupMomentum), ("warmup_bias_lr", o.warmupBiasLR)] {
            guard value.isFinite, value >= 0 else { throw fail("\(name) must be a number ≥ 0 (got \(value))") }
        }
        guard o.lr0 > 0 else { throw fail("lr0 must be positive (got \(o.lr0))") }
        guard o.nominalBatchSize > 0 else { throw fail("nbs must be positive (got \(o.nominalBatchSize))") }
        _ = try OptimizerRequest(parsing: o.optimizer)
        let a = augmentation
        for (name, value, range) in [("hsv_h", a.hsvH, 0.0...1.0), ("hsv_s", a.hsvS, 0.0...1.0), ("hsv_v", a.hsvV, 0.0...1.0),
                                     ("translate", a.translate, 0.0...1.0), ("scale", a.scale, 0.0...0.99), ("fliplr", a.fliplr, 0.0...1.0),
                                     ("mosaic", a.mosaic, 0.0...1.0), ("degrees", a.degrees, 0.0...180.0), ("shear", a.shear, 0.0...89.0)] {
            guard value.isFinite, range.contains(value) else { throw fail("\(name) must be in \(range.lowerBound)…\(range.upperBound) (got \(value))") }
        }
        for (name, value) in [("box", loss.box), ("cls", loss.cls), ("dfl", loss.dfl)] {
            guard value.isFinite, value >= 0 else { throw fail("\(name) gain must be a number ≥ 0 (got \(value))") }
        }
    }
}

/// A training run that cannot start or go on, with the reason.
public struct TrainingError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
