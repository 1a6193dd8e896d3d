import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Progress of a long run on standard error: on a terminal a bar redrawn in place (count, percent, rate, ETA,
/// failures), otherwise a plain line every `interval` seconds (for logs of cluster jobs); nothing when off.
/// Error lines go through `message` so that they do not tear the bar.
public final class BatchProgress {
    public enum Style: Equatable { case off, bar, lines }

    public let style: Style
    public let total: Int
    public let interval: Double
    private let start = DispatchTime.now()
    private let alreadyDone: Int
    private var done = 0
    private var failures = 0
    private var lastDraw: Double = -1
    private var barShown = false

    /// `alreadyDone`: inputs finished by an earlier run (`--resume`), counted in the total but not in the rate.
    public init(style: Style, total: Int, alreadyDone: Int = 0, failuresBefore: Int = 0, interval: Double = 10) {
        self.style = style
        self.total = total
        self.alreadyDone = alreadyDone
        self.failures = failuresBefore
        self.interval = interval
    }

    /// `.bar` when standard error is a terminal, `.lines` otherwise.
    public static var automaticStyle: Style { isatty(2) != 0 ? .bar : .lines }

    var elapsed: Double { Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9 }

    /// One more input finished (this run).
    public func advance(failed: Bool) {
        done += 1
        if failed { failures += 1 }
        let now = elapsed
        switch style {
        case .off: return
        case .bar:
            if now - lastDraw >= 0.1 || done + alreadyDone == total { draw(now) }
        case .lines:
            if lastDraw < 0 { lastDraw = 0 }
            if now - lastDraw >= interval { lastDraw = now; emit(line(now) + "\n") }
        }
    }

    /// A line (an error) printed above the bar.
    public func message(_ text: String) {
        if style == .bar && barShown { emit("\r\u{1B}[K" + text + "\n"); draw(elapsed) } else { emit(text + "\n") }
    }

    /// Ends the display (the bar's line is kept, with its final figures).
    public func finish() {
        switch style {
        case .off: return
        case .bar: draw(elapsed); emit("\n")
        case .lines: if done > 0 { emit(line(elapsed) + "\n") }
        }
    }

    func line(_ now: Double) -> String {
        let n = done + alreadyDone
        var s = "progress: \(n)/\(total) images"
        if total > 0 { s += String(format: " (%.1f%%)", 100 * Double(n) / Double(total)) }
        s += ", " + rateText(now)
        if let eta = eta(now), n < total { s += ", ETA " + BatchProgress.duration(eta) }
        if failures > 0 { s += ", \(failures) failed" }
        return s
    }

    func rateText(_ now: Double) -> String {
        String(format: "%.1f images/s", now > 0 ? Double(done) / now : 0)
    }

    func eta(_ now: Double) -> Double? {
        guard done > 0, now > 0 else { return nil }
        return Double(total - done - alreadyDone) / (Double(done) / now)
    }

    private func draw(_ now: Double) {
        lastDraw = now
        let n = done + alreadyDone
        let fraction = total > 0 ? Double(n) / Double(total) : 1
        var tail = " \(n)/\(total) " + rateText(now)
        if let eta = eta(now), n < total { tail += " ETA " + BatchProgress.duration(eta) }
        if failures > 0 { tail += " \(failures) failed" }
        let head = String(format: "%3.0f%% ", fraction * 100)
        let barWidth = max(10, min(40, BatchProgress.terminalWidth() - head.count - tail.count - 3))
        let filled = Int((fraction * Double(barWidth)).rounded(.down))
        let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: barWidth - filled)
        emit("\r\u{1B}[K" + head + "|" + bar + "|" + tail)
        barShown = true
    }

    /// "1:02:03", "4:05" or "7.2s".
    public static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite else { return "?" }
        let s = Int(seconds.rounded())
        if seconds < 60 { return String(format: "%.1fs", seconds) }
        if s < 3600 { return String(format: "%d:%02d", s / 60, s % 60) }
        return String(format: "%d:%02d:%02d", s / 3600, (s / 60) % 60, s % 60)
    }

    static func terminalWidth() -> Int {
        var size = winsize()
        if ioctl(2, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 { return Int(size.ws_col) }
        return 80
    }

    private func emit(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }
}
