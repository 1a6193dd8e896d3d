/// A rectangle of pixels: columns x0..<x1, rows y0..<y1.
public struct PixelRect: Equatable, Sendable {
    public var x0: Int, y0: Int, x1: Int, y1: Int
    public init(x0: Int, y0: Int, x1: Int, y1: Int) { self.x0 = x0; self.y0 = y0; self.x1 = x1; self.y1 = y1 }

    public var width: Int { x1 - x0 }
    public var height: Int { y1 - y0 }
    public var isEmpty: Bool { x0 >= x1 || y0 >= y1 }

    public func contains(x: Int, y: Int) -> Bool { x >= x0 && x < x1 && y >= y0 && y < y1 }

    /// The part inside both rectangles (empty when they do not overlap).
    public func intersection(_ other: PixelRect) -> PixelRect {
        PixelRect(x0: max(x0, other.x0), y0: max(y0, other.y0), x1: min(x1, other.x1), y1: min(y1, other.y1))
    }

    /// Shrunk by `d` pixels on every side (grown when `d` is negative).
    public func insetBy(_ d: Int) -> PixelRect { PixelRect(x0: x0 + d, y0: y0 + d, x1: x1 - d, y1: y1 - d) }
}

/// Where text sits relative to the point it is drawn at.
public enum TextAlignment: Sendable {
    case leading, center, trailing
}

/// Where text sits vertically relative to the point it is drawn at: `top` of the font cell, `middle` of the
/// capitals (so digits centre on a tick), `bottom` of the font cell (descenders included).
public enum TextBaseline: Sendable {
    case top, middle, bottom
}

/// An RGB drawing surface for charts: filled rectangles, lines of any width, text at integer scales of the
/// project's bitmap font (horizontal, or turned to read bottom to top), everything clipped to `clip`.
public struct Canvas: Sendable {
    public private(set) var image: RGBImage
    /// Drawing outside this rectangle is dropped (the whole canvas unless set).
    public var clip: PixelRect

    public init(width: Int, height: Int, background: RGBColor = RGBColor(255, 255, 255)) {
        image = RGBImage(width: width, height: height, fill: (background.r, background.g, background.b))
        clip = PixelRect(x0: 0, y0: 0, x1: width, y1: height)
    }

    public var width: Int { image.width }
    public var height: Int { image.height }
    public var bounds: PixelRect { PixelRect(x0: 0, y0: 0, x1: width, y1: height) }

    /// The color at (x, y) (for tests).
    public func pixel(x: Int, y: Int) -> RGBColor {
        let i = (y * width + x) * 3
        return RGBColor(image.pixels[i], image.pixels[i + 1], image.pixels[i + 2])
    }

    // MARK: Shapes

    /// Fills `rect`, clipped.
    public mutating func fill(_ rect: PixelRect, color: RGBColor) {
        let r = rect.intersection(clip)
        guard !r.isEmpty else { return }
        Drawing.fill(&image, x0: r.x0, y0: r.y0, x1: r.x1, y1: r.y1, color: color)
    }

    /// The outline of `rect`, `lineWidth` pixels wide, inside it.
    public mutating func stroke(_ rect: PixelRect, lineWidth: Int = 1, color: RGBColor) {
        let w = lineWidth
        fill(PixelRect(x0: rect.x0, y0: rect.y0, x1: rect.x1, y1: rect.y0 + w), color: color)
        fill(PixelRect(x0: rect.x0, y0: rect.y1 - w, x1: rect.x1, y1: rect.y1), color: color)
        fill(PixelRect(x0: rect.x0, y0: rect.y0, x1: rect.x0 + w, y1: rect.y1), color: color)
        fill(PixelRect(x0: rect.x1 - w, y0: rect.y0, x1: rect.x1, y1: rect.y1), color: color)
    }

    /// A straight line between two points (pixel centres at integer + 0.5), `lineWidth` pixels thick with
    /// round ends.
    public mutating func line(from a: (x: Double, y: Double), to b: (x: Double, y: Double), lineWidth: Int, color: RGBColor) {
        let pen = Pen(width: lineWidth)
        let steps = max(1, Int((max(abs(b.x - a.x), abs(b.y - a.y)) * 2).rounded(.up)))
        var last: (Int, Int)? = nil
        for s in 0...steps {
            let t = Double(s) / Double(steps)
            let x = Int((a.x + (b.x - a.x) * t).rounded(.down)), y = Int((a.y + (b.y - a.y) * t).rounded(.down))
            if let l = last, l == (x, y) { continue }
            last = (x, y)
            stamp(pen, x: x, y: y, color: color)
        }
    }

