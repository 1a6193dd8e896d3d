import Foundation

/// Ultralytics' YOLO detection loss (`v8DetectionLoss`: task-aligned assignment, BCE class loss, CIoU box loss and
/// distribution focal loss) with its analytic gradient w.r.t. the raw head outputs, equal to what PyTorch's autograd
/// gives for the scalar the trainer backpropagates.
///
/// For a batch of B images with T = max(Σ target scores, 1) (a constant, as the assignment runs without gradients):
///   cls = gain_cls · Σ_{anchors, classes} BCE(logit, target score) / T
///   box = gain_box · Σ_fg (1 − CIoU(pred, target)) · w / T        (boxes in grid units of the anchor's level)
///   dfl = gain_dfl · Σ_fg mean_sides DFL(bins, clamp(target distance, 0, regMax − 1.01)) · w / T
/// with w the anchor's target score; the trainer backpropagates B · (box + cls + dfl). The image size is the first
/// level's map times its stride, as Ultralytics derives it; targets are normalized xywh scaled to it.
public struct DetectionLoss: Sendable {
    public let classes: Int
    public let regMax: Int
    public let hyperparameters: DetectionLossHyperparameters

    public init(classes: Int, regMax: Int = 16, hyperparameters: DetectionLossHyperparameters = .ultralyticsDefaults) {
        self.classes = classes
        self.regMax = regMax
        self.hyperparameters = hyperparameters
    }

    /// Loss, gradients and assignment for one batch; `targets[b]` are image b's boxes.
    public func compute(levels: [DetectionLevelOutputs], targets: [[DetectionTarget]]) throws -> DetectionLossResult {
        guard let first = levels.first else { throw DetectionLossError.noLevels }
        guard regMax > 1 else { throw DetectionLossError.unsupportedRegMax(regMax) }
        let batch = targets.count
        for (l, level) in levels.enumerated() {
            let plane = level.height * level.width
            if level.boxLogits.count != batch * 4 * regMax * plane {
                throw DetectionLossError.levelSize(level: l, what: "box logits", expected: batch * 4 * regMax * plane, got: level.boxLogits.count)
            }
            if level.classLogits.count != batch * classes * plane {
                throw DetectionLossError.levelSize(level: l, what: "class logits", expected: batch * classes * plane, got: level.classLogits.count)
            }
        }
        let grid = AnchorGrid(levels: levels.map { ($0.height, $0.width, $0.stride) })
        let imageWidth = Float(first.width * first.stride), imageHeight = Float(first.height * first.stride)
        let assigner = TaskAlignedAssigner(topK: hyperparameters.topK, alpha: hyperparameters.alpha, beta: hyperparameters.beta,
                                           minimumSide: Float(levels.count > 1 ? levels[1].stride : first.stride))
        let anchorPixels = grid.pixelPoints
        var gradients = levels.map {
            DetectionLevelGradients(boxLogits: [Float](repeating: 0, count: $0.boxLogits.count),
                                    classLogits: [Float](repeating: 0, count: $0.classLogits.count))
        }
        var assignments: [ImageAssignment] = []
        var sums = (box: 0.0, cls: 0.0, dfl: 0.0), scoreSum = 0.0
        for b in 0..<batch {
            let groundTruth = try pixelBoxes(targets[b], image: b, width: imageWidth, height: imageHeight)
            let boxLogits = gather(levels, grid, image: b, channels: 4 * regMax, \.boxLogits)
            let classLogits = gather(levels, grid, image: b, channels: classes, \.classLogits)
            let distributions = BoxDistributions(logits: boxLogits, anchors: grid.count, regMax: regMax)
            let pixelPredictions = (0..<grid.count).map { a -> BoxCorners in
                let box = distributions.box(anchor: a, at: grid.points[a]), s = Double(grid.strides[a])
                return BoxCorners(x1: box.x1 * s, y1: box.y1 * s, x2: box.x2 * s, y2: box.y2 * s)
            }
            let assignment: ImageAssignment
            do {
                assignment = try assigner.assign(classLogits: classLogits, predictedBoxes: pixelPredictions,
                                                 anchorPoints: anchorPixels, groundTruth: groundTruth)
            } catch let error as TaskAlignedAssignerError { throw DetectionLossError.assigner(error) }
            var boxGradient = [Double](repeating: 0, count: boxLogits.count)
            var classGradient = [Double](repeating: 0, count: classLogits.count)
            let terms = imageTerms(distributions: distributions, classLogits: classLogits, assignment: assignment,
                                   groundTruth: groundTruth, grid: grid, boxGradient: &boxGradient, classGradient: &classGradient)
            sums.box += terms.box; sums.cls += terms.cls; sums.dfl += terms.dfl
            scoreSum += assignment.targetScore.reduce(0, +)
            scatter(boxGradient, into: &gradients, grid, image: b, channels: 4 * regMax, \.boxLogits)
            scatter(classGradient, into: &gradients, grid, image: b, channels: classes, \.classLogits)
            assignments.append(assignment)
        }
        // Every term is divided by T and the trainer's scalar is B times the sum: scale the gradients once.
        let normalizer = max(scoreSum, 1)
        let scale = Float(Double(batch) / normalizer)
        for l in gradients.indices {
            for i in gradients[l].boxLogits.indices { gradients[l].boxLogits[i] *= scale }
            for i in gradients[l].classLogits.indices { gradients[l].classLogits[i] *= scale }
        }
        let box = hyperparameters.box * sums.box / normalizer
        let cls = hyperparameters.cls * sums.cls / normalizer
        let dfl = hyperparameters.dfl * sums.dfl / normalizer
        return DetectionLossResult(boxLoss: Float(box), classLoss: Float(cls), dflLoss: Float(dfl),
                                   backpropagated: Float(Double(batch) * (box + cls + dfl)), gradients: gradients,
                                   assignments: assignments, targetScoresSum: normalizer)
    }

