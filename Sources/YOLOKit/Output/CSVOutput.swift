/// `--save-csv`: one row per detection, RFC 4180 quoting, numbers as in the JSON output.
/// Columns: `path,width,height,class,name,confidence,x1,y1,x2,y2` (box in original-image pixels).
public enum CSVOutput {
    public static let header = "path,width,height,class,name,confidence,x1,y1,x2,y2\n"

    /// The rows for one image (empty when it has no detections), each ending in "\n".
    public static func rows(_ r: DetectionResult) -> String {
        var out = ""
        let path = field(r.path)
        for d in r.boxes {
            let b = d.box
            out += "\(path),\(r.width),\(r.height),\(d.classIndex),\(field(d.name)),\(JSONOutput.number(d.confidence)),"
                + "\(JSONOutput.number(b.x1)),\(JSONOutput.number(b.y1)),\(JSONOutput.number(b.x2)),\(JSONOutput.number(b.y2))\n"
        }
        return out
    }

    /// A field quoted when it holds a comma, a quote, a line break or leading/trailing spaces.
    public static func field(_ s: String) -> String {
        let needsQuotes = s.contains { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" || $0 == "\r\n" }
            || s.first == " " || s.last == " "
        guard needsQuotes else { return s }
        return "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
