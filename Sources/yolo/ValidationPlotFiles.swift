import Foundation
import YOLOKit

/// The PNG plots of a validation run, as Ultralytics' val writes them: BoxPR / BoxF1 / BoxP / BoxR curves and the
/// confusion matrix (counts and normalized), from the run's metrics (`ValidationPlots` draws them).
enum ValidationPlotFiles {
    static func write(_ report: ValidationReport, names: [String], to folder: String) throws -> [String] {
        let c = report.metrics.curves
        let curves = ValidationCurves(x: AveragePrecision.confidencePoints, precisionAtRecall: c.precisionAtRecall, f1: c.f1Curve,
                                      precision: c.precisionCurve, recall: c.recallCurve, ap50: c.ap.map { $0.first ?? 0 },
                                      classIndices: c.classes)
        let confusion = report.confusion.matrix.map { $0.map(Double.init) }
        return try ValidationPlots.write(to: folder, curves: curves, confusion: confusion, names: names)
    }
}
