import Foundation

/// An RGB color.
public struct RGBColor: Equatable, Sendable {
    public var r: UInt8, g: UInt8, b: UInt8
    public init(_ r: UInt8, _ g: UInt8, _ b: UInt8) { self.r = r; self.g = g; self.b = b }

    /// Perceived brightness 0…255 (Rec. 601 weights).
    public var luma: Int { (299 * Int(r) + 587 * Int(g) + 114 * Int(b)) / 1000 }
}

/// Boxes and labels drawn onto images (`--save-image`), with the project's own bitmap font.
public enum Drawing {
    /// A distinct, stable color per class: hues a golden-ratio step apart, saturated and bright.
    public static func color(forClass index: Int) -> RGBColor {
        let hue = (Double(index) * 0.618_033_988_749_895 + 0.05).truncatingRemainder(dividingBy: 1)
        return hsv(hue: hue, saturation: 0.85, value: 0.95)
    }

    static func hsv(hue: Double, saturation s: Double, value v: Double) -> RGBColor {
        let h = hue * 6, i = Int(h) % 6, f = h - Double(Int(h))
        let p = v * (1 - s), q = v * (1 - s * f), t = v * (1 - s * (1 - f))
        let (r, g, b): (Double, Double, Double) = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i]
        func byte(_ x: Double) -> UInt8 { UInt8(max(0, min(255, (x * 255).rounded()))) }
        return RGBColor(byte(r), byte(g), byte(b))
    }

    /// Line width for an image, as Ultralytics picks it: about 0.3 % of the mean side, at least 2 px.
    public static func lineWidth(width: Int, height: Int) -> Int {
        max(Int((Double(width + height) / 2 * 0.003).rounded()), 2)
    }

    /// Fills the rectangle [x0, x1) × [y0, y1), clipped to the image.
    public static func fill(_ image: inout RGBImage, x0: Int, y0: Int, x1: Int, y1: Int, color: RGBColor) {
        let xa = max(0, x0), xb = min(image.width, x1), ya = max(0, y0), yb = min(image.height, y1)
        guard xa < xb, ya < yb else { return }
        let w = image.width
        image.pixels.withUnsafeMutableBufferPointer { p in
            for y in ya..<yb {
                var i = (y * w + xa) * 3
                for _ in xa..<xb { p[i] = color.r; p[i + 1] = color.g; p[i + 2] = color.b; i += 3 }
            }
        }
    }

    /// The outline of a box, `thickness` pixels centred on its edges.
    public static func stroke(_ image: inout RGBImage, box: Box, thickness: Int, color: RGBColor) {
        let x1 = Int(box.x1.rounded()), y1 = Int(box.y1.rounded()), x2 = Int(box.x2.rounded()), y2 = Int(box.y2.rounded())
        let a = thickness / 2, b = thickness - a
        fill(&image, x0: x1 - a, y0: y1 - a, x1: x2 + b, y1: y1 + b, color: color)  // top
        fill(&image, x0: x1 - a, y0: y2 - a, x1: x2 + b, y1: y2 + b, color: color)  // bottom
        fill(&image, x0: x1 - a, y0: y1 - a, x1: x1 + b, y1: y2 + b, color: color)  // left
        fill(&image, x0: x2 - a, y0: y1 - a, x1: x2 + b, y1: y2 + b, color: color)  // right
    }

    /// Size in pixels of `text` at `scale` (each font pixel a scale×scale square), without padding.
    public static func textSize(_ text: String, scale: Int) -> (width: Int, height: Int) {
        let n = text.count
        return (n == 0 ? 0 : (n * BitmapFont.advance - 1) * scale, BitmapFont.height * scale)
    }

    /// Draws `text` with its top-left corner at (x, y).
    public static func text(_ image: inout RGBImage, _ text: String, x: Int, y: Int, scale: Int, color: RGBColor) {
        var left = x
        for c in text {
            if let rows = BitmapFont.glyph(c) {
                for (row, mask) in rows.enumerated() where mask != 0 {
                    for col in 0..<BitmapFont.width where mask & (1 << (BitmapFont.width - 1 - col)) != 0 {
                        fill(&image, x0: left + col * scale, y0: y + row * scale, x1: left + (col + 1) * scale,
                             y1: y + (row + 1) * scale, color: color)
                    }
                }
            }
            left += BitmapFont.advance * scale
        }
    }

    /// The label of a detection: "person 0.98".
    public static func label(_ d: Detection) -> String {
        d.name + " " + String(format: "%.2f", d.confidence)
    }

    /// A copy of `image` with every detection's box, and a label (class name and confidence, on a band of the
    /// class color, in black or white, whichever contrasts more) above the box, or inside it at the top edge
    /// of the image. The most confident detections are drawn last (on top).
    public static func annotate(_ image: RGBImage, _ detections: [Detection]) -> RGBImage {
        var out = image
        let lw = lineWidth(width: image.width, height: image.height)
        let scale = max(1, lw * 2 / 3)
        let order = detections.indices.sorted { detections[$0].confidence != detections[$1].confidence
            ? detections[$0].confidence < detections[$1].confidence : $0 > $1 }
        for i in order {
            stroke(&out, box: detections[i].box, thickness: lw, color: color(forClass: detections[i].classIndex))
        }
        for i in order {
            let d = detections[i], c = color(forClass: d.classIndex)
            let text = label(d), size = textSize(text, scale: scale)
            let w = size.width + 2 * scale, h = size.height + 2 * scale
            var x = Int(d.box.x1.rounded()) - lw / 2
            x = max(0, min(x, image.width - w))
            var y = Int(d.box.y1.rounded()) - lw / 2 - h
            if y < 0 { y = max(0, Int(d.box.y1.rounded())) }
            fill(&out, x0: x, y0: y, x1: x + w, y1: y + h, color: c)
            self.text(&out, text, x: x + scale, y: y + scale, scale: scale,
                      color: c.luma > 140 ? RGBColor(0, 0, 0) : RGBColor(255, 255, 255))
        }
        return out
    }
}
