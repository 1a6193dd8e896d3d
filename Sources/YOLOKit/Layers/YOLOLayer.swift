import Foundation

/// Darknet [yolo] head. Input: the conv output [A·(5+C), H, W] for the A anchors in `mask`; per anchor the
/// channels are tx, ty, tw, th, objectness, C class logits. `forward` applies the logistic to tx, ty,
/// objectness and classes (w, h stay raw; with `newCoords` the conv already applied it, so nothing is done).
/// `decode` turns the activated map into boxes in network-input pixels.
public final class YOLOLayer: NetworkLayer {
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

    /// Boxes whose objectness·class probability exceeds `threshold`, one candidate per (cell, anchor, class)
    /// like Darknet (multi-label). Box coordinates are network-input pixels.
    public func decode(_ output: FeatureMap, threshold: Float) -> [(classIndex: Int, confidence: Float, box: Box)] {
        let h = outputShape.height, w = outputShape.width, plane = outputShape.planeSize
        let p = output.pointer
        let offset = (scaleXY - 1) / 2
        var found: [(classIndex: Int, confidence: Float, box: Box)] = []
        for a in 0..<anchors.count {
            let base = p + a * fields * plane
            for y in 0..<h {
                for x in 0..<w {
                    let i = y * w + x
                    let objectness = base[4 * plane + i]
                    guard objectness > threshold else { continue }
                    let tx = base[i], ty = base[plane + i], tw = base[2 * plane + i], th = base[3 * plane + i]
                    let cx = (Float(x) + tx * scaleXY - offset) / Float(w)
                    let cy = (Float(y) + ty * scaleXY - offset) / Float(h)
                    // Size relative to the network input: exp(t)·anchor, or (2·t)²·anchor for scaled-YOLOv4
                    // heads whose conv already applied the logistic.
                    let bw = (newCoords ? 4 * tw * tw : exp(tw)) * anchors[a].w / Float(networkWidth)
                    let bh = (newCoords ? 4 * th * th : exp(th)) * anchors[a].h / Float(networkHeight)
                    let box = Box(cx: cx * Float(networkWidth), cy: cy * Float(networkHeight),
                                  w: bw * Float(networkWidth), h: bh * Float(networkHeight))
                    for c in 0..<classes {
                        let score = objectness * base[(5 + c) * plane + i]
                        if score > threshold { found.append((c, score, box)) }
                    }
                }
            }
        }
        return found
    }
}
