import Foundation

/// A matrix drawn as colored cells, in the style of Ultralytics' confusion-matrix plot (seaborn's heatmap):
/// row labels on the left, column labels below (turned to read upwards when they do not fit across a cell),
/// the value written in each cell when asked, a color bar on the right, a title above.
/// Values below `blankBelow` (and NaN) are left white and unwritten, as Ultralytics sets them to NaN. As there,
/// neither the matrix nor the color bar has an outline.
public struct Heatmap: Sendable {
    /// `values[row][column]`; every row as long as `columnLabels`.
    public var values: [[Double]]
    public var rowLabels: [String]
    public var columnLabels: [String]
    public var title: String
    public var xLabel: String
    public var yLabel: String
    /// Decimals of the numbers written in the cells; nil writes none.
    public var cellDecimals: Int?
    public var blankBelow: Double
    /// Numbers in cells above this value are written white, the others black; nil picks by the cell's
    /// luminance.
    public var whiteTextAbove: Double?
    public var colormap: Colormap
    public var width: Int
    public var height: Int
    /// Labels longer than this are cut and end in "..".
    public var maxLabelCharacters = 14

    public init(values: [[Double]], rowLabels: [String], columnLabels: [String], title: String,
                xLabel: String, yLabel: String, cellDecimals: Int?, blankBelow: Double = 0.005,
                whiteTextAbove: Double? = nil, colormap: Colormap = .blues, width: Int = 1200, height: Int = 900) {
        precondition(values.count == rowLabels.count && values.allSatisfy { $0.count == columnLabels.count },
                     "Heatmap: values must be rowLabels.count × columnLabels.count")
        self.values = values; self.rowLabels = rowLabels; self.columnLabels = columnLabels
        self.title = title; self.xLabel = xLabel; self.yLabel = yLabel
        self.cellDecimals = cellDecimals; self.blankBelow = blankBelow; self.whiteTextAbove = whiteTextAbove
        self.colormap = colormap
        self.width = width; self.height = height
    }

    /// Font scale of labels (the title is one larger): 2 at 800 px.
    public var textScale: Int { max(1, min(width, height) / 400) }

    /// The largest value shown (the top of the color bar); 0 when every cell is blank.
    public var maximum: Double {
        values.joined().filter { isShown($0) }.max() ?? 0
    }

    func isShown(_ v: Double) -> Bool { !v.isNaN && v >= blankBelow }

    private var pad: Int { 6 * textScale }
    /// From the matrix edge to the tick labels: a tick mark (2 font pixels) and a gap (3).
    private var labelGap: Int { 5 * tickLabels.scale }
    private var rows: Int { rowLabels.count }
    private var columns: Int { columnLabels.count }

    /// Scale of the tick labels and how many cells apart they are written, so that they do not overlap.
    var tickLabels: (scale: Int, every: Int) {
        let cell = cellSizeEstimate
        for scale in stride(from: textScale, through: 1, by: -1) where BitmapFont.height * scale + 1 <= cell {
            return (scale, 1)
        }
        return (1, Int((Double(BitmapFont.height + 1) / Double(max(cell, 1))).rounded(.up)))
    }

    /// Cell side before the label margins are known (the matrix filling about 70 % of the short side).
    private var cellSizeEstimate: Int { max(1, Int(Double(min(width, height)) * 0.7) / max(rows, columns, 1)) }

    private func label(_ text: String) -> String { PlotText.truncated(text, to: maxLabelCharacters) }

    /// Whether column labels are written across (they fit in a cell) or upwards.
    var columnLabelsAcross: Bool {
        let scale = tickLabels.scale
        let widest = columnLabels.map { Canvas.textSize(label($0), scale: scale).width }.max() ?? 0
        return widest + 2 * scale <= cellSizeEstimate * tickLabels.every
    }

    /// The layout: the matrix (square cells) and the color bar.
    public var layout: (matrix: PixelRect, cell: Int, colorBar: PixelRect) {
        let s = textScale, ts = tickLabels.scale
        let rowLabelWidth = rowLabels.map { Canvas.textSize(label($0), scale: ts).width }.max() ?? 0
        let columnLabelExtent = columnLabelsAcross ? BitmapFont.height * ts
            : (columnLabels.map { Canvas.textSize(label($0), scale: ts).width }.max() ?? 0)
        let left = pad + BitmapFont.height * s + pad + rowLabelWidth + labelGap
        let top = 2 * pad + BitmapFont.height * (s + 1) + pad
        let bottomSpace = labelGap + columnLabelExtent + pad + BitmapFont.height * s + pad
        let barSpace = pad * 3 + 3 * pad + 7 * s + Canvas.textSize("0.00", scale: s).width + 6 * s + pad
        let cell = max(1, min((width - left - barSpace) / max(columns, 1), (height - top - bottomSpace) / max(rows, 1)))
        let matrix = PixelRect(x0: left, y0: top, x1: left + cell * columns, y1: top + cell * rows)
        let bar = PixelRect(x0: matrix.x1 + 3 * pad, y0: matrix.y0, x1: matrix.x1 + 3 * pad + 3 * pad, y1: matrix.y1)
        return (matrix, cell, bar)
    }

