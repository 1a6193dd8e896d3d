/// Minimal JSON text building with a fixed key order (Foundation's encoder does not promise one), used by
/// `--format json` and the result writers. Field names follow Ultralytics' `Results.summary()`.
public enum JSONOutput {
    public static func string(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where u.value < 0x20: out += String(format: "\\u%04x", u.value)
            default: out.unicodeScalars.append(u)
            }
        }
        return out + "\""
    }

    /// A finite number with up to 5 decimals (as Ultralytics rounds), shortest form.
    public static func number(_ v: Float) -> String {
        guard v.isFinite else { return "null" }
        let rounded = (Double(v) * 100_000).rounded() / 100_000
        if rounded == rounded.rounded() && abs(rounded) < 1e15 { return String(Int64(rounded)) }
        return String(rounded)
    }

    /// `{"name": "person", "class": 0, "confidence": 0.9, "box": {"x1": …, "y1": …, "x2": …, "y2": …}}`
    public static func detection(_ d: Detection) -> String {
        let b = d.box
        return "{\"name\": \(string(d.name)), \"class\": \(d.classIndex), \"confidence\": \(number(d.confidence)), "
            + "\"box\": {\"x1\": \(number(b.x1)), \"y1\": \(number(b.y1)), \"x2\": \(number(b.x2)), \"y2\": \(number(b.y2))}}"
    }

    /// `{"path": …, "width": W, "height": H, "detections": [...]}` on one line.
    public static func result(_ r: DetectionResult) -> String {
        "{\"path\": \(string(r.path)), \"width\": \(r.width), \"height\": \(r.height), \"detections\": ["
            + r.boxes.map(detection).joined(separator: ", ") + "]}"
    }
}

import Foundation
