/// Ultralytics' `ConfusionMatrix.plot` as a `Heatmap`: the (nc + 1) × (nc + 1) matrix of counts, rows the
/// predicted class, columns the true class, the last row and column "background".
public enum ConfusionMatrixPlot {
    /// Numbers are written in the cells below this many classes, as Ultralytics does.
    public static let maxAnnotatedClasses = 29

    /// The chart of `counts[predicted][true]` (`names.count + 1` square); `normalized` divides each column by its
    /// sum (+1e-9, as Ultralytics) and writes 2 decimals, else the counts are written as integers.
    public static func heatmap(counts: [[Double]], names: [String], normalized: Bool) -> Heatmap {
        let n = names.count + 1
        precondition(counts.count == n && counts.allSatisfy { $0.count == n },
                     "ConfusionMatrixPlot: counts must be (names.count + 1) square")
        var values = counts
        if normalized {
            for c in 0..<n {
                let sum = (0..<n).reduce(0) { $0 + counts[$1][c] } + 1e-9
                for r in 0..<n { values[r][c] = counts[r][c] / sum }
            }
        }
        let labels = names + ["background"]
        // 12 × 9 like Ultralytics' figure, larger for many classes so that each cell keeps about 12 pixels.
        let height = max(900, 12 * n + 360), width = height * 4 / 3
        return Heatmap(values: values, rowLabels: labels, columnLabels: labels,
                       title: normalized ? "Confusion Matrix Normalized" : "Confusion Matrix",
                       xLabel: "True", yLabel: "Predicted",
                       cellDecimals: names.count <= maxAnnotatedClasses ? (normalized ? 2 : 0) : nil,
                       width: width, height: height)
    }
}