    /// The chart as an image.
    public func render() -> RGBImage {
        var canvas = Canvas(width: width, height: height)
        draw(on: &canvas)
        return canvas.image
    }

    /// Draws the chart onto `canvas` (of this chart's size).
    public func draw(on canvas: inout Canvas) {
        let (matrix, cell, bar) = layout, s = textScale, black = RGBColor(0, 0, 0)
        let top = maximum > 0 ? maximum : 1

        // Cells and their numbers.
        let numberScale: Int? = cellDecimals.flatMap { fittingNumberScale(cell: cell, decimals: $0) }
        for r in 0..<rows {
            for c in 0..<columns {
                let v = values[r][c]
                guard isShown(v) else { continue }
                let rect = PixelRect(x0: matrix.x0 + c * cell, y0: matrix.y0 + r * cell,
                                     x1: matrix.x0 + (c + 1) * cell, y1: matrix.y0 + (r + 1) * cell)
                let color = colormap.color(v / top)
                canvas.fill(rect, color: color)
                if let ns = numberScale, let d = cellDecimals {
                    canvas.text(String(format: "%.\(d)f", v), x: (rect.x0 + rect.x1) / 2, y: (rect.y0 + rect.y1) / 2,
                                scale: ns, color: textColor(value: v, background: color), alignment: .center, baseline: .middle)
                }
            }
        }

        // Tick marks and labels, centred on their cells.
        let (ts, every) = tickLabels, tick = 2 * ts
        for r in stride(from: 0, to: rows, by: every) {
            let y = matrix.y0 + r * cell + cell / 2
            canvas.fill(PixelRect(x0: matrix.x0 - tick, y0: y, x1: matrix.x0, y1: y + 1), color: black)
            canvas.text(label(rowLabels[r]), x: matrix.x0 - labelGap, y: matrix.y0 + r * cell + cell / 2, scale: ts,
                        color: black, alignment: .trailing, baseline: .middle)
        }
        let across = columnLabelsAcross
        for c in stride(from: 0, to: columns, by: every) {
            let x = matrix.x0 + c * cell + cell / 2
            canvas.fill(PixelRect(x0: x, y0: matrix.y1, x1: x + 1, y1: matrix.y1 + tick), color: black)
            if across {
                canvas.text(label(columnLabels[c]), x: x, y: matrix.y1 + labelGap, scale: ts, color: black, alignment: .center)
            } else {
                canvas.verticalText(label(columnLabels[c]), x: x, y: matrix.y1 + labelGap, scale: ts, color: black,
                                    alignment: .trailing, baseline: .middle)
            }
        }
        let columnLabelExtent = across ? BitmapFont.height * ts
            : (columnLabels.map { Canvas.textSize(label($0), scale: ts).width }.max() ?? 0)

        // Axis labels and title.
        canvas.text(xLabel, x: (matrix.x0 + matrix.x1) / 2, y: matrix.y1 + labelGap + columnLabelExtent + pad,
                    scale: s, color: black, alignment: .center)
        canvas.verticalText(yLabel, x: pad, y: (matrix.y0 + matrix.y1) / 2, scale: s, color: black,
                            alignment: .center, baseline: .top)
        canvas.text(title, x: (matrix.x0 + matrix.x1) / 2, y: 2 * pad, scale: s + 1, color: black, alignment: .center)

        drawColorBar(on: &canvas, bar: bar, top: top)
    }

    /// The largest scale (at most one above the label scale) at which every number fits in a cell; nil when
    /// none does.
    private func fittingNumberScale(cell: Int, decimals: Int) -> Int? {
        let widest = values.joined().filter { isShown($0) }.map { String(format: "%.\(decimals)f", $0).count }.max() ?? 1
        for scale in stride(from: textScale + 1, through: 1, by: -1) {
            let w = Canvas.textSize(String(repeating: "0", count: widest), scale: scale).width
            if w + 4 * scale <= cell && Canvas.capHeight(scale: scale) * 2 <= cell { return scale }
        }
        return nil
    }

    private func textColor(value: Double, background: RGBColor) -> RGBColor {
        guard let threshold = whiteTextAbove else { return Colormap.textColor(on: background) }
        return value > threshold ? RGBColor(255, 255, 255) : RGBColor(0, 0, 0)
    }

    private func drawColorBar(on canvas: inout Canvas, bar: PixelRect, top: Double) {
        let s = textScale, black = RGBColor(0, 0, 0)
        for y in bar.y0..<bar.y1 {
            let t = 1 - Double(y - bar.y0) / Double(max(bar.height - 1, 1))
            canvas.fill(PixelRect(x0: bar.x0, y0: y, x1: bar.x1, y1: y + 1), color: colormap.color(t))
        }
        let ticks = Ticks.values(0...top)
        for v in ticks.values {
            let y = bar.y1 - 1 - Int((v / top * Double(bar.height - 1)).rounded())
            canvas.fill(PixelRect(x0: bar.x1, y0: y, x1: bar.x1 + 3 * s, y1: y + 1), color: black)
            canvas.text(Ticks.label(v, decimals: ticks.decimals), x: bar.x1 + 7 * s, y: y + 1, scale: s,
                        color: black, baseline: .middle)
        }
    }
}