    /// One image's un-normalized sums with its assignment fixed — Σ(1 − CIoU)·w, Σ BCE, Σ DFL·w — and, added into the
    /// gradient buffers ([4·regMax, anchors] and [classes, anchors]), the gradient of
    /// gain_box·Σ₁ + gain_cls·Σ₂ + gain_dfl·Σ₃ w.r.t. the logits. `ciouAlphas` (per anchor) replaces CIoU's α, for
    /// finite-difference checks that hold it fixed as autograd does.
    func imageTerms(distributions: BoxDistributions, classLogits: [Double], assignment: ImageAssignment,
                    groundTruth: [GroundTruthBox], grid: AnchorGrid, ciouAlphas: [Double]? = nil,
                    boxGradient: inout [Double], classGradient: inout [Double]) -> (box: Double, cls: Double, dfl: Double) {
        let anchors = grid.count, bins = regMax
        let gains = hyperparameters
        var boxSum = 0.0, dflSum = 0.0, clsSum = 0.0
        // DFL target bound: Ultralytics clamps distances to regMax − 1 − 0.01 (in Float).
        let upper = Float(Double(bins - 1) - 0.01)
        for a in 0..<anchors where assignment.foreground[a] {
            let weight = assignment.targetScore[a]
            let gt = groundTruth[assignment.targetGTIndex[a]]
            let s = grid.strides[a], p = grid.points[a]
            // Target box in the level's grid units (`target_bboxes / stride_tensor`, Float).
            let target = Self.gridBox(gt, stride: s)
            let (tx1, ty1, tx2, ty2) = (Float(target.x1), Float(target.y1), Float(target.x2), Float(target.y2))
            let (ciou, dCIoU) = CompleteIoU.valueAndGradient(distributions.box(anchor: a, at: p), target, alpha: ciouAlphas?[a])
            boxSum += (1 - ciou) * weight
            // d(gain·(1 − CIoU)·w)/d corners, then to the distances: x1 = ax − left, y1 = ay − top, x2 = ax + right, …
            let c = -gains.box * weight
            let distanceGradient = [-c * dCIoU.x1, -c * dCIoU.y1, c * dCIoU.x2, c * dCIoU.y2]
            let targetDistances: [Float] = [p.x - tx1, p.y - ty1, tx2 - p.x, ty2 - p.y]
            let dflCoefficient = gains.dfl * weight / 4
            var anchorDFL = 0.0
            for side in 0..<4 {
                let t = min(max(targetDistances[side], 0), upper)
                let left = Int(t), right = left + 1
                let leftWeight = Float(right) - t, rightWeight = 1 - leftWeight
                let wl = Double(leftWeight), wr = Double(rightWeight)
                let base = side * bins
                anchorDFL -= distributions.logProbabilities[(base + left) * anchors + a] * wl
                    + distributions.logProbabilities[(base + right) * anchors + a] * wr
                // d distance/d logit_k = p_k (k − distance); d(−log p_j)/d logit_k = p_k − [k = j].
                let distance = distributions.distances[side * anchors + a]
                for k in 0..<bins {
                    let i = (base + k) * anchors + a
                    let pk = distributions.probabilities[i]
                    var g = distanceGradient[side] * pk * (Double(k) - distance) + dflCoefficient * pk
                    if k == left { g -= dflCoefficient * wl }
                    if k == right { g -= dflCoefficient * wr }
                    boxGradient[i] += g
                }
            }
            dflSum += anchorDFL / 4 * weight
        }
        for c in 0..<classes {
            for a in 0..<anchors {
                let x = classLogits[c * anchors + a]
                let t = assignment.foreground[a] && assignment.targetClass[a] == c ? assignment.targetScore[a] : 0
                // BCE with logits, stable: max(x, 0) − x·t + log(1 + e^−|x|); gradient σ(x) − t.
                clsSum += max(x, 0) - x * t + log1p(exp(-abs(x)))
                classGradient[c * anchors + a] += gains.cls * (1 / (1 + exp(-x)) - t)
            }
        }
        return (boxSum, clsSum, dflSum)
    }

