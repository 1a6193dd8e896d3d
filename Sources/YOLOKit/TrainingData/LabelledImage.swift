/// One object of a training image: its class and its box in the image's pixels (x1, y1, x2, y2).
public struct LabelledBox: Equatable, Sendable {
    public var classIndex: Int
    public var x1: Float, y1: Float, x2: Float, y2: Float

    public init(classIndex: Int, x1: Float, y1: Float, x2: Float, y2: Float) {
        self.classIndex = classIndex
        self.x1 = x1; self.y1 = y1; self.x2 = x2; self.y2 = y2
    }

    public var width: Float { x2 - x1 }
    public var height: Float { y2 - y1 }
}

/// An image with its boxes, as it moves through the augmentations (every step transforms both together).
public struct LabelledImage: Equatable, Sendable {
    public var image: RGBImage
    public var boxes: [LabelledBox]

    public init(image: RGBImage, boxes: [LabelledBox]) {
        self.image = image
        self.boxes = boxes
    }

    /// YOLO label rows (normalized centre / size) placed on `image`.
    public init(image: RGBImage, labels: [YOLOLabel]) {
        let w = Float(image.width), h = Float(image.height)
        self.init(image: image, boxes: labels.map {
            LabelledBox(classIndex: $0.classIndex, x1: ($0.cx - $0.w / 2) * w, y1: ($0.cy - $0.h / 2) * h,
                        x2: ($0.cx + $0.w / 2) * w, y2: ($0.cy + $0.h / 2) * h)
        })
    }

    /// The loss's targets: normalized centre x / y and size (Ultralytics' Format(normalize=True)).
    public var targets: [DetectionTarget] {
        let w = Float(image.width), h = Float(image.height)
        return boxes.map {
            DetectionTarget(classIndex: $0.classIndex, x: ($0.x1 + $0.x2) / 2 / w, y: ($0.y1 + $0.y2) / 2 / h,
                            width: $0.width / w, height: $0.height / h)
        }
    }

    /// Boxes clipped to the image, those left without area dropped.
    mutating func clipBoxes() {
        let w = Float(image.width), h = Float(image.height)
        boxes = boxes.compactMap { b in
            let c = LabelledBox(classIndex: b.classIndex, x1: min(max(b.x1, 0), w), y1: min(max(b.y1, 0), h),
                                x2: min(max(b.x2, 0), w), y2: min(max(b.y2, 0), h))
            return c.width > 0 && c.height > 0 ? c : nil
        }
    }
}
