/// Ultralytics' detection confusion matrix (ultralytics 8.4.x `ConfusionMatrix.process_batch`):
/// `matrix[predicted][true]`, `(classCount + 1)²`, the last row and column being background.
///
/// Per image: predictions with confidence above `confidence` only; class-agnostic IoU; in descending confidence
/// each prediction whose best IoU exceeds `iou` claims that label (which then takes part in no other match).
/// A matched pair counts at [predicted class, true class]; unmatched labels count as background predictions
/// (missed), unmatched predictions as background truths (false positives). The validator passes its own `conf`
/// (0.001 by default in val) and the 0.45 IoU default.
public struct ConfusionMatrix: Sendable, Equatable {
    public let classCount: Int
    public let confidence: Float
    public let iou: Float
    /// Counts, `[predicted][true]`, index `classCount` = background.
    public private(set) var matrix: [[Int]]

    public init(classCount: Int, confidence: Float = 0.25, iou: Float = 0.45) {
        self.classCount = classCount; self.confidence = confidence; self.iou = iou
        matrix = [[Int]](repeating: [Int](repeating: 0, count: classCount + 1), count: classCount + 1)
    }

    private func index(_ c: Int) -> Int { c >= 0 && c < classCount ? c : classCount }

    /// Adds one image (any prediction order; ranked like `DetectionMetrics`). Class ids outside 0..<classCount
    /// count as background.
    public mutating func add(predictions: [PredictedBox], labels: [LabelBox]) {
        let all = DetectionMetrics.ranked(predictions)
        if labels.isEmpty {
            for p in all where p.confidence > confidence { matrix[index(p.classIndex)][classCount] += 1 }
            return
        }
        let kept = all.filter { $0.confidence > confidence }
        var ious = labels.map { l in kept.map { BoxMatching.iou(l.box, $0.box) } }
        var labelMatch = [Int](repeating: -1, count: labels.count)
        // Ranked already, so candidates in this order are in descending confidence, ties stable.
        for d in kept.indices where labels.indices.contains(where: { ious[$0][d] > iou }) {
            var best = 0
            for g in labels.indices where ious[g][d] > ious[best][d] { best = g }
            if ious[best][d] > iou {
                labelMatch[best] = d
                for k in kept.indices { ious[best][k] = 0 }
            }
        }
        let matched = Set(labelMatch.filter { $0 >= 0 })
        for (g, label) in labels.enumerated() {
            if labelMatch[g] >= 0 {
                matrix[index(kept[labelMatch[g]].classIndex)][index(label.classIndex)] += 1
            } else {
                matrix[classCount][index(label.classIndex)] += 1
            }
        }
        for (d, p) in kept.enumerated() where !matched.contains(d) { matrix[index(p.classIndex)][classCount] += 1 }
    }

    /// Columns divided by their sums (+1e-9), as Ultralytics' normalized plot.
    public func normalized() -> [[Double]] {
        let sums = (0...classCount).map { c in Double(matrix.reduce(0) { $0 + $1[c] }) + 1e-9 }
        return matrix.map { row in row.enumerated().map { Double($1) / sums[$0] } }
    }

    /// True positives (the diagonal) and false positives (row sums minus the diagonal) per class, background
    /// left out (Ultralytics' `tp_fp`).
    public func truePositivesAndFalsePositives() -> (tp: [Int], fp: [Int]) {
        let tp = (0..<classCount).map { matrix[$0][$0] }
        let fp = (0..<classCount).map { matrix[$0].reduce(0, +) - matrix[$0][$0] }
        return (tp, fp)
    }
}
