import Foundation

/// `--save-coco`: a COCO results file (a JSON array, one object per detection) as Ultralytics' validator
/// writes `predictions.json`: `{"image_id": …, "file_name": …, "category_id": …, "bbox": [x, y, w, h], "score": …}`
/// with the box in original-image pixels (top-left corner and size, 3 decimals) and the score to 5 decimals.
/// `image_id` is the file's stem as a number when it is all digits (COCO's `000000397133.jpg` → 397133), else
/// the stem as a string; `file_name` is the input's relative path. `category_id` follows Ultralytics: COCO's
/// own 91-category ids for a model whose 80 class names are COCO's, else class index + 1.
public enum COCOOutput {
    /// One JSON object per detection, each on one line.
    public static func entries(_ r: DetectionResult, relativePath: String, categoryIDs: [Int]) -> [String] {
        let id = imageID(relativePath)
        let file = JSONOutput.string(relativePath)
        return r.boxes.map { d in
            let b = d.box
            let category = d.classIndex < categoryIDs.count ? categoryIDs[d.classIndex] : d.classIndex + 1
            return "{\"image_id\": \(id), \"file_name\": \(file), \"category_id\": \(category), \"bbox\": ["
                + [b.x1, b.y1, b.width, b.height].map { decimals($0, 3) }.joined(separator: ", ")
                + "], \"score\": \(decimals(d.confidence, 5))}"
        }
    }

    /// The JSON text of an image id: the stem as an integer when it is all ASCII digits, else a string.
    public static func imageID(_ relativePath: String) -> String {
        let stem = ((relativePath as NSString).lastPathComponent as NSString).deletingPathExtension
        if !stem.isEmpty, stem.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), let n = Int(stem) { return String(n) }
        return JSONOutput.string(stem)
    }

    /// COCO category ids per class index.
    public static func categoryIDs(names: [String]) -> [Int] {
        isCOCO(names) ? coco80To91 : names.indices.map { $0 + 1 }
    }

    /// Rounded to `places` decimals (half away from zero on the decimal value), shortest form.
    static func decimals(_ v: Float, _ places: Int) -> String {
        guard v.isFinite else { return "null" }
        let scale = pow(10.0, Double(places))
        let rounded = (Double(v) * scale).rounded() / scale
        if rounded == rounded.rounded() && abs(rounded) < 1e15 { return String(Int64(rounded)) }
        return String(rounded)
    }

    /// True for the 80 COCO classes in order, under Darknet's names (`coco.names`) or Ultralytics' (`motorcycle`,
    /// `airplane`, `couch`, `potted plant`, `dining table`, `tv`).
    public static func isCOCO(_ names: [String]) -> Bool {
        guard names.count == 80 else { return false }
        let ultralytics = ["motorbike": "motorcycle", "aeroplane": "airplane", "sofa": "couch", "pottedplant": "potted plant",
                           "diningtable": "dining table", "tvmonitor": "tv"]
        return zip(names, coco80Names).allSatisfy { $0 == $1 || $0 == ultralytics[$1] }
    }

    /// The 80 COCO category names in the order detection models use (Darknet's spelling).
    public static let coco80Names = [
        "person", "bicycle", "car", "motorbike", "aeroplane", "bus", "train", "truck", "boat", "traffic light",
        "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow",
        "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee",
        "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard",
        "tennis racket", "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
        "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "sofa",
        "pottedplant", "bed", "diningtable", "toilet", "tvmonitor", "laptop", "mouse", "remote", "keyboard",
        "cell phone", "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors",
        "teddy bear", "hair drier", "toothbrush",
    ]

    /// COCO's category ids (1…90, with gaps) for the 80 classes.
    public static let coco80To91 = [
        1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 27, 28, 31, 32, 33, 34,
        35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63,
        64, 65, 67, 70, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 84, 85, 86, 87, 88, 89, 90,
    ]
}
