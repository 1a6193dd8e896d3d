import Foundation

/// A color scale for values in [0, 1], linear between evenly spaced stops.
public struct Colormap: Sendable {
    public var stops: [RGBColor]
    public init(stops: [RGBColor]) {
        precondition(stops.count >= 2, "Colormap: needs two stops")
        self.stops = stops
    }

    /// matplotlib's "Blues" (ColorBrewer), white to dark blue: Ultralytics' confusion-matrix colors.
    public static let blues = Colormap(stops: [
        RGBColor(247, 251, 255), RGBColor(222, 235, 247), RGBColor(198, 219, 239), RGBColor(158, 202, 225),
        RGBColor(107, 174, 214), RGBColor(66, 146, 198), RGBColor(33, 113, 181), RGBColor(8, 81, 156),
        RGBColor(8, 48, 107),
    ])

    /// The color of `t`, clamped to [0, 1] (NaN gives the first stop).
    public func color(_ t: Double) -> RGBColor {
        let u = t.isNaN ? 0 : min(1, max(0, t)) * Double(stops.count - 1)
        let i = min(Int(u), stops.count - 2), f = u - Double(i)
        let a = stops[i], b = stops[i + 1]
        func mix(_ x: UInt8, _ y: UInt8) -> UInt8 { UInt8((Double(x) + (Double(y) - Double(x)) * f).rounded()) }
        return RGBColor(mix(a.r, b.r), mix(a.g, b.g), mix(a.b, b.b))
    }

    /// Black or white, whichever reads on `background`: seaborn's rule (relative luminance above 0.408 → black).
    public static func textColor(on background: RGBColor) -> RGBColor {
        func linear(_ c: UInt8) -> Double {
            let v = Double(c) / 255
            return v <= 0.03928 ? v / 12.92 : pow((v + 0.055) / 1.055, 2.4)
        }
        let luminance = 0.2126 * linear(background.r) + 0.7152 * linear(background.g) + 0.0722 * linear(background.b)
        return luminance > 0.408 ? RGBColor(0, 0, 0) : RGBColor(255, 255, 255)
    }
}
