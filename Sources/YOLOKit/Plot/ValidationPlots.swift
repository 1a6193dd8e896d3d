/// The per-class curves of a validation run, as Ultralytics' `ap_per_class` returns them: rows are the classes
/// that have labels (`classIndices`), columns the points of `x`.
public struct ValidationCurves: Sendable {
    /// Ultralytics' `px = np.linspace(0, 1, 1000)`: recall for the PR curve, confidence for the others.
    public var x: [Double]
    /// Precision at each recall of `x`, per class, at IoU 0.5 (`prec_values`).
    public var precisionAtRecall: [[Double]]
    /// F1, precision and recall at each confidence of `x`, per class.
    public var f1: [[Double]]
    public var precision: [[Double]]
    public var recall: [[Double]]
    /// AP at IoU 0.5 per class (the PR legend).
    public var ap50: [Double]
    /// Class index (into the names) of each row.
    public var classIndices: [Int]

    public init(x: [Double], precisionAtRecall: [[Double]], f1: [[Double]], precision: [[Double]],
                recall: [[Double]], ap50: [Double], classIndices: [Int]) {
        self.x = x; self.precisionAtRecall = precisionAtRecall; self.f1 = f1; self.precision = precision
        self.recall = recall; self.ap50 = ap50; self.classIndices = classIndices
    }

    /// Ultralytics' `np.linspace(0, 1, 1000)`.
    public static let linspace1000: [Double] = (0..<1000).map { Double($0) / 999 }
}

/// The plots `yolo val --plots` writes into its save folder, with Ultralytics 8.4's file names: `BoxPR_curve.png`,
/// `BoxF1_curve.png`, `BoxP_curve.png`, `BoxR_curve.png` (`prefix` "Box", as its `DetMetrics` passes; "" gives
/// the older `PR_curve.png` …), `confusion_matrix.png`, `confusion_matrix_normalized.png`.
public enum ValidationPlots {
    /// Ultralytics' prefix of the detection curves' files.
    public static let boxPrefix = "Box"

    /// Every chart as (file name, image): the four curves from `curves`, the two confusion matrices from
    /// `confusion` (`confusion[predicted][true]`, `names.count + 1` square, last "background"). `names` are all
    /// the dataset's class names.
    public static func images(curves: ValidationCurves, confusion: [[Double]], names: [String],
                              prefix: String = boxPrefix) -> [(String, RGBImage)] {
        let rowNames = curves.classIndices.map { $0 >= 0 && $0 < names.count ? names[$0] : "class \($0)" }
        let pr = ClassCurves.precisionRecall(recall: curves.x, precision: curves.precisionAtRecall, ap50: curves.ap50,
                                             names: rowNames, classIndices: curves.classIndices)
        func metric(_ values: [[Double]], _ name: String) -> ClassCurves {
            ClassCurves.metricConfidence(confidence: curves.x, values: values, metric: name, names: rowNames,
                                         classIndices: curves.classIndices)
        }
        return [
            (prefix + "PR_curve.png", pr.plot().render()),
            (prefix + "F1_curve.png", metric(curves.f1, "F1").plot().render()),
            (prefix + "P_curve.png", metric(curves.precision, "Precision").plot().render()),
            (prefix + "R_curve.png", metric(curves.recall, "Recall").plot().render()),
        ] + [false, true].map { normalized in
            (ConfusionMatrixPlot.fileName(normalized: normalized),
             ConfusionMatrixPlot.heatmap(counts: confusion, names: names, normalized: normalized).render())
        }
    }

    /// Writes every chart as PNG into `folder` (created if missing), each file atomically (a temporary name in
    /// the folder, then renamed). Returns the paths written. Errors name the file (`OutputError`, or
    /// `ImageEncodeError` wrapped in one).
    @discardableResult
    public static func write(to folder: String, curves: ValidationCurves, confusion: [[Double]],
                             names: [String], prefix: String = boxPrefix) throws -> [String] {
        let writer = try AtomicFileWriter(temporaryFolder: folder)
        var written: [String] = []
        for (name, image) in images(curves: curves, confusion: confusion, names: names, prefix: prefix) {
            let path = folder.hasSuffix("/") ? folder + name : folder + "/" + name
            let bytes: [UInt8]
            do {
                bytes = try ImageEncoder.pngData(image)
            } catch {
                throw OutputError(path: path, reason: "\(error)")
            }
            try writer.write(bytes, to: path)
            written.append(path)
        }
        return written
    }
}
