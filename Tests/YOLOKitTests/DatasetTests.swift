import Foundation
import XCTest
@testable import YOLOKit

final class DatasetTests: TemporaryFolderTestCase {
    private func write(_ relative: String, _ text: String) throws -> String {
        let url = tempDir.appendingPathComponent(relative)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(text.utf8).write(to: url)
        return url.path
    }

    private func mkdir(_ relative: String) throws -> String {
        let url = tempDir.appendingPathComponent(relative)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url.path
    }

    private var root: String { DatasetConfig.resolved(tempDir.path) }

    // MARK: - yaml

    func testYamlWithPathListsAndDictNames() throws {
        _ = try mkdir("data/images/train"); _ = try mkdir("data/images/val"); _ = try mkdir("data/extra")
        let yaml = try write("cfg/data.yaml", """
        path: \(tempDir.path)/data
        train: images/train
        val: [images/val, extra]
        names:
          0: person
          1: car
        nc: 2
        """)
        let config = try DatasetConfig.load(path: yaml)
        XCTAssertEqual(config.names, ["person", "car"])
        XCTAssertEqual(config.splits[.train], [root + "/data/images/train"])
        XCTAssertEqual(try config.sources(for: .val), [root + "/data/images/val", root + "/data/extra"])
        XCTAssertNil(config.splits[.test])
        XCTAssertThrowsError(try config.sources(for: .test)) { XCTAssertTrue("\($0)".contains("'test:'"), "\($0)") }
    }

    func testDefaultRootIsTheYamlFolderAndDotDotFallback() throws {
        _ = try mkdir("ds/images/val")
        let yaml = try write("ds/data.yml", "train: ../images/val\nval: images/val\nnames: [a, b, c]\n")
        let config = try DatasetConfig.load(path: yaml)
        XCTAssertEqual(config.names, ["a", "b", "c"])
        XCTAssertEqual(config.splits[.val], [root + "/ds/images/val"])
        // ds/../images/val does not exist: Ultralytics retries without the leading ../
        XCTAssertEqual(config.splits[.train], [root + "/ds/images/val"])
    }

    func testRelativeRootFromCurrentDirectoryThenDatasetsDirectory() throws {
        _ = try mkdir("datasets/coco8/images/val")
        let yaml = try write("cfg/coco8.yaml", "path: coco8\ntrain: images/val\nval: images/val\nnc: 2\n")
        // Not found from the current directory: looked up in the datasets directory.
        let config = try DatasetConfig.load(path: yaml, datasetsDirectory: tempDir.path + "/datasets", currentDirectory: tempDir.path + "/cfg")
        XCTAssertEqual(config.splits[.val], [root + "/datasets/coco8/images/val"])
        XCTAssertEqual(config.names, ["class_0", "class_1"])
        // Found from the current directory.
        let fromCWD = try DatasetConfig.load(path: yaml, currentDirectory: tempDir.path + "/datasets")
        XCTAssertEqual(fromCWD.splits[.val], [root + "/datasets/coco8/images/val"])
    }

    func testValidationKeyStandsInForVal() throws {
        let config = try DatasetConfig.parse(yaml: "train: a\nvalidation: b\nnames: [x]\n", path: tempDir.path + "/d.yaml")
        XCTAssertEqual(config.splits[.val], [root + "/b"])
        XCTAssertThrowsError(try config.sources(for: .val)) { XCTAssertTrue("\($0)".contains("missing path"), "\($0)") }
    }

    func testNamesAsPythonWouldPrintThem() throws {
        let config = try DatasetConfig.parse(yaml: "train: a\nval: b\nnames: [yes, null, 3, 1.5, '007', person]\n", path: "/x/d.yaml")
        XCTAssertEqual(config.names, ["True", "None", "3", "1.5", "007", "person"])
        let dict = try DatasetConfig.parse(yaml: "train: a\nval: b\nnames: {'1': b, 0: a}\nnc: '2'\n", path: "/x/d.yaml")
        XCTAssertEqual(dict.names, ["a", "b"])
    }

