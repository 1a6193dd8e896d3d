import Foundation

/// Ultralytics `Detect` inference decode. Inputs: per level i, the box branch [4·regMax, h_i, w_i] then the
/// class branch [nc, h_i, w_i] (2·levels inputs). Output [4 + nc, 1, N], N = Σ h_i·w_i (levels in order,
/// cells row-major): box then sigmoid class scores, boxes in input pixels. Box decode: with regMax > 1
/// (DFL) each side's distance is Σ_b b·softmax(bins)_b, else the raw value; anchor = cell + 0.5;
/// (x1, y1) = anchor − (l, t), (x2, y2) = anchor + (r, b); as (cx, cy, w, h) unless `xyxy`; × stride.
/// `candidates` reads boxes off that output as Ultralytics' predictor does (see there).
public final class DetectHeadLayer: NetworkLayer, DetectionHead {
    public let kind = "detect"
    public let outputShape: TensorShape
    public let classes: Int
    public let regMax: Int
    public let strides: [Float]
    public let levelShapes: [TensorShape]  // (h, w) of each level
    public let xyxy: Bool
    /// End-to-end (NMS-free, YOLO26 one-to-one) heads: the fixed top-k of `Detect.postprocess` (its `max_det`);
    /// nil for heads whose candidates go through NMS.
    public let endToEndTopK: Int?

    public init(levelShapes: [TensorShape], classes: Int, regMax: Int, strides: [Float], xyxy: Bool, endToEndTopK: Int? = nil) {
        precondition(levelShapes.count == strides.count)
        self.levelShapes = levelShapes
        self.classes = classes
        self.regMax = regMax
        self.strides = strides
        self.xyxy = xyxy
        self.endToEndTopK = endToEndTopK
        outputShape = TensorShape(channels: 4 + classes, height: 1, width: levelShapes.reduce(0) { $0 + $1.planeSize })
    }

    public var anchorCount: Int { outputShape.width }

    /// Scratch: the four decoded distances (l, t, r, b) of the largest level, [4, plane].
    public var workspaceSize: Int { 4 * (levelShapes.map(\.planeSize).max() ?? 0) }

    public func forward(_ inputs: [FeatureMap], into output: FeatureMap, context: ExecutionContext) {
        let total = anchorCount
        let out = output.pointer
        let dist = context.workspace.pointer
        var base = 0
        for (level, shape) in levelShapes.enumerated() {
            let box = inputs[2 * level].pointer, cls = inputs[2 * level + 1].pointer
            let plane = shape.planeSize, stride = strides[level]
            // Distances [4, plane]: DFL expectation per side (vectorized over cells), or the raw values.
            for side in 0..<4 {
                if regMax > 1 {
                    softmaxExpectation(box + side * regMax * plane, bins: regMax, plane: plane, into: dist + side * plane)
                } else {
                    (dist + side * plane).update(from: box + side * plane, count: plane)
                }
            }
            for y in 0..<shape.height {
                for x in 0..<shape.width {
                    let cell = y * shape.width + x, a = base + cell
                    let ax = Float(x) + 0.5, ay = Float(y) + 0.5
                    let x1 = ax - dist[cell], y1 = ay - dist[plane + cell], x2 = ax + dist[2 * plane + cell], y2 = ay + dist[3 * plane + cell]
                    if xyxy {
                        out[a] = x1 * stride; out[total + a] = y1 * stride; out[2 * total + a] = x2 * stride; out[3 * total + a] = y2 * stride
                    } else {
                        out[a] = (x1 + x2) / 2 * stride; out[total + a] = (y1 + y2) / 2 * stride
                        out[2 * total + a] = (x2 - x1) * stride; out[3 * total + a] = (y2 - y1) * stride
                    }
                }
            }
            for c in 0..<classes { sigmoidRow(cls + c * plane, into: out + (4 + c) * total + base, count: plane) }
            base += plane
        }
    }
}

extension DetectHeadLayer {
    /// Candidates as Ultralytics reads the output [4 + nc, N]. NMS heads: per anchor the best class above
    /// `confidence` (predict), or every class above it with `multiLabel` (val's `multi_label=True`). End-to-end
    /// heads, as `Detect.postprocess`: the k anchors with the highest best-class score, then the k highest
    /// (anchor, class) scores among them; the predictor then keeps scores above `confidence`.
    public func candidates(_ output: FeatureMap, confidence: Float, multiLabel: Bool) -> [HeadCandidate] {
        let n = output.shape.width, nc = classes, p = output.pointer
        func box(_ a: Int) -> Box {
            xyxy ? Box(x1: p[a], y1: p[n + a], x2: p[2 * n + a], y2: p[3 * n + a])
                : Box(cx: p[a], cy: p[n + a], w: p[2 * n + a], h: p[3 * n + a])
        }
        func score(_ a: Int, _ c: Int) -> Float { p[(4 + c) * n + a] }
        guard let topK = endToEndTopK else {
            var found: [HeadCandidate] = []
            for a in 0..<n {
                if multiLabel {
                    for c in 0..<nc where score(a, c) > confidence { found.append(HeadCandidate(classIndex: c, confidence: score(a, c), box: box(a))) }
                    continue
                }
                var best = 0
                for c in 1..<max(nc, 1) where score(a, c) > score(a, best) { best = c }
                let s = score(a, best)
                if s > confidence { found.append(HeadCandidate(classIndex: best, confidence: s, box: box(a))) }
            }
            return found
        }
        let k = min(topK, n)
        let bestScore = (0..<n).map { a in (0..<nc).reduce(-Float.infinity) { max($0, score(a, $1)) } }
        let anchors = (0..<n).sorted { bestScore[$0] != bestScore[$1] ? bestScore[$0] > bestScore[$1] : $0 < $1 }.prefix(k)
        var pairs: [(score: Float, anchor: Int, cls: Int)] = []
        for (rank, a) in anchors.enumerated() { for c in 0..<nc { pairs.append((score(a, c), rank, c)) } }
        pairs.sort { $0.score != $1.score ? $0.score > $1.score : ($0.anchor * nc + $0.cls) < ($1.anchor * nc + $1.cls) }
        let ranked = Array(anchors)
        return pairs.prefix(k).filter { $0.score > confidence }.map {
            HeadCandidate(classIndex: $0.cls, confidence: $0.score, box: box(ranked[$0.anchor]))
        }
    }
}
