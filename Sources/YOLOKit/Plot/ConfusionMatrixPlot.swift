/// Ultralytics' `ConfusionMatrix.plot` (8.4) as a `Heatmap`: the (nc + 1) × (nc + 1) matrix of counts, rows the
/// predicted class, columns the true class, the last row and column "background".
public enum ConfusionMatrixPlot {
    /// The file Ultralytics names after the title: `confusion_matrix.png`, `confusion_matrix_normalized.png`.
    public static func fileName(normalized: Bool) -> String {
        normalized ? "confusion_matrix_normalized.png" : "confusion_matrix.png"
    }

    /// The chart of `counts[predicted][true]` (`names.count + 1` square), with Ultralytics' rules:
    /// - `normalized` divides each column by its sum (+1e-9) and writes 2 decimals, else counts as integers;
    ///   values below 0.005 are left blank;
    /// - with 100 classes or more, only every k-th class (k = max(2, nc / 60)) and background are kept;
    /// - numbers are written when the kept classes plus background are fewer than 30, white above 0.45 of
    ///   the scale (1 normalized, the largest count otherwise);
    /// - class names label the axes when they are fewer than 99 with background, else the cell indices.
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
        var keptNames = names
        if names.count >= 100 {
            let k = max(2, names.count / 60)
            let keep = Array(stride(from: 0, to: names.count, by: k)) + [names.count]
            values = keep.map { r in keep.map { c in values[r][c] } }
            keptNames = keep.dropLast().map { names[$0] }
        }
        let cells = keptNames.count + 1
        let labels = cells < 99 ? keptNames + ["background"] : (0..<cells).map(String.init)
        let shown = values.joined().filter { $0 >= 0.005 }
        let scaleTop = normalized ? 1 : (shown.max() ?? 0)
        // 12 × 9 like Ultralytics' figure, larger for many classes so that each cell keeps about 12 pixels.
        let height = max(900, 12 * cells + 360), width = height * 4 / 3
        return Heatmap(values: values, rowLabels: labels, columnLabels: labels,
                       title: normalized ? "Confusion Matrix Normalized" : "Confusion Matrix",
                       xLabel: "True", yLabel: "Predicted",
                       cellDecimals: cells < 30 ? (normalized ? 2 : 0) : nil,
                       whiteTextAbove: 0.45 * scaleTop, width: width, height: height)
    }
}
