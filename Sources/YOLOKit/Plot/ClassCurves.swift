import Foundation

/// The data of one of val's curve charts: a curve per class over shared x values and a bold "all classes" curve,
/// as Ultralytics' `plot_pr_curve` and `plot_mc_curve` draw them. `precisionRecall` and `metricConfidence` build
/// it from the per-class curves the way Ultralytics does; `plot` lays it out.
public struct ClassCurves: Sendable {
    public var title: String
    public var xLabel: String
    public var yLabel: String
    /// Shared x values (Ultralytics: `np.linspace(0, 1, 1000)`).
    public var x: [Double]
    /// One curve per class, each `x.count` long.
    public var perClass: [[Double]]
    /// Legend text per class ("person 0.912" or "person").
    public var classLabels: [String]
    /// Class index per curve, for its color (`Drawing.color(forClass:)`, as on the boxes `--save-image` draws).
    public var classIndices: [Int]
    /// The bold curve and its legend text ("all classes 0.731 mAP@0.5").
    public var all: [Double]
    public var allLabel: String

    public init(title: String, xLabel: String, yLabel: String, x: [Double], perClass: [[Double]],
                classLabels: [String], classIndices: [Int], all: [Double], allLabel: String) {
        precondition(perClass.count == classLabels.count && perClass.count == classIndices.count,
                     "ClassCurves: one label and one class index per curve")
        self.title = title; self.xLabel = xLabel; self.yLabel = yLabel; self.x = x
        self.perClass = perClass; self.classLabels = classLabels; self.classIndices = classIndices
        self.all = all; self.allLabel = allLabel
    }

    /// Classes drawn in their colors, with legend entries; with more, Ultralytics draws them all grey, unnamed.
    public static let maxColoredClasses = 20
    /// Ultralytics' bold line: `linewidth=3, color="blue"`.
    public static let allColor = RGBColor(0, 0, 255)
    public static let grey = RGBColor(128, 128, 128)
    /// Class names in the legend are cut to this many characters (the AP after them is kept).
    public static let maxNameCharacters = 20

    /// `PR_curve.png`: precision against recall per class (`precision[i]` at `recall`), legend "name AP50", bold
    /// mean precision "all classes mAP50 mAP@0.5" (Ultralytics' `plot_pr_curve`).
    public static func precisionRecall(recall: [Double], precision: [[Double]], ap50: [Double], names: [String],
                                       classIndices: [Int]) -> ClassCurves {
        let mean = meanCurve(precision, count: recall.count)
        let map50 = ap50.isEmpty ? 0 : ap50.reduce(0, +) / Double(ap50.count)
        let labels = zip(names, ap50).map { PlotText.truncated($0, to: maxNameCharacters) + " " + String(format: "%.3f", $1) }
        return ClassCurves(
            title: "Precision-Recall Curve", xLabel: "Recall", yLabel: "Precision", x: recall, perClass: precision,
            classLabels: labels, classIndices: classIndices,
            all: mean, allLabel: "all classes " + String(format: "%.3f", map50) + " mAP@0.5")
    }

    /// `F1_curve.png`, `P_curve.png`, `R_curve.png`: a metric against confidence per class, bold the class mean
    /// smoothed (box filter over 10 % of the points) "all classes max at confidence" (Ultralytics' `plot_mc_curve`).
    public static func metricConfidence(confidence: [Double], values: [[Double]], metric: String, names: [String],
                                        classIndices: [Int]) -> ClassCurves {
        let smoothed = smooth(meanCurve(values, count: confidence.count), fraction: 0.1)
        var best = 0
        for i in smoothed.indices where smoothed[i] > smoothed[best] { best = i }  // first maximum, as argmax
        let label = smoothed.isEmpty ? "all classes"
            : "all classes " + String(format: "%.2f", smoothed[best]) + " at " + String(format: "%.3f", confidence[best])
        return ClassCurves(title: "\(metric)-Confidence Curve", xLabel: "Confidence", yLabel: metric, x: confidence,
                           perClass: values, classLabels: names.map { PlotText.truncated($0, to: maxNameCharacters) },
                           classIndices: classIndices, all: smoothed, allLabel: label)
    }

    /// The mean over classes at each point (zeros when there are no classes).
    static func meanCurve(_ curves: [[Double]], count: Int) -> [Double] {
        guard !curves.isEmpty else { return [Double](repeating: 0, count: count) }
        return (0..<count).map { i in curves.reduce(0) { $0 + $1[i] } / Double(curves.count) }
    }

    /// Ultralytics' `smooth`: a box filter of `round(n · fraction · 2) // 2 + 1` points (odd), the ends padded
    /// with the first and last values.
    public static func smooth(_ y: [Double], fraction: Double) -> [Double] {
        guard let first = y.first, let last = y.last else { return [] }
        let filter = Int((Double(y.count) * fraction * 2).rounded(.toNearestOrEven)) / 2 + 1
        let half = filter / 2
        let padded = [Double](repeating: first, count: half) + y + [Double](repeating: last, count: half)
        return (0..<y.count).map { i in padded[i..<(i + filter)].reduce(0, +) / Double(filter) }
    }

    /// The chart: class curves thin (2 px; in class colors with a legend entry each up to `maxColoredClasses`,
    /// else grey and unnamed), then the bold curve (5 px, blue). Legend entries past `maxLegendClasses` are
    /// summed up as "... N more" (Ultralytics names all 20).
    public func plot(width: Int = 1200, height: Int = 800, maxLegendClasses: Int = maxColoredClasses) -> LinePlot {
        let colored = perClass.count <= Self.maxColoredClasses
        var series: [LinePlot.Series] = []
        var legend: [LinePlot.LegendEntry] = []
        for (i, curve) in perClass.enumerated() {
            let color = colored ? Drawing.color(forClass: classIndices[i]) : Self.grey
            series.append(.init(x: x, y: curve, color: color, lineWidth: 2))
            if colored && i < maxLegendClasses { legend.append(.init(label: classLabels[i], color: color)) }
        }
        if colored && perClass.count > maxLegendClasses {
            legend.append(.init(label: "... \(perClass.count - maxLegendClasses) more", color: nil))
        } else if !colored {
            legend.append(.init(label: "\(perClass.count) classes", color: Self.grey))
        }
        series.append(.init(x: x, y: all, color: Self.allColor, lineWidth: 5))
        legend.append(.init(label: allLabel, color: Self.allColor, lineWidth: 5))
        return LinePlot(width: width, height: height, title: title, xLabel: xLabel, yLabel: yLabel,
                        series: series, legend: legend)
    }
}
