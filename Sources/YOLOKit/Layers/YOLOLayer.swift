import Foundation

/// Darknet [yolo] head. Input: the conv output [A·(5+C), H, W] for the A anchors in `mask`; per anchor the
/// channels are tx, ty, tw, th, objectness, C class logits. `forward` applies the logistic to tx, ty,
/// objectness and classes (w, h stay raw; with `newCoords` the conv already applied it, so nothing is done).
/// `decode` turns the activated map into boxes in network-input pixels.
public final class YOLOLayer: NetworkLayer, DetectionHead {
    public let kind = "yolo"
    public let outputShape: TensorShape
    public let classes: Int
    public let anchors: [(w: Float, h: Float)]  // the masked anchors, network pixels
    public let scaleXY: Float
    public let newCoords: Bool
    public let networkWidth: Int
    public let networkHeight: Int

    public init(inputShape: TensorShape, classes: Int, anchors: [(w: Float, h: Float)], scaleXY: Float, newCoords: Bool,
                networkWidth: Int, networkHeight: Int) {
        precondition(inputShape.channels == anchors.count * (5 + classes))
        outputShape = inputShape
        self.classes = classes
        self.anchors = anchors
        self.scaleXY = scaleXY
        self.newCoords = newCoords
        self.networkWidth = networkWidth
        self.networkHeight = networkHeight
    }

    var fields: Int { 5 + classes }

    public func forward(_ inputs: [FeatureMap], into output: FeatureMap, context: ExecutionContext) {
        let plane = outputShape.planeSize
        output.pointer.update(from: inputs[0].pointer, count: outputShape.count)
        guard !newCoords else { return }
        for a in 0..<anchors.count {
            let base = output.pointer + a * fields * plane
            Activation.logistic.applyWithBias(base, bias: nil, channels: 2, plane: plane, threads: 1)
            Activation.logistic.applyWithBias(base + 4 * plane, bias: nil, channels: 1 + classes, plane: plane, threads: context.threads)
        }
    }

    /// Box of anchor `a` at cell (x, y) as fractions of the network input (centre, size) and its objectness,
    /// read from the activated output. Centre: (cell + t·s − (s − 1)/2) / grid with s = scale_x_y; size:
    /// exp(t)·anchor, or (2·t)²·anchor for scaled-YOLOv4 heads whose conv already applied the logistic.
    @inline(__always)
    public func prediction(_ output: FeatureMap, anchor a: Int, x: Int, y: Int) -> (cx: Float, cy: Float, w: Float, h: Float, objectness: Float) {
        let plane = outputShape.planeSize, i = y * outputShape.width + x
        let base = output.pointer + a * fields * plane
        let tx = base[i], ty = base[plane + i], tw = base[2 * plane + i], th = base[3 * plane + i]
        let offset = (scaleXY - 1) / 2
        return ((Float(x) + tx * scaleXY - offset) / Float(outputShape.width),
                (Float(y) + ty * scaleXY - offset) / Float(outputShape.height),
                (newCoords ? 4 * tw * tw : exp(tw)) * anchors[a].w / Float(networkWidth),
                (newCoords ? 4 * th * th : exp(th)) * anchors[a].h / Float(networkHeight),
                base[4 * plane + i])
    }

    /// Probability of class `c` given an object, for anchor `a` at cell (x, y).
    @inline(__always)
    public func classProbability(_ output: FeatureMap, anchor a: Int, x: Int, y: Int, class c: Int) -> Float {
        let plane = outputShape.planeSize
        return output.pointer[(a * fields + 5 + c) * plane + y * outputShape.width + x]
    }

    /// Boxes whose objectness·class probability exceeds `threshold`, one candidate per (cell, anchor, class)
    /// like Darknet: always multi-label. Box coordinates are network-input pixels.
    public func candidates(_ output: FeatureMap, confidence threshold: Float, multiLabel: Bool) -> [HeadCandidate] {
        let netW = Float(networkWidth), netH = Float(networkHeight)
        var found: [HeadCandidate] = []
        for a in 0..<anchors.count {
            for y in 0..<outputShape.height {
                for x in 0..<outputShape.width {
                    let p = prediction(output, anchor: a, x: x, y: y)
                    guard p.objectness > threshold else { continue }  // no class can score above it
                    let box = Box(cx: p.cx * netW, cy: p.cy * netH, w: p.w * netW, h: p.h * netH)
                    for c in 0..<classes {
                        let score = p.objectness * classProbability(output, anchor: a, x: x, y: y, class: c)
                        if score > threshold { found.append(HeadCandidate(classIndex: c, confidence: score, box: box)) }
                    }
                }
            }
        }
        return found
    }
}
