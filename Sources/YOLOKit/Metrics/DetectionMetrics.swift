/// Accumulates one image at a time and computes Ultralytics' detection metrics (ultralytics 8.4.x
/// `DetectionValidator.update_metrics` + `DetMetrics.process`): per class and overall images, instances,
/// precision, recall, mAP50, mAP50-95, fitness.
///
/// Boxes of an image may be in any pixel frame as long as predictions and labels share it. Ultralytics matches in
/// the letterboxed network-input frame (labels scaled to it); pass both in that frame for their exact numbers.
public struct DetectionMetrics: Sendable {
    public let classNames: [String]
    public private(set) var imageCount = 0

    // Per prediction, over all images in order: confidence, class, correct-at-threshold bits.
    private var confidence: [Float] = []
    private var predictedClass: [Int] = []
    private var correct: [[Bool]] = []
    // Per label: class; per image: its distinct label classes.
    private var labelClasses: [Int] = []
    private var imagesPerClass: [Int: Int] = [:]

    public init(classNames: [String]) {
        self.classNames = classNames
    }

    /// Adds one image: its predictions (any order: they are ranked by descending confidence, ties kept in the
    /// given order; predictions with a NaN confidence are dropped) and its labels.
    public mutating func add(predictions: [PredictedBox], labels: [LabelBox]) {
        imageCount += 1
        let ranked = DetectionMetrics.ranked(predictions)
        let rows = BoxMatching.correct(predictions: ranked, labels: labels)
        for (p, row) in zip(ranked, rows) {
            confidence.append(p.confidence); predictedClass.append(p.classIndex); correct.append(row)
        }
        labelClasses += labels.map(\.classIndex)
        for c in Set(labels.map(\.classIndex)) { imagesPerClass[c, default: 0] += 1 }
    }

    /// Predictions by descending confidence, ties in input order, NaN confidences left out.
    static func ranked(_ predictions: [PredictedBox]) -> [PredictedBox] {
        let kept = predictions.filter { !$0.confidence.isNaN }
        return kept.indices.sorted { a, b in
            kept[a].confidence > kept[b].confidence || (kept[a].confidence == kept[b].confidence && a < b)
        }.map { kept[$0] }
    }

    /// The metrics of everything added so far.
    public func compute() -> DetectionMetricsResult {
        let pc = AveragePrecision.perClass(correct: correct, confidence: confidence, predictedClass: predictedClass,
                                           labelClasses: labelClasses, thresholdCount: BoxMatching.iouThresholds.count)
        var perClass: [DetectionMetricsResult.ClassResult] = []
        for (i, c) in pc.classes.enumerated() {
            perClass.append(.init(classIndex: c, name: c >= 0 && c < classNames.count ? classNames[c] : "\(c)",
                                  images: imagesPerClass[c] ?? 0, instances: pc.labelCounts[i],
                                  precision: pc.precision[i], recall: pc.recall[i],
                                  mAP50: pc.ap[i][0], mAP50_95: AveragePrecision.mean(pc.ap[i]), ap: pc.ap[i]))
        }
        let n = pc.classes.count
        let mp = n > 0 ? AveragePrecision.mean(pc.precision) : 0
        let mr = n > 0 ? AveragePrecision.mean(pc.recall) : 0
        let map50 = n > 0 ? AveragePrecision.mean(pc.ap.map { $0[0] }) : 0
        let map = n > 0 ? AveragePrecision.mean(pc.ap.flatMap { $0 }) : 0
        return DetectionMetricsResult(images: imageCount, instances: labelClasses.count, precision: mp, recall: mr,
                                      mAP50: map50, mAP50_95: map, perClass: perClass, curves: pc)
    }
}

/// Ultralytics' validation numbers (their `results_dict` and per-class table).
public struct DetectionMetricsResult: Sendable {
    /// One row of the per-class table (classes with labels only, as theirs).
    public struct ClassResult: Sendable, Equatable {
        public var classIndex: Int
        public var name: String
        /// Images with at least one label of the class.
        public var images: Int
        /// Labels of the class.
        public var instances: Int
        public var precision: Double
        public var recall: Double
        public var mAP50: Double
        public var mAP50_95: Double
        /// AP at each IoU threshold 0.50:0.05:0.95.
        public var ap: [Double]
    }

    /// Images added (background images included), and labels over all of them.
    public var images: Int
    public var instances: Int
    /// Means over the classes with labels: `metrics/precision(B)`, `metrics/recall(B)`, `metrics/mAP50(B)`,
    /// `metrics/mAP50-95(B)`.
    public var precision: Double
    public var recall: Double
    public var mAP50: Double
    public var mAP50_95: Double
    public var perClass: [ClassResult]
    /// The curves behind the numbers (for the P/R/F1 plots).
    public var curves: AveragePrecision.PerClass

    /// Ultralytics' fitness: 0·P + 0·R + 0·mAP50 + 1·mAP50-95 (NaN counted as 0).
    public var fitness: Double { mAP50_95.isNaN ? 0 : mAP50_95 }

    /// Ultralytics' `results_dict`.
    public var resultsDict: [String: Double] {
        ["metrics/precision(B)": precision, "metrics/recall(B)": recall, "metrics/mAP50(B)": mAP50,
         "metrics/mAP50-95(B)": mAP50_95, "fitness": fitness]
    }

    /// mAP50-95 per class id over `classCount` classes; classes without labels get the overall mAP50-95
    /// (Ultralytics' `maps`).
    public func maps(classCount: Int) -> [Double] {
        var maps = [Double](repeating: mAP50_95, count: classCount)
        for row in perClass where row.classIndex >= 0 && row.classIndex < classCount { maps[row.classIndex] = row.mAP50_95 }
        return maps
    }
}
