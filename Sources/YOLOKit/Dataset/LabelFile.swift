import Foundation

/// One object of a YOLO label file: class and box as fractions of the image (centre, size), float32 as
/// Ultralytics holds them.
public struct YOLOLabel: Equatable, Sendable {
    public var classIndex: Int
    public var cx: Float
    public var cy: Float
    public var w: Float
    public var h: Float

    public init(classIndex: Int, cx: Float, cy: Float, w: Float, h: Float) {
        self.classIndex = classIndex; self.cx = cx; self.cy = cy; self.w = w; self.h = h
    }

    /// The box in pixels of an image `width`×`height` (`xywh2xyxy(box) * [w, h, w, h]`, float32).
    public func box(width: Int, height: Int) -> Box {
        let W = Float(width), H = Float(height)
        let dw = w / 2, dh = h / 2
        return Box(x1: (cx - dw) * W, y1: (cy - dh) * H, x2: (cx + dw) * W, y2: (cy + dh) * H)
    }
}

/// The labels of one image, read as Ultralytics' `verify_image_label` (8.4.x) reads them.
public struct LabelFile: Equatable, Sendable {
    /// The objects, in Ultralytics' order (file order; sorted rows when duplicates were removed, as np.unique).
    public var labels: [YOLOLabel]
    /// False when there is no label file: the image is background (no objects), not an error.
    public var found: Bool
    /// Rows dropped because they repeat another row exactly.
    public var duplicatesRemoved: Int

    /// Label files are small; a larger one is refused rather than read into memory.
    public static let maxFileSize = 64 << 20

    /// Ultralytics' `img2label_paths`: the last `/images/` becomes `/labels/`, the text after the last `.`
    /// becomes `txt`.
    public static func labelPath(forImage imagePath: String) -> String {
        var path = imagePath
        if let range = path.range(of: "/images/", options: .backwards) { path.replaceSubrange(range, with: "/labels/") }
        if let dot = path.lastIndex(of: ".") { path = String(path[..<dot]) }
        return path + ".txt"
    }

    /// The labels of the image at `imagePath` (its label file found by `labelPath(forImage:)`), for a dataset
    /// of `classCount` classes. A missing label file is background. Throws `DatasetError` naming the label file
    /// and line for a file Ultralytics would call corrupt: the caller leaves the image out and goes on.
    public static func read(imagePath: String, classCount: Int) throws -> LabelFile {
        try read(path: labelPath(forImage: imagePath), classCount: classCount)
    }

    /// Reads the label file at `path` (missing or not a regular file: background).
    public static func read(path: String, classCount: Int) throws -> LabelFile {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else {
            return LabelFile(labels: [], found: false, duplicatesRemoved: 0)
        }
        let data = try DatasetError.readFile(path, limit: maxFileSize, tooLarge: "label file larger than \(maxFileSize) bytes")
        return try parse([UInt8](data), path: path, classCount: classCount)
    }