    /// Connected line segments through `points`; a point with a NaN or infinite coordinate breaks the line.
    public mutating func polyline(_ points: [(x: Double, y: Double)], lineWidth: Int, color: RGBColor) {
        var previous: (x: Double, y: Double)? = nil
        for p in points {
            guard p.x.isFinite, p.y.isFinite else { previous = nil; continue }
            line(from: previous ?? p, to: p, lineWidth: lineWidth, color: color)
            previous = p
        }
    }

    /// A round brush: for each row of the disc, the columns it covers, relative to the centre pixel.
    private struct Pen {
        var spans: [(dy: Int, dx0: Int, dx1: Int)] = []
        init(width: Int) {
            let w = max(1, width), c = Double(w - 1) / 2, r2 = Double(w * w) / 4 + 0.25
            for row in 0..<w {
                let cols = (0..<w).filter { col in
                    let dx = Double(col) - c, dy = Double(row) - c
                    return dx * dx + dy * dy <= r2
                }
                if let lo = cols.first, let hi = cols.last { spans.append((row - w / 2, lo - w / 2, hi - w / 2 + 1)) }
            }
        }
    }

    private mutating func stamp(_ pen: Pen, x: Int, y: Int, color: RGBColor) {
        for s in pen.spans {
            fill(PixelRect(x0: x + s.dx0, y0: y + s.dy, x1: x + s.dx1, y1: y + s.dy + 1), color: color)
        }
    }

    // MARK: Text

    /// Size of `text` at `scale` (the full font cell, descenders included).
    public static func textSize(_ text: String, scale: Int) -> (width: Int, height: Int) {
        Drawing.textSize(text, scale: scale)
    }

    /// Height of capitals and digits at `scale`.
    public static func capHeight(scale: Int) -> Int { 7 * scale }

    /// Draws `text` horizontally, placed relative to (x, y) by `alignment` and `baseline`.
    public mutating func text(_ text: String, x: Int, y: Int, scale: Int, color: RGBColor,
                              alignment: TextAlignment = .leading, baseline: TextBaseline = .top) {
        let size = Self.textSize(text, scale: scale)
        let left: Int
        switch alignment {
        case .leading: left = x
        case .center: left = x - size.width / 2
        case .trailing: left = x - size.width
        }
        let top: Int
        switch baseline {
        case .top: top = y
        case .middle: top = y - Self.capHeight(scale: scale) / 2
        case .bottom: top = y - size.height
        }
        drawGlyphs(text, scale: scale, color: color) { gx, gy in (left + gx, top + gy) }
    }

    /// Draws `text` turned a quarter turn counter-clockwise (reading bottom to top, as a y-axis label).
    /// `alignment` places it along the vertical (leading = starts at y and goes up, center = centred on y,
    /// trailing = ends at y); `baseline` places it across: top = the tops of the letters face x (on its left),
    /// middle = capitals centred on x, bottom = the cell's bottom at x (the text lies right of x).
    public mutating func verticalText(_ text: String, x: Int, y: Int, scale: Int, color: RGBColor,
                                      alignment: TextAlignment = .center, baseline: TextBaseline = .middle) {
        let size = Self.textSize(text, scale: scale)
        let start: Int  // the row where the text begins (its bottom end)
        switch alignment {
        case .leading: start = y
        case .center: start = y + size.width / 2
        case .trailing: start = y + size.width
        }
        let topColumn: Int  // the column holding the tops of the glyphs
        switch baseline {
        case .top: topColumn = x
        case .middle: topColumn = x - Self.capHeight(scale: scale) / 2
        case .bottom: topColumn = x - size.height
        }
        // Font pixel (gx along the text, gy down the glyph) goes to column topColumn + gy, row start - 1 - gx.
        drawGlyphs(text, scale: scale, color: color) { gx, gy in (topColumn + gy, start - gx - scale) }
    }

    /// Every ink square of `text` (scale × scale, at offset (gx, gy) from the text's top-left corner), placed
    /// by `place`.
    private mutating func drawGlyphs(_ text: String, scale: Int, color: RGBColor, place: (Int, Int) -> (Int, Int)) {
        var left = 0
        for c in text {
            if let rows = BitmapFont.glyph(c) {
                for (row, mask) in rows.enumerated() where mask != 0 {
                    for col in 0..<BitmapFont.width where mask & (1 << (BitmapFont.width - 1 - col)) != 0 {
                        let (x, y) = place(left + col * scale, row * scale)
                        fill(PixelRect(x0: x, y0: y, x1: x + scale, y1: y + scale), color: color)
                    }
                }
            }
            left += BitmapFont.advance * scale
        }
    }
}
