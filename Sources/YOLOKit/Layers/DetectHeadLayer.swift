import Foundation

/// Ultralytics `Detect` inference decode. Inputs: per level i, the box branch [4·regMax, h_i, w_i] then the
/// class branch [nc, h_i, w_i] (2·levels inputs). Output [4 + nc, 1, N], N = Σ h_i·w_i (levels in order,
/// cells row-major): box then sigmoid class scores, boxes in input pixels. Box decode: with regMax > 1
/// (DFL) each side's distance is Σ_b b·softmax(bins)_b, else the raw value; anchor = cell + 0.5;
/// (x1, y1) = anchor − (l, t), (x2, y2) = anchor + (r, b); as (cx, cy, w, h) unless `xyxy`; × stride.
public final class DetectHeadLayer: NetworkLayer {
    public let kind = "detect"
    public let outputShape: TensorShape
    public let classes: Int
    public let regMax: Int
    public let strides: [Float]
    public let levelShapes: [TensorShape]  // (h, w) of each level
    public let xyxy: Bool

    public init(levelShapes: [TensorShape], classes: Int, regMax: Int, strides: [Float], xyxy: Bool) {
        precondition(levelShapes.count == strides.count)
        self.levelShapes = levelShapes
        self.classes = classes
        self.regMax = regMax
        self.strides = strides
        self.xyxy = xyxy
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
