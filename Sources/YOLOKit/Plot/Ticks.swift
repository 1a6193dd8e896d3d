import Foundation

/// Tick positions for an axis: round steps (1, 2, 2.5 or 5 times a power of ten), as matplotlib picks them.
public enum Ticks {
    /// Ticks covering `range` at the smallest round step that makes at most `count` intervals, with the
    /// number of decimals that writes them exactly: 0…1 gives 0.0, 0.2, … 1.0; 0…57 gives 0, 10, … 50.
    public static func values(_ range: ClosedRange<Double>, count: Int = 6) -> (values: [Double], decimals: Int) {
        let span = range.upperBound - range.lowerBound
        guard span > 0, span.isFinite, count > 0 else { return ([range.lowerBound], 1) }
        let raw = span / Double(count)
        let power = pow(10, (log10(raw)).rounded(.down))
        let step = [1, 2, 2.5, 5, 10].map { $0 * power }.first { $0 >= raw * 0.999 } ?? 10 * power
        let first = (range.lowerBound / step).rounded(.up), last = (range.upperBound / step).rounded(.down)
        guard first <= last else { return ([range.lowerBound], 1) }
        let values = stride(from: first, through: last, by: 1).map { $0 * step }
        // Decimals: enough for the step (0.2 needs one, 0.25 two, 20 none).
        var decimals = max(0, Int((-log10(step)).rounded(.up)))
        if (step / pow(10, -Double(decimals))).truncatingRemainder(dividingBy: 1) > 1e-9 { decimals += 1 }
        return (values, decimals)
    }

    /// A tick label with `decimals` decimals ("-0.0" written as "0.0").
    public static func label(_ value: Double, decimals: Int) -> String {
        let text = String(format: "%.\(decimals)f", value)
        return text.hasPrefix("-") && Double(text) == 0 ? String(text.dropFirst()) : text
    }
}