    /// Parses label file bytes; `path` names the file in errors.
    public static func parse(_ bytes: [UInt8], path: String, classCount: Int) throws -> LabelFile {
        func fail(_ line: Int?, _ reason: String) -> DatasetError { DatasetError(path: path, line: line, reason: reason) }
        guard let text = PythonText.decodeUTF8SIG(bytes) else { throw fail(nil, "not UTF-8 text") }

        // Rows of fields, with their line numbers (blank lines skipped, as `if x.strip()`).
        var rows: [(line: Int, fields: [String])] = []
        for (i, line) in PythonText.splitLines(text).enumerated() {
            let fields = PythonText.splitWhitespace(line)
            if !fields.isEmpty { rows.append((i + 1, fields)) }
        }
        guard !rows.isEmpty else { return LabelFile(labels: [], found: true, duplicatesRemoved: 0) }

        func number(_ field: String, _ line: Int) throws -> Float {
            guard let value = PythonText.parseFloat(field) else { throw fail(line, "could not convert '\(field)' to a number") }
            return Float(value)
        }

        // [class, cx, cy, w, h] per row, float32; polygons (any row with more than 6 values) become boxes.
        var table: [[Float]] = []
        var segments: [[Float]]? = nil
        if rows.contains(where: { $0.fields.count > 6 }) {
            if let box = rows.first(where: { $0.fields.count == 5 }) { throw fail(box.line, "labels mix segment and detection rows") }
            var polygonRows: [[Float]] = []
            for row in rows {
                let cls = try number(row.fields[0], row.line)
                let coords = try row.fields.dropFirst().map { try number($0, row.line) }
                guard !coords.isEmpty, coords.count % 2 == 0 else {
                    throw fail(row.line, "a polygon needs x y pairs, this row has \(coords.count) coordinates")
                }
                table.append([cls] + segmentBox(coords))
                polygonRows.append(coords)
            }
            segments = polygonRows
        } else {
            let columns = rows[0].fields.count
            if let ragged = rows.first(where: { $0.fields.count != columns }) {
                throw fail(ragged.line, "rows of different lengths (\(ragged.fields.count) values here, \(columns) on line \(rows[0].line))")
            }
            guard columns == 5 else { throw fail(rows[0].line, "labels require 5 columns, \(columns) columns detected") }
            table = try rows.map { row in try row.fields.map { try number($0, row.line) } }
        }

        // Ultralytics' checks, in their order, on the whole table (float32 comparisons, as numpy's).
        let upper = Float(1.01), lowerTolerance = Float(-0.01)
        if let r = table.indices.first(where: { table[$0][1...].contains { !($0 <= upper) } }) {
            throw fail(rows[r].line, "non-normalized or out of bounds coordinates (above 1.01 or not a number)")
        }
        let allMin = table.lazy.flatMap { $0 }.reduce(Float.infinity) { $1.isNaN || $0.isNaN ? .nan : min($0, $1) }
        let sizeMin = table.lazy.flatMap { $0[3...4] }.reduce(Float.infinity) { min($0, $1) }
        if !(allMin >= 0 || (allMin >= lowerTolerance && sizeMin >= 0)) {
            let r = table.indices.first(where: { row in
                table[row].contains { $0.isNaN || $0 < lowerTolerance } || (allMin >= lowerTolerance && table[row][3...4].contains { $0 < 0 })
            }) ?? 0
            throw fail(rows[r].line, "negative label values")
        }
        if let r = table.indices.first(where: { table[$0][0].truncatingRemainder(dividingBy: 1) != 0 }) {
            throw fail(rows[r].line, "non-integer class label \(table[r][0])")
        }
        if let r = table.indices.first(where: { table[$0][0] >= Float(classCount) }) {
            throw fail(rows[r].line, "label class \(Int(table[r][0])) exceeds dataset class count \(classCount); possible class labels are 0-\(classCount - 1)")
        }

        // Duplicate rows: np.unique(lb, axis=0) keeps the first of each and sorts the rows; with polygons the
        // rows are told apart by class and polygon bytes (np.unique on the bytes), sorted by those bytes.
        var keep = uniqueFirstIndices(table, by: { $0.lexicographicallyPrecedes($1) }, equal: ==)
        if keep.count < table.count, let segments {
            let keys = table.indices.map { floatBytes([table[$0][0]] + segments[$0]) }
            keep = uniqueFirstIndices(keys, by: { $0.lexicographicallyPrecedes($1) }, equal: ==)
        }
        let duplicates = table.count - keep.count
        let chosen = duplicates > 0 ? keep : Array(table.indices)
        let labels = chosen.map { YOLOLabel(classIndex: Int(table[$0][0]), cx: table[$0][1], cy: table[$0][2], w: table[$0][3], h: table[$0][4]) }
        return LabelFile(labels: labels, found: true, duplicatesRemoved: duplicates)
    }

    /// The warning Ultralytics logs for removed duplicates, or nil.
    public func warning(imagePath: String) -> String? {
        duplicatesRemoved > 0 ? "\(imagePath): \(duplicatesRemoved) duplicate labels removed" : nil
    }

    /// `segments2boxes` for one polygon [x0, y0, x1, y1, …]: [cx, cy, w, h] of its bounding box (float32;
    /// numpy's min/max propagate NaN, which the range checks then reject).
    static func segmentBox(_ coords: [Float]) -> [Float] {
        var xMin = Float.infinity, yMin = Float.infinity, xMax = -Float.infinity, yMax = -Float.infinity
        var sawNaN = false
        for i in stride(from: 0, to: coords.count, by: 2) {
            let x = coords[i], y = coords[i + 1]
            if x.isNaN || y.isNaN { sawNaN = true }
            xMin = min(xMin, x); xMax = max(xMax, x); yMin = min(yMin, y); yMax = max(yMax, y)
        }
        if sawNaN { return [.nan, .nan, .nan, .nan] }
        return [(xMin + xMax) / 2, (yMin + yMax) / 2, xMax - xMin, yMax - yMin]
    }

    private static func floatBytes(_ values: [Float]) -> [UInt8] {
        values.flatMap { v -> [UInt8] in withUnsafeBytes(of: v.bitPattern.littleEndian) { Array($0) } }
    }

    /// Indices of the first occurrence of each distinct element, in sorted order (np.unique(…, return_index)).
    private static func uniqueFirstIndices<T>(_ items: [T], by less: (T, T) -> Bool, equal: (T, T) -> Bool) -> [Int] {
        let order = items.indices.sorted { a, b in less(items[a], items[b]) || (!less(items[b], items[a]) && a < b) }
        var result: [Int] = []
        for i in order where result.last.map({ !equal(items[$0], items[i]) }) ?? true { result.append(i) }
        return result
    }
}
