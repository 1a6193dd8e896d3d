/// Ultralytics' 4-image `Mosaic` (data/augment.py): four images (long side ≤ s, as `TrainingImageLoading` gives)
/// placed around a centre (xc, yc) drawn uniformly in [s/2, 3s/2) on a 2s×2s canvas of gray 114 — top-left,
/// top-right, bottom-left, bottom-right, each cut where it leaves the canvas — boxes shifted with them, clipped to the
/// canvas and dropped when no area is left. `RandomAffine` with border −s/2 then crops it back to s×s.
public enum Mosaic {
    public static func combine(_ images: [LabelledImage], size s: Int, random: inout SplitMix64) -> LabelledImage {
        precondition(images.count == 4, "a mosaic takes four images")
        let yc = Int(random.uniform(Double(s) / 2, 1.5 * Double(s))), xc = Int(random.uniform(Double(s) / 2, 1.5 * Double(s)))
        var canvas = RGBImage(width: 2 * s, height: 2 * s, fill: (SquareLetterbox.padValue, SquareLetterbox.padValue, SquareLetterbox.padValue))
        var boxes: [LabelledBox] = []
        for (i, item) in images.enumerated() {
            let w = item.image.width, h = item.image.height
            // The patch's place on the canvas (a) and the part of the image it shows (b).
            let a: (x1: Int, y1: Int, x2: Int, y2: Int), b: (x1: Int, y1: Int)
            switch i {
            case 0:
                a = (max(xc - w, 0), max(yc - h, 0), xc, yc)
                b = (w - (a.x2 - a.x1), h - (a.y2 - a.y1))
            case 1:
                a = (xc, max(yc - h, 0), min(xc + w, 2 * s), yc)
                b = (0, h - (a.y2 - a.y1))
            case 2:
                a = (max(xc - w, 0), yc, xc, min(2 * s, yc + h))
                b = (w - (a.x2 - a.x1), 0)
            default:
                a = (xc, yc, min(xc + w, 2 * s), min(2 * s, yc + h))
                b = (0, 0)
            }
            let padW = a.x1 - b.x1, padH = a.y1 - b.y1
            copy(item.image, from: b, into: &canvas, at: (a.x1, a.y1), width: a.x2 - a.x1, height: a.y2 - a.y1)
            let (fx, fy) = (Float(padW), Float(padH))
            boxes += item.boxes.map { LabelledBox(classIndex: $0.classIndex, x1: $0.x1 + fx, y1: $0.y1 + fy, x2: $0.x2 + fx, y2: $0.y2 + fy) }
        }
        var out = LabelledImage(image: canvas, boxes: boxes)
        out.clipBoxes()
        return out
    }

    private static func copy(_ image: RGBImage, from b: (x1: Int, y1: Int), into canvas: inout RGBImage, at a: (x: Int, y: Int), width: Int, height: Int) {
        guard width > 0, height > 0 else { return }
        let cw = canvas.width, iw = image.width
        image.pixels.withUnsafeBufferPointer { src in
            canvas.pixels.withUnsafeMutableBufferPointer { dst in
                for row in 0..<height {
                    let s = ((b.y1 + row) * iw + b.x1) * 3, d = ((a.y + row) * cw + a.x) * 3
                    for i in 0..<width * 3 { dst[d + i] = src[s + i] }
                }
            }
        }
    }
}
