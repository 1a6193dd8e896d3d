import Foundation

/// A ground-truth box of one image: class index and pixel corners, in Float as Ultralytics holds them (the candidate
/// test compares Float differences, so the corners must be the same floats).
public struct GroundTruthBox: Equatable, Sendable {
    public var classIndex: Int
    public var x1: Float, y1: Float, x2: Float, y2: Float

    public init(classIndex: Int, x1: Float, y1: Float, x2: Float, y2: Float) {
        self.classIndex = classIndex
        self.x1 = x1; self.y1 = y1; self.x2 = x2; self.y2 = y2
    }

    var corners: BoxCorners { BoxCorners(x1: Double(x1), y1: Double(y1), x2: Double(x2), y2: Double(y2)) }
}

/// The assigner's answer for one image, per anchor (anchors of all levels in order, each level row-major).
public struct ImageAssignment: Equatable, Sendable {
    /// Whether the anchor is foreground (Ultralytics' `fg_mask`).
    public var foreground: [Bool]
    /// The matched ground truth (`target_gt_idx`): its index in the image's list; 0 for a background anchor.
    public var targetGTIndex: [Int]
    /// The one non-zero entry of the anchor's target score row (`target_scores[a, class]`), 0 for background.
    public var targetScore: [Double]
    /// The class of that entry (the matched ground truth's class; meaningful where `foreground`).
    public var targetClass: [Int]

    /// Ultralytics' dense `target_scores` of this image: [anchors, classes], row-major.
    public func targetScores(classes: Int) -> [Double] {
        var dense = [Double](repeating: 0, count: foreground.count * classes)
        for a in foreground.indices where foreground[a] { dense[a * classes + targetClass[a]] = targetScore[a] }
        return dense
    }

    static func background(anchors: Int) -> ImageAssignment {
        ImageAssignment(foreground: Array(repeating: false, count: anchors), targetGTIndex: Array(repeating: 0, count: anchors),
                        targetScore: Array(repeating: 0, count: anchors), targetClass: Array(repeating: 0, count: anchors))
    }
}

public enum TaskAlignedAssignerError: Error, CustomStringConvertible, Equatable {
    case tooFewAnchors(anchors: Int, topK: Int)

    public var description: String {
        switch self {
        case let .tooFewAnchors(anchors, topK):
            return "the task-aligned assigner picks the top \(topK) anchors per box, but the image has only \(anchors) anchors (a larger image size or a smaller topk is needed)"
        }
    }
}

/// Ultralytics' `TaskAlignedAssigner` (Feng et al. 2021, TOOD) for one image, computed without gradients as
/// Ultralytics does (`@torch.no_grad`, detached scores and boxes):
///  1. candidates: anchors strictly inside the ground truth (by more than 1e-9), after sides shorter than
///     `minimumSide` (Ultralytics: the second stride) are widened to it about the centre;
///  2. align metric of a candidate = score(class of the gt)^alpha · overlap^beta, overlap = max(CIoU(gt, pred), 0);
///  3. each gt takes its `topK` anchors by metric (ties: the lower anchor index; torch.topk's order among equal
///     metrics is unspecified and only reaches anchors whose target score is 0), kept where they are candidates;
///  4. an anchor taken by several gts goes to the gt of largest overlap (the first such gt on a tie), even one
///     that did not take it;
///  5. target score = metric · (gt's max overlap over its anchors) / (gt's max metric over its anchors + 1e-9).
/// Cost: gts × anchors, as the reference.
public struct TaskAlignedAssigner: Sendable {
    public var topK: Int
    public var alpha: Double
    public var beta: Double
    /// Ground-truth sides below this (pixels) are widened to it for the candidate test (Ultralytics' `stride_val`).
    public var minimumSide: Float
    public var eps: Double = 1e-9

    public init(topK: Int, alpha: Double, beta: Double, minimumSide: Float) {
        self.topK = topK
        self.alpha = alpha
        self.beta = beta
        self.minimumSide = minimumSide
    }