    /// Every malformed yaml gives one clear DatasetError naming the file, never a crash.
    func testHostileYamlGivesClearErrors() throws {
        let cases: [(String, String, String)] = [
            ("empty", "", "'train:' key missing"),
            ("scalar document", "just text", "not a valid YAML mapping"),
            ("list document", "- a\n- b\n", "not a valid YAML mapping"),
            ("syntax", "train: [a, b\nval: c\n", "YAML syntax error"),
            ("no val", "train: a\nnames: [x]\n", "'val:' key missing"),
            ("no names or nc", "train: a\nval: b\n", "either 'names' or 'nc'"),
            ("path not str", "path: 12\ntrain: a\nval: b\nnames: [x]\n", "'path' must be str"),
            ("val a number", "train: a\nval: 5\nnames: [x]\n", "'val' must be str or list"),
            ("val a dict", "train: a\nval: {x: 1}\nnames: [x]\n", "'val' must be str or list"),
            ("val list of numbers", "train: a\nval: [1, 2]\nnames: [x]\n", "entries must be str"),
            ("names a string", "train: a\nval: b\nnames: person\n", "'names' must be list or dict"),
            ("names nested", "train: a\nval: b\nnames: [[a, b]]\n", "plain values"),
            ("names empty", "train: a\nval: b\nnames: []\n", "0-class dataset"),
            ("names gap", "train: a\nval: b\nnames: {0: a, 2: b}\n", "class indices"),
            ("names negative", "train: a\nval: b\nnames: {-1: a, 1: b}\n", "class indices"),
            ("names key not a number", "train: a\nval: b\nnames: {x: a}\n", "not an integer"),
            ("nc mismatch", "train: a\nval: b\nnames: [a, b]\nnc: 3\n", "must match"),
            ("nc fraction", "train: a\nval: b\nnc: 1.9\n", "must be an integer"),
            ("nc text", "train: a\nval: b\nnc: many\n", "must be an integer"),
            ("nc empty", "train: a\nval: b\nnc:\n", "must be an integer"),
            ("nc huge", "train: a\nval: b\nnc: 1000000000000\n", "more classes"),
            ("nc zero", "train: a\nval: b\nnc: 0\n", "0-class dataset"),
            ("deep flow nesting", "train: a\nval: b\nnames: " + String(repeating: "[", count: 50_000) + "\n", "nested"),
            ("deep block nesting", "names:\n" + String(repeating: "- ", count: 50_000) + "x\n", "nested"),
        ]
        for (name, text, expected) in cases {
            XCTAssertThrowsError(try DatasetConfig.parse(yaml: text, path: "/d/data.yaml"), name) { error in
                guard let e = error as? DatasetError else { return XCTFail("\(name): \(error) is not a DatasetError") }
                XCTAssertEqual(e.path, "/d/data.yaml", name)
                XCTAssertTrue(expected.isEmpty || e.description.contains(expected), "\(name): \(e)")
                XCTAssertFalse(e.description.contains("\n"), "\(name): \(e)")
            }
        }
        XCTAssertThrowsError(try DatasetConfig.load(path: try write("d.txt", "train: a"))) { XCTAssertTrue("\($0)".contains("not a YAML file")) }
        XCTAssertThrowsError(try DatasetConfig.load(path: tempDir.path + "/missing.yaml")) { XCTAssertTrue("\($0)".contains("no such file")) }
        // Characters YAML does not allow are dropped on a second try, as Ultralytics' YAML.load does.
        XCTAssertEqual(try DatasetConfig.parse(yaml: "train: a\u{1}\nval: b\nnc: 1\n", path: "/d/data.yaml").splits[.train], ["/d/a"])
        // Invalid UTF-8 is dropped, as Python's errors="ignore".
        let bytes: [UInt8] = Array("train: a\nval: b\nnames: [ca".utf8) + [0xFF, 0xFE] + Array("t]\n".utf8)
        XCTAssertEqual(try DatasetConfig.load(path: try writeTemp("bad.yaml", bytes)).names, ["cat"])
    }

