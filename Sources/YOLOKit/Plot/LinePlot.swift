/// A line chart in the style of matplotlib's defaults: a boxed axes area with outward ticks and tick labels,
/// axis labels, a title above, the series drawn in order (later on top, clipped to the axes), and a legend
/// outside the axes on the right, as Ultralytics places it (`bbox_to_anchor=(1.04, 1), loc="upper left"`).
public struct LinePlot: Sendable {
    /// One line: points (x[i], y[i]); a NaN breaks it.
    public struct Series: Sendable {
        public var x: [Double]
        public var y: [Double]
        public var color: RGBColor
        /// In pixels.
        public var lineWidth: Int
        public init(x: [Double], y: [Double], color: RGBColor, lineWidth: Int) {
            self.x = x; self.y = y; self.color = color; self.lineWidth = lineWidth
        }
    }

    /// One legend row: a line sample in `color` (none when nil: a note such as "... 70 more") and its text.
    public struct LegendEntry: Sendable {
        public var label: String
        public var color: RGBColor?
        public var lineWidth: Int
        public init(label: String, color: RGBColor?, lineWidth: Int = 2) {
            self.label = label; self.color = color; self.lineWidth = lineWidth
        }
    }

    public var width: Int
    public var height: Int
    public var title: String
    public var xLabel: String
    public var yLabel: String
    public var xRange: ClosedRange<Double>
    public var yRange: ClosedRange<Double>
    public var series: [Series]
    public var legend: [LegendEntry]
    /// Legend text longer than this is cut and ends in "..".
    public var maxLegendCharacters = 32

    public init(width: Int = 1200, height: Int = 800, title: String, xLabel: String, yLabel: String,
                xRange: ClosedRange<Double> = 0...1, yRange: ClosedRange<Double> = 0...1,
                series: [Series], legend: [LegendEntry] = []) {
        self.width = width; self.height = height
        self.title = title; self.xLabel = xLabel; self.yLabel = yLabel
        self.xRange = xRange; self.yRange = yRange
        self.series = series; self.legend = legend
    }

    /// Font scale of tick labels, axis labels and legend (the title is one larger): 2 at 800 px.
    public var textScale: Int { max(1, min(width, height) / 400) }

    static let black = RGBColor(0, 0, 0)
    static let frameGrey = RGBColor(204, 204, 204)

    private var pad: Int { 6 * textScale }
    private var tickLength: Int { 3 * textScale }
    private var legendLabels: [String] { legend.map { PlotText.truncated($0.label, to: maxLegendCharacters) } }
    private var legendSampleLength: Int { 16 * textScale }

    private var legendSize: (width: Int, height: Int) {
        guard !legend.isEmpty else { return (0, 0) }
        let s = textScale
        let textWidth = legendLabels.map { Canvas.textSize($0, scale: s).width }.max() ?? 0
        return (2 * pad + legendSampleLength + 6 * s + textWidth, 2 * pad + legend.count * legendRowHeight - 3 * s)
    }

    private var legendRowHeight: Int { 12 * textScale }

    /// Where the axes are: what remains after the title, the y labels, the x labels and the legend.
    public var frame: PlotFrame {
        let s = textScale, titleScale = s + 1
        let yTicks = Ticks.values(yRange)
        let yLabelWidth = yTicks.values.map { Canvas.textSize(Ticks.label($0, decimals: yTicks.decimals), scale: s).width }.max() ?? 0
        let left = pad + BitmapFont.height * s + pad + yLabelWidth + 3 * s + tickLength
        let top = 2 * pad + BitmapFont.height * titleScale + pad
        let bottom = height - (pad + BitmapFont.height * s + pad + BitmapFont.height * s + 3 * s + tickLength)
        let legendWidth = legendSize.width
        let right = width - (legendWidth > 0 ? legendWidth + 2 * pad + 4 * pad : 5 * pad)
        return PlotFrame(area: PixelRect(x0: left, y0: top, x1: max(left + 2, right), y1: max(top + 2, bottom)),
                         xRange: xRange, yRange: yRange)
    }

    /// The chart as an image.
    public func render() -> RGBImage {
        var canvas = Canvas(width: width, height: height)
        draw(on: &canvas)
        return canvas.image
    }

    /// Draws the chart onto `canvas` (of this plot's size).
    public func draw(on canvas: inout Canvas) {
        let f = frame, area = f.area, s = textScale
        let black = Self.black

        // Series, clipped to the axes.
        canvas.clip = area
        for line in series {
            let points = zip(line.x, line.y).map { f.position(x: $0, y: $1) }
            canvas.polyline(points, lineWidth: line.lineWidth, color: line.color)
        }
        canvas.clip = canvas.bounds

        // Axes box, ticks and tick labels.
        canvas.stroke(area.insetBy(-1), color: black)
        let xTicks = Ticks.values(xRange), yTicks = Ticks.values(yRange)
        for v in xTicks.values {
            let x = f.pixel(x: v, y: yRange.lowerBound).x
            canvas.fill(PixelRect(x0: x, y0: area.y1 + 1, x1: x + 1, y1: area.y1 + 1 + tickLength), color: black)
            canvas.text(Ticks.label(v, decimals: xTicks.decimals), x: x + 1, y: area.y1 + 1 + tickLength + 3 * s,
                        scale: s, color: black, alignment: .center)
        }
        for v in yTicks.values {
            let y = f.pixel(x: xRange.lowerBound, y: v).y
            canvas.fill(PixelRect(x0: area.x0 - 1 - tickLength, y0: y, x1: area.x0 - 1, y1: y + 1), color: black)
            canvas.text(Ticks.label(v, decimals: yTicks.decimals), x: area.x0 - 1 - tickLength - 3 * s, y: y + 1,
                        scale: s, color: black, alignment: .trailing, baseline: .middle)
        }

        // Axis labels and title.
        canvas.text(xLabel, x: (area.x0 + area.x1) / 2, y: height - pad, scale: s, color: black,
                    alignment: .center, baseline: .bottom)
        canvas.verticalText(yLabel, x: pad, y: (area.y0 + area.y1) / 2, scale: s, color: black,
                            alignment: .center, baseline: .top)
        canvas.text(title, x: (area.x0 + area.x1) / 2, y: 2 * pad, scale: s + 1, color: black, alignment: .center)

        drawLegend(on: &canvas, area: area)
    }

    private func drawLegend(on canvas: inout Canvas, area: PixelRect) {
        guard !legend.isEmpty else { return }
        let s = textScale, size = legendSize
        let box = PixelRect(x0: area.x1 + 4 * pad, y0: area.y0, x1: area.x1 + 4 * pad + size.width, y1: area.y0 + size.height)
        canvas.fill(box, color: RGBColor(255, 255, 255))
        canvas.stroke(box, color: Self.frameGrey)
        for (row, (entry, label)) in zip(legend, legendLabels).enumerated() {
            let middle = box.y0 + pad + row * legendRowHeight + Canvas.capHeight(scale: s) / 2
            let x = box.x0 + pad
            if let color = entry.color {
                canvas.line(from: (Double(x), Double(middle)), to: (Double(x + legendSampleLength), Double(middle)),
                            lineWidth: entry.lineWidth, color: color)
            }
            canvas.text(label, x: x + legendSampleLength + 6 * s, y: middle, scale: s, color: Self.black, baseline: .middle)
        }
    }
}
