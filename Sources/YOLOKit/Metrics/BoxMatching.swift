/// A predicted box for evaluation: pixels, confidence, class.
public struct PredictedBox: Equatable, Sendable {
    public var box: Box
    public var confidence: Float
    public var classIndex: Int

    public init(box: Box, confidence: Float, classIndex: Int) {
        self.box = box; self.confidence = confidence; self.classIndex = classIndex
    }
}

/// A ground-truth box for evaluation: pixels, class.
public struct LabelBox: Equatable, Sendable {
    public var box: Box
    public var classIndex: Int

    public init(box: Box, classIndex: Int) {
        self.box = box; self.classIndex = classIndex
    }
}

/// Ultralytics' matching of one image's predictions to its labels (ultralytics 8.4.x,
/// `BaseValidator.match_predictions` as `DetectionValidator._process_batch` calls it).
public enum BoxMatching {
    /// `torch.linspace(0.5, 0.95, 10)` in float32: the IoU thresholds of mAP50-95.
    public static let iouThresholds: [Float] = linspaceFloat32(0.5, 0.95, 10)

    /// IoU as `ultralytics.utils.metrics.box_iou` computes it in float32:
    /// `inter / (area1 + area2 - inter + 1e-7)`, inter = clamp(min(x2) − max(x1), 0) · clamp(…, 0).
    public static func iou(_ a: Box, _ b: Box) -> Float {
        let iw = max(min(a.x2, b.x2) - max(a.x1, b.x1), 0)
        let ih = max(min(a.y2, b.y2) - max(a.y1, b.y1), 0)
        let inter = iw * ih
        let areaA = (a.x2 - a.x1) * (a.y2 - a.y1), areaB = (b.x2 - b.x1) * (b.y2 - b.y1)
        return inter / (areaA + areaB - inter + Float(1e-7))
    }

    /// Which predictions are correct at each IoU threshold: `[prediction][threshold]`.
    ///
    /// `predictions` must be in descending confidence (the order NMS gives; `DetectionMetrics` sorts them).
    /// As theirs: IoU with a label of another class counts as 0; each prediction in turn, at each threshold
    /// separately, takes the unclaimed label with the highest IoU (the first on ties) and is correct when that IoU
    /// reaches the threshold, which claims the label.
    public static func correct(predictions: [PredictedBox], labels: [LabelBox], thresholds: [Float] = iouThresholds) -> [[Bool]] {
        let t = thresholds.count
        var correct = [[Bool]](repeating: [Bool](repeating: false, count: t), count: predictions.count)
        guard !predictions.isEmpty, !labels.isEmpty, let lowest = thresholds.min() else { return correct }
        var claimed = [[Bool]](repeating: [Bool](repeating: false, count: t), count: labels.count)
        var column = [Float](repeating: 0, count: labels.count)
        for (j, p) in predictions.enumerated() {
            for (i, l) in labels.enumerated() { column[i] = l.classIndex == p.classIndex ? iou(l.box, p.box) : 0 }
            guard column.contains(where: { $0 >= lowest }) else { continue }
            for k in 0..<t {
                var best = 0, bestIoU = -Float.infinity
                for i in 0..<labels.count {
                    let v = claimed[i][k] ? 0 : column[i]
                    if v > bestIoU || (bestIoU.isNaN && !v.isNaN) { best = i; bestIoU = v }  // argmax: first maximum
                }
                if bestIoU >= thresholds[k] {
                    correct[j][k] = true
                    claimed[best][k] = true
                }
            }
        }
        return correct
    }

    /// `torch.linspace(start, end, steps)` for float32 on the CPU: the first half counts up from `start`, the
    /// second half down from `end` (so both ends are exact).
    static func linspaceFloat32(_ start: Float, _ end: Float, _ steps: Int) -> [Float] {
        guard steps > 1 else { return steps == 1 ? [start] : [] }
        let step = (end - start) / Float(steps - 1)
        let half = steps / 2
        return (0..<steps).map { i in i < half ? start + step * Float(i) : end - step * Float(steps - i - 1) }
    }
}