    /// A ground-truth box in grid units of a level (`target_bboxes / stride_tensor`, divided in Float).
    static func gridBox(_ gt: GroundTruthBox, stride s: Float) -> BoxCorners {
        BoxCorners(x1: Double(gt.x1 / s), y1: Double(gt.y1 / s), x2: Double(gt.x2 / s), y2: Double(gt.y2 / s))
    }

    /// Image b's targets in pixel corners, as `v8DetectionLoss.preprocess` makes them (Float: xywh · size, then
    /// centre ∓ half size).
    func pixelBoxes(_ targets: [DetectionTarget], image: Int, width: Float, height: Float) throws -> [GroundTruthBox] {
        try targets.map { t in
            guard (0..<classes).contains(t.classIndex) else {
                throw DetectionLossError.classOutOfRange(image: image, classIndex: t.classIndex, classes: classes)
            }
            let cx = t.x * width, cy = t.y * height, hw = t.width * width / 2, hh = t.height * height / 2
            return GroundTruthBox(classIndex: t.classIndex, x1: cx - hw, y1: cy - hh, x2: cx + hw, y2: cy + hh)
        }
    }

    /// Image b's maps of every level as one [channels, anchors] Double array (Ultralytics' concatenated head output).
    private func gather(_ levels: [DetectionLevelOutputs], _ grid: AnchorGrid, image b: Int, channels: Int,
                        _ field: KeyPath<DetectionLevelOutputs, [Float]>) -> [Double] {
        var out = [Double](repeating: 0, count: channels * grid.count)
        for (l, level) in levels.enumerated() {
            let plane = level.height * level.width, offset = grid.levelOffsets[l]
            level[keyPath: field].withUnsafeBufferPointer { src in
                for c in 0..<channels {
                    let from = (b * channels + c) * plane, to = c * grid.count + offset
                    for i in 0..<plane { out[to + i] = Double(src[from + i]) }
                }
            }
        }
        return out
    }

    /// The inverse of `gather`: a [channels, anchors] gradient into image b's maps of every level.
    private func scatter(_ values: [Double], into gradients: inout [DetectionLevelGradients], _ grid: AnchorGrid, image b: Int,
                         channels: Int, _ field: WritableKeyPath<DetectionLevelGradients, [Float]>) {
        for l in gradients.indices {
            let plane = (l + 1 < grid.levelOffsets.count ? grid.levelOffsets[l + 1] : grid.count) - grid.levelOffsets[l]
            let offset = grid.levelOffsets[l]
            gradients[l][keyPath: field].withUnsafeMutableBufferPointer { dst in
                for c in 0..<channels {
                    let to = (b * channels + c) * plane, from = c * grid.count + offset
                    for i in 0..<plane { dst[to + i] = Float(values[from + i]) }
                }
            }
        }
    }
}

/// The box branch of one image read as distributions: per anchor and side a softmax over regMax bins whose
/// expectation is the distance (grid units) from the anchor to that side of the box. Layout [4·regMax, anchors].
struct BoxDistributions {
    let regMax: Int
    let anchors: Int
    /// softmax over the bins, [4·regMax, anchors]
    var probabilities: [Double]
    /// log-softmax over the bins, [4·regMax, anchors]
    var logProbabilities: [Double]
    /// Σ_k p_k·k per side, [4, anchors]: left, top, right, bottom
    var distances: [Double]

    init(logits: [Double], anchors: Int, regMax: Int) {
        self.regMax = regMax
        self.anchors = anchors
        probabilities = [Double](repeating: 0, count: logits.count)
        logProbabilities = probabilities
        distances = [Double](repeating: 0, count: 4 * anchors)
        for side in 0..<4 {
            for a in 0..<anchors {
                let base = side * regMax * anchors + a
                var top = -Double.infinity
                for k in 0..<regMax { top = max(top, logits[base + k * anchors]) }
                var total = 0.0
                for k in 0..<regMax { total += exp(logits[base + k * anchors] - top) }
                let logTotal = log(total)
                var expectation = 0.0
                for k in 0..<regMax {
                    let logP = logits[base + k * anchors] - top - logTotal
                    logProbabilities[base + k * anchors] = logP
                    probabilities[base + k * anchors] = exp(logP)
                    expectation += exp(logP) * Double(k)
                }
                distances[side * anchors + a] = expectation
            }
        }
    }

    /// The decoded box of anchor `a` at `point` (grid units): point ∓ distances.
    func box(anchor a: Int, at point: (x: Float, y: Float)) -> BoxCorners {
        let x = Double(point.x), y = Double(point.y)
        return BoxCorners(x1: x - distances[a], y1: y - distances[anchors + a],
                          x2: x + distances[2 * anchors + a], y2: y + distances[3 * anchors + a])
    }
}
