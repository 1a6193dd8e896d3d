import Foundation
import XCTest
@testable import YOLOKit

/// Output formats (CSV, YOLO labels, COCO results), drawing and the font, atomic and appended files, the journal.
final class WriterTests: XCTestCase {
    func result(_ boxes: [Detection], width: Int = 200, height: Int = 100, path: String = "dir/img.jpg") -> DetectionResult {
        DetectionResult(path: path, width: width, height: height, inputShape: TensorShape(channels: 3, height: 96, width: 96),
                        boxes: boxes, times: StageTimes())
    }

    let person = Detection(classIndex: 0, name: "person", confidence: 0.91234567, box: Box(x1: 10, y1: 20, x2: 110, y2: 70))
    let car = Detection(classIndex: 2, name: "car", confidence: 0.5, box: Box(x1: 0, y1: 0, x2: 200, y2: 100))

    func testCSVRowsAndQuoting() {
        let r = result([person, car], path: "a, \"b\".jpg")
        XCTAssertEqual(CSVOutput.rows(r), """
        "a, ""b"".jpg",200,100,0,person,0.91235,10,20,110,70
        "a, ""b"".jpg",200,100,2,car,0.5,0,0,200,100

        """)
        XCTAssertEqual(CSVOutput.rows(result([])), "")
        XCTAssertEqual(CSVOutput.field(" x"), "\" x\"")
        XCTAssertEqual(CSVOutput.header.split(separator: ",").count, 10)
    }

    /// Labels read back with a strict reader (Ultralytics' rules: 5 columns — 6 with --save-conf —, integer class,
    /// coordinates in [0, 1]) give the boxes back in pixels.
    func testYOLOLabelsRoundTrip() throws {
        let r = result([person, car])
        for saveConf in [false, true] {
            let text = YOLOLabelOutput.text(r, saveConfidence: saveConf)
            XCTAssertTrue(text.hasSuffix("\n"))
            let rows = try BatchFixture.readYOLOLabels(text, columns: saveConf ? 6 : 5)
            XCTAssertEqual(rows.count, 2)
            for (row, d) in zip(rows, [person, car]) {
                XCTAssertEqual(Int(row[0]), d.classIndex)
                let cx = row[1] * 200, cy = row[2] * 100, w = row[3] * 200, h = row[4] * 100
                XCTAssertEqual(cx - w / 2, Double(d.box.x1), accuracy: 1e-3)
                XCTAssertEqual(cy - h / 2, Double(d.box.y1), accuracy: 1e-3)
                XCTAssertEqual(cx + w / 2, Double(d.box.x2), accuracy: 1e-3)
                XCTAssertEqual(cy + h / 2, Double(d.box.y2), accuracy: 1e-3)
                if saveConf { XCTAssertEqual(row[5], Double(d.confidence), accuracy: 1e-5) }
            }
        }
        XCTAssertEqual(YOLOLabelOutput.text(r).split(separator: "\n").first, "0 0.3 0.45 0.5 0.5")  // %g, as Python
        XCTAssertEqual(YOLOLabelOutput.text(result([])), "")
        XCTAssertEqual(YOLOLabelOutput.relativePath(for: "a/b/c.JPG"), "labels/a/b/c.txt")
    }

    func testCOCOEntriesParseAsCOCOResults() throws {
        let names = COCOOutput.coco80Names
        let ids = COCOOutput.categoryIDs(names: names)
        let lines = COCOOutput.entries(result([person, car]), relativePath: "val/000000397133.jpg", categoryIDs: ids)
        let array = try JSONSerialization.jsonObject(with: Data(("[" + lines.joined(separator: ",") + "]").utf8)) as! [[String: Any]]
        let records = try BatchFixture.readCOCOResults(array)
        XCTAssertEqual(records.count, 2)
        XCTAssertEqual(records[0].imageID, "397133")
        XCTAssertEqual(records[0].categoryID, 1)
        XCTAssertEqual(records[1].categoryID, 3)  // car: class 2 → COCO id 3
        XCTAssertEqual(records[0].bbox, [10, 20, 100, 50])
        XCTAssertEqual(records[0].score, 0.91235, accuracy: 1e-9)
        XCTAssertEqual(array[0]["file_name"] as? String, "val/000000397133.jpg")
        // Non-numeric stems are strings; non-COCO models use class index + 1.
        XCTAssertEqual(COCOOutput.imageID("x/IMG_1.jpg"), "\"IMG_1\"")
        XCTAssertEqual(COCOOutput.categoryIDs(names: ["Normal", "Fall"]), [1, 2])
        var ultralyticsNames = names
        ultralyticsNames[3] = "motorcycle"; ultralyticsNames[62] = "tv"
        XCTAssertEqual(COCOOutput.categoryIDs(names: ultralyticsNames)[79], 90)
        XCTAssertEqual(COCOOutput.coco80To91.count, 80)
    }

