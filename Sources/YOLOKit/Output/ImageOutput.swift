import Foundation

/// `--save-image` and `--save-crop`: annotated copies and per-object crops, named after the input's relative path.
public enum ImageOutput {
    /// Annotated copy of an input: the same relative path (the input tree mirrored); a name without a
    /// .jpg/.jpeg/.png extension gets `.jpg` added.
    public static func annotatedPath(for input: String) -> String {
        let ext = (input as NSString).pathExtension.lowercased()
        return ["jpg", "jpeg", "png"].contains(ext) ? input : input + ".jpg"
    }

    /// Encodes by the file name: PNG for `.png`, JPEG (quality 95) otherwise.
    public static func encode(_ image: RGBImage, forPath path: String) throws -> [UInt8] {
        (path as NSString).pathExtension.lowercased() == "png" ? try ImageEncoder.pngData(image) : try ImageEncoder.jpegData(image, quality: 95)
    }

    /// Crop files of one image: `crops/<class name>/<input's folder>/<input's stem>_<k>.jpg`, k = 1, 2, … per class
    /// in the order of the detections (most confident first). Returns (relative path, detection index) pairs.
    public static func cropPaths(for input: String, detections: [Detection]) -> [(path: String, index: Int)] {
        let folder = (input as NSString).deletingLastPathComponent
        let stem = ((input as NSString).lastPathComponent as NSString).deletingPathExtension
        var counts: [Int: Int] = [:]
        return detections.enumerated().map { i, d in
            counts[d.classIndex, default: 0] += 1
            let file = "\(stem)_\(counts[d.classIndex]!).jpg"
            return ("crops/" + folderName(d.name) + "/" + (folder.isEmpty ? file : folder + "/" + file), i)
        }
    }

    /// A class name usable as one folder name.
    static func folderName(_ name: String) -> String {
        let cleaned = String(name.map { $0 == "/" || $0 == "\0" ? "_" : $0 })
        return cleaned.isEmpty || cleaned == "." || cleaned == ".." ? "_" + cleaned : cleaned
    }

    /// The pixels of a box grown as Ultralytics' `save_one_box` does (width and height × 1.02 + 10 px around the
    /// centre, truncated to integers, clipped to the image); nil when nothing is left.
    public static func crop(_ image: RGBImage, box: Box, gain: Float = 1.02, pad: Float = 10) -> RGBImage? {
        let cx = (box.x1 + box.x2) / 2, cy = (box.y1 + box.y2) / 2
        let w = box.width * gain + pad, h = box.height * gain + pad
        func clampX(_ v: Float) -> Int { min(max(Int(v), 0), image.width) }  // Int() truncates like torch .long()
        func clampY(_ v: Float) -> Int { min(max(Int(v), 0), image.height) }
        let x1 = clampX(cx - w / 2), x2 = clampX(cx + w / 2), y1 = clampY(cy - h / 2), y2 = clampY(cy + h / 2)
        guard x2 > x1, y2 > y1 else { return nil }
        let cw = x2 - x1
        var pixels = [UInt8](repeating: 0, count: cw * (y2 - y1) * 3)
        image.pixels.withUnsafeBufferPointer { src in
            pixels.withUnsafeMutableBufferPointer { dst in
                for y in y1..<y2 {
                    let from = src.baseAddress! + (y * image.width + x1) * 3
                    (dst.baseAddress! + (y - y1) * cw * 3).update(from: from, count: cw * 3)
                }
            }
        }
        return RGBImage(width: cw, height: y2 - y1, pixels: pixels)
    }
}
