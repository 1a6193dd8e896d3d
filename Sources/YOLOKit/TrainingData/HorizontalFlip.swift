/// Ultralytics' `RandomFlip(direction="horizontal")`: with probability p the image is mirrored left–right and
/// every box with it (x → width − x).
public enum HorizontalFlip {
    public static func apply(_ item: inout LabelledImage) {
        let w = item.image.width, h = item.image.height
        item.image.pixels.withUnsafeMutableBufferPointer { px in
            for row in 0..<h {
                var left = row * w * 3, right = (row * w + w - 1) * 3
                while left < right {
                    for c in 0..<3 { px.swapAt(left + c, right + c) }
                    left += 3; right -= 3
                }
            }
        }
        let fw = Float(w)
        item.boxes = item.boxes.map { LabelledBox(classIndex: $0.classIndex, x1: fw - $0.x2, y1: $0.y1, x2: fw - $0.x1, y2: $0.y2) }
    }
}
