/// The axes of a chart on its canvas: the pixel rectangle inside the axis lines and the data ranges it shows.
public struct PlotFrame: Equatable, Sendable {
    public var area: PixelRect
    public var xRange: ClosedRange<Double>
    public var yRange: ClosedRange<Double>

    public init(area: PixelRect, xRange: ClosedRange<Double>, yRange: ClosedRange<Double>) {
        self.area = area; self.xRange = xRange; self.yRange = yRange
    }

    /// Canvas position of a data point (continuous; pixel centres at integer + 0.5): x left to right, y up.
    public func position(x: Double, y: Double) -> (x: Double, y: Double) {
        let fx = (x - xRange.lowerBound) / (xRange.upperBound - xRange.lowerBound)
        let fy = (y - yRange.lowerBound) / (yRange.upperBound - yRange.lowerBound)
        return (Double(area.x0) + 0.5 + fx * Double(area.width - 1), Double(area.y1) - 0.5 - fy * Double(area.height - 1))
    }

    /// The pixel holding a data point.
    public func pixel(x: Double, y: Double) -> (x: Int, y: Int) {
        let p = position(x: x, y: y)
        return (Int(p.x.rounded(.down)), Int(p.y.rounded(.down)))
    }
}