    func testFontHasEveryPrintableCharacter() {
        XCTAssertEqual(BitmapFont.glyphs.count, 94)
        for code in 33...126 {
            let rows = BitmapFont.glyph(Character(UnicodeScalar(UInt8(code))))!
            XCTAssertEqual(rows.count, BitmapFont.height)
            XCTAssertTrue(rows.contains { $0 != 0 }, "glyph \(code) has ink")
            XCTAssertTrue(rows.allSatisfy { $0 < 32 }, "glyph \(code) fits 5 columns")
        }
        XCTAssertNil(BitmapFont.glyph(" "))
        XCTAssertEqual(BitmapFont.glyph("é"), BitmapFont.glyph("?"))
        // Descenders only where they belong.
        for c in "gjpqy,_" { XCTAssertTrue(BitmapFont.glyph(c)![7...].contains { $0 != 0 }, "\(c)") }
        for c in "ABCabc019" { XCTAssertFalse(BitmapFont.glyph(c)![7...].contains { $0 != 0 }, "\(c)") }
        // Distinct glyphs.
        XCTAssertEqual(Set(BitmapFont.glyphs.map { $0.map(String.init).joined(separator: ",") }).count, 94)
    }

    func testAnnotateDrawsBoxesAndLegibleLabels() {
        let image = RGBImage(width: 300, height: 200, fill: (40, 40, 40))
        let d = Detection(classIndex: 1, name: "dog", confidence: 0.87, box: Box(x1: 50, y1: 80, x2: 250, y2: 190))
        let out = Drawing.annotate(image, [d])
        let color = Drawing.color(forClass: 1)
        func pixel(_ x: Int, _ y: Int) -> RGBColor {
            let i = (y * 300 + x) * 3
            return RGBColor(out.pixels[i], out.pixels[i + 1], out.pixels[i + 2])
        }
        XCTAssertEqual(pixel(150, 190), color)  // bottom edge
        XCTAssertEqual(pixel(50, 150), color)   // left edge
        XCTAssertEqual(pixel(150, 150), RGBColor(40, 40, 40))  // inside untouched
        // The label band above the box: class color with text in black or white.
        let band = (60..<80).flatMap { y in (50..<120).map { x in pixel(x, y) } }
        XCTAssertTrue(band.contains(color))
        let ink = color.luma > 140 ? RGBColor(0, 0, 0) : RGBColor(255, 255, 255)
        XCTAssertGreaterThan(band.filter { $0 == ink }.count, 20)
        XCTAssertEqual(image.pixels.count, out.pixels.count)
        // Distinct colors for the first 20 classes.
        XCTAssertEqual(Set((0..<20).map { "\(Drawing.color(forClass: $0))" }).count, 20)
        // A box at the top edge puts its label inside; boxes off the image do not crash.
        _ = Drawing.annotate(image, [Detection(classIndex: 0, name: "a very long class name", confidence: 1,
                                               box: Box(x1: -50, y1: 0, x2: 400, y2: 300))])
    }