    // MARK: - image lists

    func testFolderListingRecursesSkipsHiddenAndSortsAsPython() throws {
        for name in ["images/b.jpg", "images/A.PNG", "images/sub/c.jpeg", "images/.hidden.jpg", "images/.cache/d.jpg",
                     "images/noext", "images/e.txt", "images/f.webp", "images/Z.Jpg", "images/\u{E9}.jpg"] {
            _ = try write(name, "x")
        }
        let listed = try DatasetImages.list([tempDir.path + "/images"])
        let base = tempDir.path + "/images/"
        XCTAssertEqual(listed.files, ["A.PNG", "Z.Jpg", "b.jpg", "sub/c.jpeg", "\u{E9}.jpg"].map { base + $0 })
        XCTAssertEqual(listed.unsupported, [base + "f.webp"])
    }

    func testSymlinkCycleDoesNotLoop() throws {
        _ = try write("images/a.jpg", "x")
        try FileManager.default.createSymbolicLink(atPath: tempDir.path + "/images/loop", withDestinationPath: tempDir.path + "/images")
        XCTAssertEqual(try DatasetImages.list([tempDir.path + "/images"]).files, [tempDir.path + "/images/a.jpg"])
    }

    func testListFileDotSlashIsRelativeToTheList() throws {
        let list = try write("lists/val.txt", "\u{FEFF}./images/b.jpg\r\n/abs/a.png\nrel/c.jpg\n\n./x.bmp\nnot-an-image\n")
        let listed = try DatasetImages.list([list])
        XCTAssertEqual(listed.files, ["/abs/a.png", tempDir.path + "/lists/images/b.jpg", "rel/c.jpg"])
        XCTAssertEqual(listed.unsupported, [tempDir.path + "/lists/x.bmp"])
    }

    func testImageListErrors() throws {
        XCTAssertThrowsError(try DatasetImages.list([tempDir.path + "/nope"])) { XCTAssertTrue("\($0)".contains("does not exist")) }
        _ = try mkdir("empty")
        XCTAssertThrowsError(try DatasetImages.list([tempDir.path + "/empty"])) { XCTAssertTrue("\($0)".contains("no images found"), "\($0)") }
        _ = try write("webp/a.webp", "x")
        XCTAssertThrowsError(try DatasetImages.list([tempDir.path + "/webp"])) { XCTAssertTrue("\($0)".contains("does not decode"), "\($0)") }
        let binary = try writeTemp("bin.txt", [0x2E, 0x2F, 0xFF, 0xFE, 0x00])
        XCTAssertThrowsError(try DatasetImages.list([binary])) { XCTAssertTrue("\($0)".contains("not UTF-8"), "\($0)") }
    }

    // MARK: - label files

    func testLabelPathReplacesTheLastImagesFolder() {
        XCTAssertEqual(LabelFile.labelPath(forImage: "/d/images/train/images/x.jpg"), "/d/images/train/labels/x.txt")
        XCTAssertEqual(LabelFile.labelPath(forImage: "/d/images/a.b.PNG"), "/d/labels/a.b.txt")
        XCTAssertEqual(LabelFile.labelPath(forImage: "/d/pics/a.jpg"), "/d/pics/a.txt")
    }

    func testMissingLabelFileIsBackground() throws {
        let image = try write("images/a.jpg", "x")
        let labels = try LabelFile.read(imagePath: image, classCount: 3)
        XCTAssertFalse(labels.found)
        XCTAssertTrue(labels.labels.isEmpty)
    }

