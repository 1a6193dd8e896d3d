/// Ultralytics' `LetterBox(new_shape=(s, s), scaleup=False)` of the training pipeline without mosaic: an image
/// whose long side is at most `size` (what `TrainingImageLoading` gives) centred on a size×size canvas of gray 114,
/// left / top padding round(d/2 − 0.1). (An image larger than `size` is first shrunk to fit.)
public enum SquareLetterbox {
    public static let padValue: UInt8 = 114

    public static func apply(_ input: LabelledImage, size: Int) -> LabelledImage {
        var item = input
        if item.image.width > size || item.image.height > size {
            let r = min(Double(size) / Double(item.image.width), Double(size) / Double(item.image.height))
            let w = max(1, Int((Double(item.image.width) * r).rounded(.toNearestOrEven))), h = max(1, Int((Double(item.image.height) * r).rounded(.toNearestOrEven)))
            let sx = Float(w) / Float(item.image.width), sy = Float(h) / Float(item.image.height)
            item.image = resizeBilinear(item.image, width: w, height: h)
            item.boxes = item.boxes.map { LabelledBox(classIndex: $0.classIndex, x1: $0.x1 * sx, y1: $0.y1 * sy, x2: $0.x2 * sx, y2: $0.y2 * sy) }
        }
        let dw = Double(size - item.image.width) / 2, dh = Double(size - item.image.height) / 2
        let left = Int((dw - 0.1).rounded(.toNearestOrEven)), top = Int((dh - 0.1).rounded(.toNearestOrEven))
        var canvas = RGBImage(width: size, height: size, fill: (padValue, padValue, padValue))
        paste(item.image, into: &canvas, x: left, y: top)
        let (fx, fy) = (Float(left), Float(top))
        return LabelledImage(image: canvas, boxes: item.boxes.map {
            LabelledBox(classIndex: $0.classIndex, x1: $0.x1 + fx, y1: $0.y1 + fy, x2: $0.x2 + fx, y2: $0.y2 + fy)
        })
    }

    /// Copies `image` onto `canvas` with its top-left at (x, y); what falls outside the canvas is cut off.
    static func paste(_ image: RGBImage, into canvas: inout RGBImage, x: Int, y: Int) {
        let x0 = max(x, 0), y0 = max(y, 0), x1 = min(x + image.width, canvas.width), y1 = min(y + image.height, canvas.height)
        guard x0 < x1, y0 < y1 else { return }
        let cw = canvas.width, iw = image.width
        image.pixels.withUnsafeBufferPointer { src in
            canvas.pixels.withUnsafeMutableBufferPointer { dst in
                for row in y0..<y1 {
                    let s = ((row - y) * iw + (x0 - x)) * 3, d = (row * cw + x0) * 3
                    for i in 0..<(x1 - x0) * 3 { dst[d + i] = src[s + i] }
                }
            }
        }
    }
}
