import Foundation

/// `--save-txt`: a YOLO label file per image, one line per detection `class cx cy w h [conf]`, the box
/// normalized to the original image's width and height, numbers printed as C's `%g` (6 significant digits),
/// as Ultralytics' `Results.save_txt` writes them. An image without detections gets an empty file.
public enum YOLOLabelOutput {
    public static func text(_ r: DetectionResult, saveConfidence: Bool = false) -> String {
        let w = Float(r.width), h = Float(r.height)
        var out = ""
        for d in r.boxes {
            let b = d.box
            var line = "\(d.classIndex) " + g((b.x1 + b.x2) / 2 / w) + " " + g((b.y1 + b.y2) / 2 / h) + " "
                + g(b.width / w) + " " + g(b.height / h)
            if saveConfidence { line += " " + g(d.confidence) }
            out += line + "\n"
        }
        return out
    }

    /// `%g` of the value as a double (what Python's `"%g" % float` prints).
    static func g(_ v: Float) -> String { String(format: "%g", Double(v)) }

    /// Where the label file of an input goes, relative to the save directory: `labels/<relative path without
    /// its extension>.txt` (the input tree mirrored, so same-named images in different folders do not collide).
    public static func relativePath(for input: String) -> String {
        "labels/" + (input as NSString).deletingPathExtension + ".txt"
    }
}