    /// The label cases of metrics_golden.json: same rows (order included) as verify_image_label, or rejected
    /// where it rejects.
    func testLabelFilesEqualUltralytics() throws {
        struct Case: Decodable { let text: String; let corrupt: Bool; let labels: [[Float]]?; let duplicates_removed: Bool? }
        struct Root: Decodable { let labels: [String: Case]; let names: [String] }
        let root = try JSONDecoder().decode(Root.self, from: Data(readBytes(TestPaths.fixture("metrics/metrics_golden.json"))))
        XCTAssertGreaterThan(root.labels.count, 15)
        for (name, c) in root.labels.sorted(by: { $0.key < $1.key }) {
            let path = try write("labels/\(name).txt", c.text)
            if c.corrupt {
                XCTAssertThrowsError(try LabelFile.read(path: path, classCount: root.names.count), name) { error in
                    guard let e = error as? DatasetError else { return XCTFail("\(name): \(error)") }
                    XCTAssertEqual(e.path, path, name)
                    XCTAssertNotNil(e.line, "\(name): \(e)")
                }
            } else {
                let file = try LabelFile.read(path: path, classCount: root.names.count)
                let rows = file.labels.map { [Float($0.classIndex), $0.cx, $0.cy, $0.w, $0.h] }
                XCTAssertEqual(rows, c.labels ?? [], name)
                XCTAssertEqual(file.duplicatesRemoved > 0, c.duplicates_removed ?? false, name)
            }
        }
    }

    func testLabelErrorsNameTheLine() throws {
        let path = try write("labels/a.txt", "0 0.5 0.5 0.2 0.2\n\n1 0.5 0.5 0.2 0.2\n7 0.5 0.5 0.2 0.2\n")
        XCTAssertThrowsError(try LabelFile.read(path: path, classCount: 3)) { error in
            XCTAssertEqual((error as? DatasetError)?.line, 4)
            XCTAssertTrue("\(error)".hasPrefix(path + ":4: label class 7"), "\(error)")
        }
    }

    func testHostileLabelBytesNeverCrash() throws {
        var random = SeededRandom(seed: 7)
        let alphabet = Array("0123456789 .-+e\n\tnaif_x\r".utf8)
        for n in 0..<300 {
            let count = Int(random.next() % 200)
            var bytes = (0..<count).map { _ in alphabet[Int(random.next() % UInt64(alphabet.count))] }
            if n % 10 == 0 { bytes += [0xC3, 0x28] }  // invalid UTF-8
            do {
                let file = try LabelFile.parse(bytes, path: "l.txt", classCount: 4)
                for label in file.labels {
                    XCTAssertTrue((0..<4).contains(label.classIndex))
                    XCTAssertLessThanOrEqual(max(label.cx, label.cy, label.w, label.h), 1.01)
                }
            } catch let e as DatasetError {
                XCTAssertEqual(e.path, "l.txt")
            }
        }
        XCTAssertThrowsError(try LabelFile.parse([0xFF, 0x30], path: "l.txt", classCount: 1)) { XCTAssertTrue("\($0)".contains("UTF-8")) }
    }

    func testLabelBoxInPixels() {
        let label = YOLOLabel(classIndex: 0, cx: 0.5, cy: 0.25, w: 0.5, h: 0.5)
        XCTAssertEqual(label.box(width: 640, height: 480), Box(x1: 160, y1: 0, x2: 480, y2: 240))
    }

    func testPythonFloatRules() {
        XCTAssertEqual(PythonText.parseFloat("1_0"), 10)
        XCTAssertEqual(PythonText.parseFloat("+.5"), 0.5)
        XCTAssertEqual(PythonText.parseFloat("5."), 5)
        XCTAssertEqual(PythonText.parseFloat("-Infinity"), -.infinity)
        XCTAssertTrue(PythonText.parseFloat("nan")?.isNaN ?? false)
        for bad in ["", "0x10", "1__0", "_1", "1_", ".", "e5", "1e", "1.2.3", "--1", "0x1p3"] {
            XCTAssertNil(PythonText.parseFloat(bad), bad)
        }
    }
}
