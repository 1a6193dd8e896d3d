import Foundation

/// One epoch's row of `results.csv`, Ultralytics' columns in its order.
public struct EpochResult: Sendable, Equatable {
    /// 1-based, as the csv writes it.
    public var epoch: Int
    /// Seconds since the run started.
    public var time: Double
    /// Mean of the batches' box / cls / dfl losses (gains applied, as Ultralytics logs them).
    public var trainLoss: (box: Double, cls: Double, dfl: Double)
    public var precision: Double, recall: Double, mAP50: Double, mAP50_95: Double
    public var valLoss: (box: Double, cls: Double, dfl: Double)
    /// The lr of each parameter group during the epoch's last batch (3; MuSGD 8).
    public var learningRates: [Double]

    public init(epoch: Int, time: Double, trainLoss: (box: Double, cls: Double, dfl: Double), precision: Double, recall: Double,
                mAP50: Double, mAP50_95: Double, valLoss: (box: Double, cls: Double, dfl: Double), learningRates: [Double]) {
        self.epoch = epoch; self.time = time; self.trainLoss = trainLoss
        self.precision = precision; self.recall = recall; self.mAP50 = mAP50; self.mAP50_95 = mAP50_95
        self.valLoss = valLoss; self.learningRates = learningRates
    }

    /// Ultralytics' fitness: 0.1 · mAP50 + 0.9 · mAP50-95.
    public var fitness: Double { 0.1 * mAP50 + 0.9 * mAP50_95 }

    public static func == (a: EpochResult, b: EpochResult) -> Bool { a.values == b.values }

    /// The columns for an optimizer with `groups` parameter groups: one `lr/pgN` each, as Ultralytics logs them.
    public static func columns(groups: Int = 3) -> [String] {
        ["epoch", "time", "train/box_loss", "train/cls_loss", "train/dfl_loss",
         "metrics/precision(B)", "metrics/recall(B)", "metrics/mAP50(B)", "metrics/mAP50-95(B)",
         "val/box_loss", "val/cls_loss", "val/dfl_loss"] + (0..<groups).map { "lr/pg\($0)" }
    }
    static let fixedColumns = 12

    public var values: [Double] {
        [Double(epoch), time, trainLoss.box, trainLoss.cls, trainLoss.dfl, precision, recall, mAP50, mAP50_95,
         valLoss.box, valLoss.cls, valLoss.dfl] + learningRates
    }
}

/// `results.csv` as BaseTrainer.save_metrics writes it: a header of the columns, then each epoch's values as %.6g.
public enum TrainingResultsFile {
    public static func text(_ rows: [EpochResult]) -> String {
        var out = EpochResult.columns(groups: rows.first?.learningRates.count ?? 3).joined(separator: ",") + "\n"
        for row in rows { out += row.values.map(format).joined(separator: ",") + "\n" }
        return out
    }

    /// Python's "%.6g".
    static func format(_ x: Double) -> String {
        String(format: "%.6g", x)
    }

    /// Reads the rows back (for --resume); nil when the file is not one this writer wrote.
    public static func parse(_ text: String) -> [EpochResult]? {
        var lines = text.split(separator: "\n").map(String.init)
        guard let header = lines.first else { return nil }
        let count = header.split(separator: ",").count
        guard count > EpochResult.fixedColumns, header == EpochResult.columns(groups: count - EpochResult.fixedColumns).joined(separator: ",") else { return nil }
        lines.removeFirst()
        var rows: [EpochResult] = []
        for line in lines {
            let v = line.split(separator: ",").compactMap { Double($0) }
            guard v.count == count else { return nil }
            rows.append(EpochResult(epoch: Int(v[0]), time: v[1], trainLoss: (v[2], v[3], v[4]), precision: v[5], recall: v[6],
                                    mAP50: v[7], mAP50_95: v[8], valLoss: (v[9], v[10], v[11]), learningRates: Array(v[EpochResult.fixedColumns...])))
        }
        return rows
    }
}

/// Ultralytics' EarlyStopping: an epoch whose fitness beats the best (or any epoch while the best is 0) becomes the
/// best; training stops once `patience` epochs pass without one.
public struct EarlyStopping: Sendable, Equatable {
    public let patience: Int
    public private(set) var bestFitness = 0.0
    public private(set) var bestEpoch = 0

    public init(patience: Int, bestFitness: Double = 0, bestEpoch: Int = 0) {
        self.patience = patience
        self.bestFitness = bestFitness
        self.bestEpoch = bestEpoch
    }

    /// `epoch` 1-based, as the trainer calls it. Returns whether to stop.
    public mutating func update(epoch: Int, fitness: Double) -> Bool {
        if fitness > bestFitness || bestFitness == 0 {
            bestEpoch = epoch
            bestFitness = fitness
        }
        return epoch - bestEpoch >= patience
    }
}