    /// - Parameters:
    ///   - classLogits: raw class logits of the image, [classes, anchors] (class-major).
    ///   - predictedBoxes: decoded predicted boxes in pixels, one per anchor.
    ///   - anchorPoints: anchor centres in pixels (x, y), one per anchor.
    ///   - groundTruth: the image's boxes in pixels.
    public func assign(classLogits: [Double], predictedBoxes: [BoxCorners], anchorPoints: [(x: Float, y: Float)],
                       groundTruth: [GroundTruthBox]) throws -> ImageAssignment {
        let anchors = anchorPoints.count
        if groundTruth.isEmpty { return .background(anchors: anchors) }
        guard anchors >= topK else { throw TaskAlignedAssignerError.tooFewAnchors(anchors: anchors, topK: topK) }
        let boxes = groundTruth.count
        // [gt, anchor] planes; zero outside the candidates, as Ultralytics' dense `overlaps` / `align_metric`.
        var overlaps = [Double](repeating: 0, count: boxes * anchors)
        var metrics = [Double](repeating: 0, count: boxes * anchors)
        var candidate = [Bool](repeating: false, count: boxes * anchors)
        var positive = [Bool](repeating: false, count: boxes * anchors)
        for (g, gt) in groundTruth.enumerated() {
            // Padding rows are all-zero; Ultralytics keeps a gt whose corner sum is positive.
            guard Double(gt.x1) + Double(gt.y1) + Double(gt.x2) + Double(gt.y2) > 0 else { continue }
            let row = g * anchors
            let widened = widenedForCandidates(gt)
            let gtCorners = gt.corners
            for a in 0..<anchors {
                let p = anchorPoints[a]
                let inside = p.x - widened.x1 > 1e-9 && p.y - widened.y1 > 1e-9 && widened.x2 - p.x > 1e-9 && widened.y2 - p.y > 1e-9
                guard inside else { continue }
                candidate[row + a] = true
                let overlap = max(CompleteIoU.value(gtCorners, predictedBoxes[a]), 0)
                let score = 1 / (1 + exp(-classLogits[gt.classIndex * anchors + a]))
                overlaps[row + a] = overlap
                metrics[row + a] = pow(score, alpha) * pow(overlap, beta)
            }
            for a in topAnchors(metrics[row..<(row + anchors)]) where candidate[row + a] { positive[row + a] = true }
        }
        var assignment = ImageAssignment.background(anchors: anchors)
        for a in 0..<anchors {
            var taken = 0, first = -1
            for g in 0..<boxes where positive[g * anchors + a] {
                taken += 1
                if first < 0 { first = g }
            }
            guard taken > 0 else { continue }
            if taken > 1 {
                // The gt of largest overlap (first on a tie) over all gts, candidates or not.
                var best = 0
                for g in 1..<boxes where overlaps[g * anchors + a] > overlaps[best * anchors + a] { best = g }
                for g in 0..<boxes { positive[g * anchors + a] = g == best }
                first = best
            }
            assignment.foreground[a] = true
            assignment.targetGTIndex[a] = first
            assignment.targetClass[a] = groundTruth[first].classIndex
        }
        // Normalize: metric · max overlap / (max metric + eps), maxima per gt over its positive anchors.
        var maxMetric = [Double](repeating: 0, count: boxes), maxOverlap = [Double](repeating: 0, count: boxes)
        for g in 0..<boxes {
            for a in 0..<anchors where positive[g * anchors + a] {
                maxMetric[g] = max(maxMetric[g], metrics[g * anchors + a])
                maxOverlap[g] = max(maxOverlap[g], overlaps[g * anchors + a])
            }
        }
        for a in 0..<anchors where assignment.foreground[a] {
            let g = assignment.targetGTIndex[a]
            assignment.targetScore[a] = metrics[g * anchors + a] * maxOverlap[g] / (maxMetric[g] + eps)
        }
        return assignment
    }

    /// The gt with sides below `minimumSide` widened to it about the centre, in Float as Ultralytics'
    /// xyxy → xywh → xyxy round trip computes it.
    private func widenedForCandidates(_ gt: GroundTruthBox) -> (x1: Float, y1: Float, x2: Float, y2: Float) {
        let cx = (gt.x1 + gt.x2) / 2, cy = (gt.y1 + gt.y2) / 2
        var w = gt.x2 - gt.x1, h = gt.y2 - gt.y1
        if w < minimumSide { w = minimumSide }
        if h < minimumSide { h = minimumSide }
        let hw = w / 2, hh = h / 2
        return (cx - hw, cy - hh, cx + hw, cy + hh)
    }

    /// Indices of the `topK` largest metrics (ties by the lower index): the positive ones by value, then the first
    /// zero-metric anchors.
    private func topAnchors(_ metrics: ArraySlice<Double>) -> [Int] {
        let base = metrics.startIndex
        var ranked = metrics.indices.filter { metrics[$0] > 0 }
        ranked.sort { metrics[$0] != metrics[$1] ? metrics[$0] > metrics[$1] : $0 < $1 }
        var chosen = ranked.prefix(topK).map { $0 - base }
        if chosen.count < topK {
            for i in metrics.indices where !(metrics[i] > 0) {
                chosen.append(i - base)
                if chosen.count == topK { break }
            }
        }
        return chosen
    }
}
