/// An axis-aligned box in pixel coordinates: (x1, y1) top-left, (x2, y2) bottom-right.
public struct Box: Equatable, Sendable, Codable {
    public var x1: Float
    public var y1: Float
    public var x2: Float
    public var y2: Float

    public init(x1: Float, y1: Float, x2: Float, y2: Float) {
        self.x1 = x1; self.y1 = y1; self.x2 = x2; self.y2 = y2
    }

    /// From a centre and a size.
    public init(cx: Float, cy: Float, w: Float, h: Float) {
        self.init(x1: cx - w / 2, y1: cy - h / 2, x2: cx + w / 2, y2: cy + h / 2)
    }

    public var width: Float { x2 - x1 }
    public var height: Float { y2 - y1 }
    public var area: Float { max(0, width) * max(0, height) }

    /// Intersection over union; 0 when either box is empty.
    public func iou(_ o: Box) -> Float {
        let iw = min(x2, o.x2) - max(x1, o.x1), ih = min(y2, o.y2) - max(y1, o.y1)
        guard iw > 0, ih > 0 else { return 0 }
        let inter = iw * ih
        let union = area + o.area - inter
        return union > 0 ? inter / union : 0
    }

    public func clipped(width w: Float, height h: Float) -> Box {
        Box(x1: min(max(x1, 0), w), y1: min(max(y1, 0), h), x2: min(max(x2, 0), w), y2: min(max(y2, 0), h))
    }
}

/// One detected object.
public struct Detection: Equatable, Sendable {
    public var classIndex: Int
    public var name: String
    public var confidence: Float
    public var box: Box

    public init(classIndex: Int, name: String, confidence: Float, box: Box) {
        self.classIndex = classIndex; self.name = name; self.confidence = confidence; self.box = box
    }
}
