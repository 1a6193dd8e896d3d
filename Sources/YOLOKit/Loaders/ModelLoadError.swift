/// A model file that cannot be used: names the file, the line when there is one, and the reason.
public struct ModelLoadError: Error, CustomStringConvertible, Equatable {
    public let path: String
    public let line: Int?
    public let reason: String

    public init(path: String, line: Int? = nil, reason: String) {
        self.path = path
        self.line = line
        self.reason = ModelLoadError.oneLine(reason)
    }

    /// Reasons quote names and values from the file (class names, keys, cfg text): control characters are
    /// escaped so that a hostile file cannot break the message over several lines or forge output lines.
    static func oneLine(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F || $0 == "\u{2028}" || $0 == "\u{2029}" }) else {
            return text
        }
        var out = ""
        for u in text.unicodeScalars {
            switch u {
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where u.value < 0x20 || u.value == 0x7F || u == "\u{2028}" || u == "\u{2029}":
                out += "\\u{" + String(u.value, radix: 16) + "}"
            default: out.unicodeScalars.append(u)
            }
        }
        return out
    }

    public var description: String {
        if let line { return "\(path):\(line): \(reason)" }
        return "\(path): \(reason)"
    }
}
