import Foundation

/// A COCO `instances_*.json` ground truth, the fields pycocotools' bbox evaluation reads: images (id, file
/// name, size), annotations (id, image id, category id, `bbox` [x, y, w, h] in pixels, `area`, `iscrowd`) and
/// categories (id, name). Every field is checked, so a hostile file gives a `DatasetError`, never a crash.
public struct COCOGroundTruth: Sendable {
    public struct Image: Equatable, Sendable {
        public var id: Int64
        public var fileName: String
        public var width: Int?
        public var height: Int?
    }

    public struct Annotation: Equatable, Sendable {
        public var id: Int64
        public var imageID: Int64
        public var categoryID: Int64
        /// [x, y, w, h], pixels.
        public var bbox: COCOBox
        /// The object's area (segmentation area in COCO; what the small/medium/large ranges test).
        public var area: Double
        public var isCrowd: Bool
    }

    public struct Category: Equatable, Sendable {
        public var id: Int64
        public var name: String
    }

    public var images: [Image]
    /// In file order (pycocotools evaluates them in that order per image and category).
    public var annotations: [Annotation]
    public var categories: [Category]
    /// Things pycocotools silently skips that a user probably wants to hear about (annotations on unknown images
    /// or categories).
    public var warnings: [String]

    public static let maxFileSize = 2 << 30

    public init(images: [Image], annotations: [Annotation], categories: [Category], warnings: [String] = []) {
        self.images = images; self.annotations = annotations; self.categories = categories; self.warnings = warnings
    }

    /// Reads `path`.
    public static func load(path: String) throws -> COCOGroundTruth {
        let data = try DatasetError.readFile(path, limit: maxFileSize, missing: "cannot be read (missing?)", tooLarge: "larger than \(maxFileSize) bytes")
        return try parse(data, path: path)
    }

    /// Parses COCO json bytes; `path` names the file in errors.
    public static func parse(_ data: Data, path: String) throws -> COCOGroundTruth {
        func fail(_ reason: String) -> DatasetError { DatasetError(path: path, reason: reason) }
        guard let root = try ParsedJSON.parse(data, path: path).object else { throw fail("the top level is not an object") }
        func list(_ key: String) throws -> [ParsedJSON] {
            guard let value = root[key] else { throw fail("no '\(key)' list") }
            guard let items = value.array else { throw fail("'\(key)' is \(value.brief), not a list") }
            return items
        }
        func field(_ o: [String: ParsedJSON], _ key: String, _ what: String) throws -> ParsedJSON {
            guard let v = o[key] else { throw fail("\(what) has no '\(key)'") }
            return v
        }
        func id(_ o: [String: ParsedJSON], _ key: String, _ what: String) throws -> Int64 {
            let v = try field(o, key, what)
            guard let i = v.int64 else { throw fail("\(what): '\(key)' is \(v.brief), not an integer") }
            return i
        }

        var images: [Image] = [], imageIDs = Set<Int64>()
        for (n, item) in try list("images").enumerated() {
            guard let o = item.object else { throw fail("images[\(n)] is \(item.brief), not an object") }
            let imageID = try id(o, "id", "images[\(n)]")
            guard imageIDs.insert(imageID).inserted else { throw fail("image id \(imageID) appears twice") }
            let name = o["file_name"]?.string ?? ""
            func size(_ key: String) throws -> Int? {
                guard let v = o[key], v != .null else { return nil }
                guard let i = v.int64, i > 0, i < 1 << 31 else { throw fail("image \(imageID): '\(key)' is \(v.brief), not a positive integer") }
                return Int(i)
            }
            images.append(Image(id: imageID, fileName: name, width: try size("width"), height: try size("height")))
        }

        var categories: [Category] = [], categoryIDs = Set<Int64>()
        for (n, item) in try list("categories").enumerated() {
            guard let o = item.object else { throw fail("categories[\(n)] is \(item.brief), not an object") }
            let categoryID = try id(o, "id", "categories[\(n)]")
            guard categoryIDs.insert(categoryID).inserted else { throw fail("category id \(categoryID) appears twice") }
            categories.append(Category(id: categoryID, name: o["name"]?.string ?? "\(categoryID)"))
        }

        var annotations: [Annotation] = [], annotationIDs = Set<Int64>()
        var unknownImage = 0, unknownCategory = 0
        for (n, item) in try list("annotations").enumerated() {
            let what = "annotations[\(n)]"
            guard let o = item.object else { throw fail("\(what) is \(item.brief), not an object") }
            let annotationID = try id(o, "id", what)
            // pycocotools indexes annotations by id: a repeated id would make it evaluate one of them twice.
            guard annotationIDs.insert(annotationID).inserted else { throw fail("annotation id \(annotationID) appears twice") }
            let imageID = try id(o, "image_id", what), categoryID = try id(o, "category_id", what)
            let bboxValue = try field(o, "bbox", what)
            guard let b = bboxValue.array, b.count == 4, let x = b[0].double, let y = b[1].double, let w = b[2].double, let h = b[3].double else {
                throw fail("annotation \(annotationID): 'bbox' is \(bboxValue.brief), not [x, y, width, height] of finite numbers")
            }
            let areaValue = try field(o, "area", "annotation \(annotationID)")
            guard let area = areaValue.double else { throw fail("annotation \(annotationID): 'area' is \(areaValue.brief), not a finite number") }
            var crowd = false
            if let c = o["iscrowd"] {  // pycocotools needs it; a file without it is read as not crowd
                switch c {
                case .bool(let v): crowd = v
                case .null: crowd = false
                default:
                    guard let v = c.int64 else { throw fail("annotation \(annotationID): 'iscrowd' is \(c.brief), not 0 or 1") }
                    crowd = v != 0
                }
            }
            if !imageIDs.contains(imageID) { unknownImage += 1; continue }
            if !categoryIDs.contains(categoryID) { unknownCategory += 1; continue }
            annotations.append(Annotation(id: annotationID, imageID: imageID, categoryID: categoryID,
                                          bbox: COCOBox(x: x, y: y, width: w, height: h), area: area, isCrowd: crowd))
        }
        var warnings: [String] = []
        if unknownImage > 0 { warnings.append("\(path): \(unknownImage) annotations name an image id that is not in 'images' (not evaluated)") }
        if unknownCategory > 0 { warnings.append("\(path): \(unknownCategory) annotations name a category id that is not in 'categories' (not evaluated)") }
        return COCOGroundTruth(images: images, annotations: annotations, categories: categories, warnings: warnings)
    }
}

/// A COCO box: top-left corner and size, pixels, float64 as pycocotools computes with them.
public struct COCOBox: Equatable, Sendable {
    public var x: Double
    public var y: Double
    public var width: Double
    public var height: Double

    public init(x: Double, y: Double, width: Double, height: Double) {
        self.x = x; self.y = y; self.width = width; self.height = height
    }

    /// From a corner box.
    public init(_ box: Box) {
        self.init(x: Double(box.x1), y: Double(box.y1), width: Double(box.x2) - Double(box.x1), height: Double(box.y2) - Double(box.y1))
    }
}