    func testCropsAsUltralytics() {
        var pixels = [UInt8](repeating: 0, count: 100 * 80 * 3)
        for i in pixels.indices { pixels[i] = UInt8(i % 251) }
        let image = RGBImage(width: 100, height: 80, pixels: pixels)
        // xywh (50, 40, 20, 10) → wh·1.02 + 10 = (30.4, 20.2) → xyxy (34.8, 29.9, 65.2, 50.1) → long (34, 29, 65, 50).
        let crop = ImageOutput.crop(image, box: Box(x1: 40, y1: 35, x2: 60, y2: 45))!
        XCTAssertEqual(crop.width, 31)
        XCTAssertEqual(crop.height, 21)
        XCTAssertEqual(Array(crop.pixels[0..<3]), Array(image.pixels[(29 * 100 + 34) * 3..<(29 * 100 + 34) * 3 + 3]))
        XCTAssertNotNil(ImageOutput.crop(image, box: Box(x1: 90, y1: 70, x2: 120, y2: 90)))  // clipped
        XCTAssertNil(ImageOutput.crop(image, box: Box(x1: 300, y1: 300, x2: 320, y2: 320)))
        let paths = ImageOutput.cropPaths(for: "a/b/img.png", detections: [person, car, person])
        XCTAssertEqual(paths.map(\.path), ["crops/person/a/b/img_1.jpg", "crops/car/a/b/img_1.jpg", "crops/person/a/b/img_2.jpg"])
        XCTAssertEqual(ImageOutput.annotatedPath(for: "x/y.bin"), "x/y.bin.jpg")
        XCTAssertEqual(ImageOutput.annotatedPath(for: "x/y.PNG"), "x/y.PNG")
        XCTAssertEqual(ImageOutput.folderName("a/b"), "a_b")
        XCTAssertEqual(ImageOutput.folderName(".."), "_..")
    }

    func testAtomicAndAppendedFiles() throws {
        let folder = try BatchFixture.temporaryFolder("files")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let writer = try AtomicFileWriter(temporaryFolder: folder + "/.tmp")
        try writer.write("hello", to: folder + "/deep/er/file.txt")
        try writer.write("again", to: folder + "/deep/er/file.txt")
        XCTAssertEqual(try String(contentsOfFile: folder + "/deep/er/file.txt", encoding: .utf8), "again")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder + "/.tmp"), [])
        XCTAssertThrowsError(try writer.write("x", to: folder + "/deep/er/file.txt/inside"))

        let log = try AppendFile(path: folder + "/log", truncate: true)
        try log.append("one\n")
        try log.append("two\n")
        XCTAssertEqual(log.size, 8)
        try log.truncate(to: 4)
        try log.append("three\n")
        XCTAssertEqual(try String(contentsOfFile: folder + "/log", encoding: .utf8), "one\nthree\n")
    }

    func testJournalRecoveryStopsAtTornLinesAndRefusesOtherSettings() throws {
        let folder = try BatchFixture.temporaryFolder("journal")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = folder + "/journal.jsonl"
        let settings = ["conf": "0.25", "model": "m"]
        let text = BatchJournal.header(settings: settings, sizes: [0, 10])
            + BatchJournal.entry(relativePath: "a \"quoted\".jpg", ok: true, classes: [(0, 2), (5, 1)], sizes: [100, 20])
            + BatchJournal.entry(relativePath: "b.jpg", ok: false, classes: [], sizes: [100, 20])
            + BatchJournal.entry(relativePath: "c.jpg", ok: true, classes: [(0, 1)], sizes: [150, 30])
            + "{\"path\": \"d.jpg\", \"ok\": tr"
        try BatchFixture.write(Array(text.utf8), to: path)
        let r = try BatchJournal.recover(path: path, settings: settings, currentSizes: [160, 30])!
        XCTAssertEqual(r.done, ["a \"quoted\".jpg", "b.jpg", "c.jpg"])
        XCTAssertEqual(r.tally.images, 3)
        XCTAssertEqual(r.tally.failures, 1)
        XCTAssertEqual(r.tally.detections, [0: 3, 5: 1])
        XCTAssertEqual(r.sizes, [150, 30])
        XCTAssertEqual(r.length, text.utf8.count - "{\"path\": \"d.jpg\", \"ok\": tr".utf8.count)
        // A checkpoint claiming more bytes than a file has ends the usable part.
        let short = try BatchJournal.recover(path: path, settings: settings, currentSizes: [120, 30])!
        XCTAssertEqual(short.done, ["a \"quoted\".jpg", "b.jpg"])
        XCTAssertThrowsError(try BatchJournal.recover(path: path, settings: ["conf": "0.5", "model": "m"], currentSizes: [160, 30])) {
            XCTAssertTrue("\($0)".contains("conf: 0.25 then, 0.5 now"), "\($0)")
        }
        XCTAssertNil(try BatchJournal.recover(path: folder + "/none", settings: settings, currentSizes: [0, 0]))
    }
}
