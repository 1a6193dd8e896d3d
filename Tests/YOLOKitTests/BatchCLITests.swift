import Foundation
import XCTest
@testable import YOLOKit

/// `yolo detect` on a generated folder tree, through the built binary: outputs for every good image, errors for
/// every bad one, exit codes, no temporary files left, resume after an interruption giving the same bytes as an
/// uninterrupted run, shards that partition the inputs, and the label / COCO files read by reference readers.
final class BatchCLITests: XCTestCase {
    static let model = TestPaths.fixture("tiny-v4/tiny-v4.cfg")  // 96×96, 3 classes, random weights: fast
    var folder = ""

    override func setUpWithError() throws {
        folder = try BatchFixture.temporaryFolder("cli")
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: folder) }

    static let good = ["B.JPG", "a.jpg", "sub/c.jpeg", "sub/d.PNG", "sub/deep/e.png", "sub/deep/f.JpG"]
    static let bad = ["bad/corrupt.jpg", "bad/empty.png", "bad/text.jpg"]

    /// photos/: 6 images (nested folders, mixed-case extensions), 3 bad files, and files that are not picked.
    func makeTree() throws -> String {
        let root = folder + "/photos"
        for (i, rel) in Self.good.enumerated() {
            let image = BatchFixture.pattern(width: 60 + 37 * i, height: 140 - 13 * i, seed: UInt64(i))
            let bytes = rel.lowercased().hasSuffix("png") ? try ImageEncoder.pngData(image) : try ImageEncoder.jpegData(image)
            try BatchFixture.write(bytes, to: root + "/" + rel)
        }
        let jpeg = try ImageEncoder.jpegData(BatchFixture.pattern(width: 300, height: 200, seed: 9))
        try BatchFixture.write(Array(jpeg.prefix(jpeg.count / 2)), to: root + "/bad/corrupt.jpg")
        try BatchFixture.write([], to: root + "/bad/empty.png")
        try BatchFixture.write(Array("hello".utf8), to: root + "/bad/text.jpg")
        try BatchFixture.write(Array("not picked".utf8), to: root + "/notes.txt")
        try BatchFixture.write(jpeg, to: root + "/.hidden.jpg")
        return root
    }

    func detect(_ arguments: [String], stdin: String? = nil) throws -> BatchFixture.Run {
        try BatchFixture.runYOLO(["detect", "--model", Self.model] + arguments, in: folder, stdin: stdin)
    }

    let allOutputs = ["--save-jsonl", "--save-csv", "--save-txt", "--save-conf", "--save-coco", "--save-image", "--save-crop"]

    func testEveryGoodImageHasOutputsEveryBadOneIsReported() throws {
        let root = try makeTree()
        let run = try detect([root, "--recursive", "--max-det", "4", "--save-dir", "out", "--threads", "2", "--batch", "2",
                              "--decode-threads", "2"] + allOutputs)
        XCTAssertEqual(run.status, 1, run.stderr)
        let out = folder + "/out"
        var detections = 0
        for rel in Self.good {
            let stem = (rel as NSString).deletingPathExtension
            let labels = try String(contentsOfFile: "\(out)/labels/\(stem).txt", encoding: .utf8)
            let rows = try BatchFixture.readYOLOLabels(labels, columns: 6)
            XCTAssertEqual(rows.count, 4, rel)
            detections += rows.count
            let original = try ImageDecoder.decode(contentsOf: root + "/" + rel)
            let annotated = try ImageDecoder.decode(contentsOf: out + "/" + rel)
            XCTAssertEqual([annotated.width, annotated.height], [original.width, original.height], rel)
            let crops = try FileManager.default.subpathsOfDirectory(atPath: out + "/crops").filter { $0.hasSuffix(".jpg") && $0.contains(stem + "_") }
            XCTAssertEqual(crops.count, 4, rel)
        }
        // predictions.jsonl: one line per good image, in sorted order, each the --format json object.
        let lines = try String(contentsOfFile: out + "/predictions.jsonl", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.map { (try! JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any])["path"] as! String },
                       Self.good.map { root + "/" + $0 })
        // errors.jsonl: every bad file, with its reason; stderr names them too.
        let errors = try String(contentsOfFile: out + "/errors.jsonl", encoding: .utf8).split(separator: "\n")
            .map { try! JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: String] }
        XCTAssertEqual(errors.map { $0["path"]! }, Self.bad.map { root + "/" + $0 })
        XCTAssertEqual(errors.map { $0["reason"]! }.filter { !$0.isEmpty }.count, 3)
        XCTAssertEqual(errors[1]["reason"], "empty file (0 bytes)")
        for rel in Self.bad { XCTAssertTrue(run.stderr.contains("error: \(root)/\(rel): "), run.stderr) }
        // CSV rows, COCO records and label lines agree.
        let csv = try String(contentsOfFile: out + "/predictions.csv", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(csv.first, "path,width,height,class,name,confidence,x1,y1,x2,y2")
        XCTAssertEqual(csv.count - 1, detections)
        let coco = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/coco_predictions.json"))) as! [[String: Any]]
        XCTAssertEqual(try BatchFixture.readCOCOResults(coco).count, detections)
        // No temporary files anywhere; nothing for skipped files.
        let everything = try FileManager.default.subpathsOfDirectory(atPath: out)
        XCTAssertEqual(everything.filter { $0.hasSuffix(".tmp") || $0.contains("/tmp/") || $0.hasSuffix("/tmp") }, [])
        XCTAssertFalse(everything.contains { $0.contains("notes") || $0.contains("hidden") || $0.hasPrefix("bad/") })
        // The summary.
        XCTAssertTrue(run.stderr.contains("Done: 9 inputs (3 failed)"), run.stderr)
        XCTAssertTrue(run.stderr.contains("Results: out/"), run.stderr)
    }

    func testLabelFilesAreWrittenEmptyForImagesWithoutDetections() throws {
        let root = try makeTree()
        let run = try detect([root + "/sub", "--recursive", "--conf", "1", "--save-txt", "--save-dir", "empty", "--quiet"])
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertEqual(run.stderr, "")
        for rel in ["c.txt", "d.txt", "deep/e.txt", "deep/f.txt"] {
            XCTAssertEqual(try String(contentsOfFile: folder + "/empty/labels/" + rel, encoding: .utf8), "", rel)
        }
        XCTAssertEqual(try String(contentsOfFile: folder + "/empty/errors.jsonl", encoding: .utf8), "")
    }

    /// Enough work that an interruption lands half-way.
    func makeLongTree(_ count: Int = 60) throws -> String {
        let root = folder + "/long"
        for i in 0..<count {
            let image = BatchFixture.pattern(width: 900 + i, height: 700, seed: UInt64(100 + i))
            try BatchFixture.write(try ImageEncoder.jpegData(image), to: root + "/d\(i % 3)/img\(i).jpg")
        }
        try BatchFixture.write(Array("junk".utf8), to: root + "/d1/broken.jpg")
        return root
    }

    func resumeArguments(_ root: String, _ out: String) -> [String] {
        [root, "--recursive", "--max-det", "3", "--save-dir", out, "--threads", "1", "--decode-threads", "0",
         "--save-jsonl", "--save-csv", "--save-txt", "--save-coco", "--save-image"]
    }

    func testResumeAfterInterruptionGivesIdenticalOutputs() throws {
        let root = try makeLongTree()
        let full = try detect(resumeArguments(root, "full") + ["--quiet"])
        XCTAssertEqual(full.status, 1, full.stderr)

        // 1. Ctrl-C: the run stops cleanly (exit 130) and --resume finishes it.
        let stopped = try BatchFixture.runYOLO(["detect", "--model", Self.model] + resumeArguments(root, "soft"), in: folder,
                                               interruptWith: SIGINT, whenJournalHas: 4, journal: folder + "/soft/.yolo/journal.jsonl")
        XCTAssertEqual(stopped.status, 130, stopped.stderr)
        XCTAssertTrue(stopped.stderr.contains("--resume"), stopped.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder + "/soft/coco_predictions.json"), "no whole-run file before the end")
        let journalLines = try String(contentsOfFile: folder + "/soft/.yolo/journal.jsonl", encoding: .utf8).split(separator: "\n").count
        XCTAssertLessThan(journalLines, 62, "interrupted half-way")
        let soft = try detect(resumeArguments(root, "soft") + ["--resume"])
        XCTAssertEqual(soft.status, 1, soft.stderr)
        XCTAssertTrue(soft.stderr.contains("done before --resume"), soft.stderr)
        try BatchFixture.assertSameTree(folder + "/full", folder + "/soft")

        // 2. kill -9 in the middle of writing: torn records, a half-written temporary file.
        let killed = try BatchFixture.runYOLO(["detect", "--model", Self.model] + resumeArguments(root, "hard"), in: folder,
                                              interruptWith: SIGKILL, whenJournalHas: 6, journal: folder + "/hard/.yolo/journal.jsonl")
        XCTAssertEqual(killed.status, -Int32(SIGKILL))
        XCTAssertLessThan(try String(contentsOfFile: folder + "/hard/.yolo/journal.jsonl", encoding: .utf8).split(separator: "\n").count, 62)
        for (file, tail) in [("predictions.jsonl", "{\"path\": \"torn"), ("predictions.csv", "x,1"), (".yolo/journal.jsonl", "{\"pa"),
                             (".yolo/tmp/99-1.tmp", "half a file")] {
            let path = folder + "/hard/" + file
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            if !FileManager.default.fileExists(atPath: path) { FileManager.default.createFile(atPath: path, contents: nil) }
            let handle = FileHandle(forWritingAtPath: path)!
            handle.seekToEndOfFile()
            handle.write(Data(tail.utf8))
            handle.closeFile()
        }
        let hard = try detect(resumeArguments(root, "hard") + ["--resume", "--quiet"])
        XCTAssertEqual(hard.status, 1, hard.stderr)
        try BatchFixture.assertSameTree(folder + "/full", folder + "/hard")

        // 3. Resuming a finished run changes nothing.
        let again = try detect(resumeArguments(root, "hard") + ["--resume", "--quiet"])
        XCTAssertEqual(again.status, 1)
        try BatchFixture.assertSameTree(folder + "/full", folder + "/hard")

        // 4. A full disk (a file-size limit: annotated images do not fit) stops the run with a clear error and
        //    leaves a consistent folder; --resume with room again finishes it.
        let full4 = try BatchFixture.run("/bin/sh", ["-c", "trap '' XFSZ; ulimit -f 40; exec \"$0\" \"$@\"", try TestPaths.yoloBinary(),
                                                     "detect", "--model", Self.model] + resumeArguments(root, "disk"), in: folder)
        XCTAssertEqual(full4.status, 1, full4.stderr)
        XCTAssertTrue(full4.stderr.contains("cannot write") && full4.stderr.contains("--resume"), full4.stderr)
        let disk = try detect(resumeArguments(root, "disk") + ["--resume", "--quiet"])
        XCTAssertEqual(disk.status, 1, disk.stderr)
        try BatchFixture.assertSameTree(folder + "/full", folder + "/disk")
    }

    func testShardsPartitionTheInputsAndMergeByConcatenation() throws {
        let root = try makeTree()
        let common = [root, "--recursive", "--max-det", "2", "--save-jsonl", "--save-txt", "--quiet"]
        XCTAssertEqual(try detect(common + ["--save-dir", "all"]).status, 1)
        var merged: [Substring] = []
        var labels: [String: String] = [:]
        var errors = 0
        for i in 0..<3 {
            let run = try detect(common + ["--save-dir", "part\(i)", "--shard", "\(i)/3"])
            XCTAssertTrue([0, 1].contains(run.status), run.stderr)
            merged += try String(contentsOfFile: folder + "/part\(i)/predictions.jsonl", encoding: .utf8).split(separator: "\n")
            errors += try String(contentsOfFile: folder + "/part\(i)/errors.jsonl", encoding: .utf8).split(separator: "\n").count
            for rel in try FileManager.default.subpathsOfDirectory(atPath: folder + "/part\(i)/labels") where rel.hasSuffix(".txt") {
                XCTAssertNil(labels[rel], "\(rel) in two shards")
                labels[rel] = try String(contentsOfFile: folder + "/part\(i)/labels/" + rel, encoding: .utf8)
            }
        }
        let whole = try String(contentsOfFile: folder + "/all/predictions.jsonl", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(merged.count, whole.count, "disjoint")
        XCTAssertEqual(merged.sorted(), whole.sorted(), "the union is the whole")
        XCTAssertEqual(errors, 3)
        XCTAssertEqual(labels.count, Self.good.count)
        for (rel, text) in labels {
            XCTAssertEqual(text, try String(contentsOfFile: folder + "/all/labels/" + rel, encoding: .utf8), rel)
        }
    }

    func testStandardOutputContractListsAndStdin() throws {
        let root = try makeTree()
        let a = root + "/a.jpg", d = root + "/sub/d.PNG"
        let run = try detect([d, a, "--format", "json", "--max-det", "2"])
        XCTAssertEqual(run.status, 0, run.stderr)
        let detector = try Detector(model: Self.model)
        let options = DetectionOptions(maxDetections: 2)
        let expected = "[" + [a, d].map { JSONOutput.result(try! detector.detect(imageAt: $0, options: options)) }.joined(separator: ",\n ") + "]\n"
        XCTAssertEqual(run.stdout, expected)  // sorted paths, streamed in the same bytes as before
        XCTAssertEqual(run.stderr, "")

        let text = try detect([a, root + "/bad/text.jpg", "--max-det", "1"])
        XCTAssertEqual(text.status, 1)
        XCTAssertTrue(text.stdout.hasPrefix("\(a): "), text.stdout)
        XCTAssertEqual(text.stderr, "error: \(root)/bad/text.jpg: not a JPEG or PNG image\n")

        let piped = try detect(["-", "--format", "json"], stdin: "\(a)\n\n\(d)\n")
        XCTAssertEqual((try JSONSerialization.jsonObject(with: Data(piped.stdout.utf8)) as! [Any]).count, 2)
        try BatchFixture.write(Array("# list\nphotos/sub/deep\nphotos/B.JPG\n".utf8), to: folder + "/list.txt")
        let listed = try detect(["list.txt", "--format", "json"])
        XCTAssertEqual((try JSONSerialization.jsonObject(with: Data(listed.stdout.utf8)) as! [[String: Any]]).map { $0["path"] as! String },
                       ["photos/B.JPG", "photos/sub/deep/e.png", "photos/sub/deep/f.JpG"])
        let globbed = try detect(["photos/**/*.[jJ]*", "--format", "json", "--max-det", "1"])
        XCTAssertEqual((try JSONSerialization.jsonObject(with: Data(globbed.stdout.utf8)) as! [Any]).count, 4, globbed.stderr)  // + 2 failures on stderr
        XCTAssertEqual(globbed.status, 1)
        XCTAssertEqual(try detect([folder + "/nothing-here/*.jpg"]).status, 1)
    }

    func testUsageErrorsExitWith2() throws {
        let root = try makeTree()
        for arguments in [[root, "--shard", "3/3"], [root, "--shard", "x"], [root, "--save-conf"], [root, "--resume"],
                          [root, "--save-txt", "--resume", "--exist-ok"], [root, "--batch", "0"], [root, "--model", "nope.cfg"]] {
            let run = try detect(arguments)
            XCTAssertEqual(run.status, 2, "\(arguments): \(run.stderr)")
            XCTAssertTrue(run.stderr.contains("rror"), run.stderr)
        }
        XCTAssertEqual(try detect([root + "/a.jpg", "--save-dir", "o", "--save-txt"]).status, 0)
        let again = try detect([root + "/a.jpg", "--save-dir", "o", "--save-txt"])
        XCTAssertEqual(again.status, 2)
        XCTAssertTrue(again.stderr.contains("--resume"), again.stderr)
        let changed = try detect([root + "/a.jpg", "--save-dir", "o", "--save-txt", "--resume", "--conf", "0.5"])
        XCTAssertEqual(changed.status, 2)
        XCTAssertTrue(changed.stderr.contains("conf: 0.25 then, 0.5 now"), changed.stderr)
        XCTAssertEqual(try detect([root + "/a.jpg", "--save-dir", "o", "--save-txt", "--exist-ok"]).status, 0)
    }

    func testDefaultSaveFolderIncrementsAsUltralytics() throws {
        let root = try makeTree()
        for _ in 0..<2 { XCTAssertEqual(try detect([root + "/a.jpg", "--save-txt", "--quiet"]).status, 0) }
        XCTAssertTrue(FileManager.default.fileExists(atPath: folder + "/runs/detect/predict/labels/a.txt"))
        XCTAssertTrue(FileManager.default.fileExists(atPath: folder + "/runs/detect/predict2/labels/a.txt"))
        XCTAssertEqual(try detect([root + "/a.jpg", "--save-txt", "--exist-ok", "--quiet"]).status, 0)
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder + "/runs/detect/predict3"))
        let resumed = try detect([root + "/a.jpg", "--save-txt", "--resume"])
        XCTAssertTrue(resumed.stderr.contains("runs/detect/predict2/"), resumed.stderr)  // the latest
    }

    /// The label files and the COCO results read by Ultralytics' own label checker and pycocotools, where the
    /// project's Python environment has them (`scripts/setup-venv.sh`; `pip install pycocotools`).
    func testReferenceReadersAcceptLabelsAndCOCO() throws {
        let python = TestPaths.repoRoot.appendingPathComponent(".venv/bin/python").path
        guard FileManager.default.isExecutableFile(atPath: python) else { throw XCTSkip("no .venv (scripts/setup-venv.sh)") }
        let root = try makeTree()
        XCTAssertEqual(try detect([root, "--recursive", "--max-det", "5", "--save-dir", "ref", "--save-txt", "--save-coco", "--quiet"]).status, 1)
        let script = """
        import json, os, sys
        root, out = sys.argv[1], sys.argv[2]
        try:
            from ultralytics.data.utils import verify_image_label
        except Exception as e:
            print("skip: ultralytics", e); sys.exit(3)
        n = 0
        for rel in [\(Self.good.map { "\"\($0)\"" }.joined(separator: ", "))]:
            lb = os.path.join(out, "labels", os.path.splitext(rel)[0] + ".txt")
            im_file, lbs, shape, segments, kp, nm, nf, ne, nc, msg = verify_image_label((os.path.join(root, rel), lb, "", False, 3, 0, 2, False))
            assert nc == 0 and nf == 1 and lbs.shape == (5, 5), (rel, nc, msg)
            n += 1
        try:
            from pycocotools.coco import COCO
        except Exception as e:
            print("skip: pycocotools", e); sys.exit(3)
        results = json.load(open(os.path.join(out, "coco_predictions.json")))
        gt = COCO()
        gt.dataset = {"images": [{"id": i} for i in sorted({r["image_id"] for r in results}, key=str)],
                      "categories": [{"id": c} for c in (1, 2, 3)], "annotations": []}
        gt.createIndex()
        dt = gt.loadRes(os.path.join(out, "coco_predictions.json"))
        assert len(dt.anns) == 5 * n, len(dt.anns)
        for a in dt.anns.values():
            assert abs(a["area"] - a["bbox"][2] * a["bbox"][3]) < 1e-6 and a["category_id"] in (1, 2, 3)
        print("ok", n, len(dt.anns))
        """
        try BatchFixture.write(Array(script.utf8), to: folder + "/check.py")
        let run = try BatchFixture.run(python, [folder + "/check.py", root, folder + "/ref"], in: folder)
        if run.status == 3 { throw XCTSkip(run.stdout) }
        XCTAssertEqual(run.status, 0, run.stdout + run.stderr)
        XCTAssertTrue(run.stdout.contains("ok 6 30"), run.stdout)
    }
}

/// Helpers for the batch tests: temporary folders, generated images, running the `yolo` binary, and strict
/// readers for the output formats.
enum BatchFixture {
    static func temporaryFolder(_ name: String) throws -> String {
        let path = NSTemporaryDirectory() + "yolo-\(name)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return (path as NSString).standardizingPath
    }

    static func write(_ bytes: [UInt8], to path: String) throws {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    /// Smooth gradients, stripes and noise: something with edges for a network to react to.
    static func pattern(width: Int, height: Int, seed: UInt64) -> RGBImage {
        var random = SeededRandom(seed: seed)
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        let stripe = 4 + Int(random.next() % 20)
        for y in 0..<height {
            for x in 0..<width {
                let i = (y * width + x) * 3
                pixels[i] = UInt8((x * 255) / max(width, 1))
                pixels[i + 1] = UInt8((y * 255) / max(height, 1))
                pixels[i + 2] = ((x + y) / stripe) % 2 == 0 ? UInt8(random.next() % 64) : 200
            }
        }
        return RGBImage(width: width, height: height, pixels: pixels)
    }

    /// A YOLO label file read as Ultralytics' loader checks it: `columns` numbers per line, an integer class,
    /// normalized coordinates within [0, 1] (1 % tolerance), positive sizes.
    static func readYOLOLabels(_ text: String, columns: Int) throws -> [[Double]] {
        struct Bad: Error, CustomStringConvertible { let description: String }
        return try text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map { line in
            let values = line.split(separator: " ", omittingEmptySubsequences: false).map { Double($0) }
            guard values.count == columns, values.allSatisfy({ $0 != nil }) else { throw Bad(description: "bad line '\(line)'") }
            let v = values.map { $0! }
            guard v[0] >= 0, v[0] == v[0].rounded() else { throw Bad(description: "class not an integer: '\(line)'") }
            guard v[1...4].allSatisfy({ $0 >= -0.01 && $0 <= 1.01 }), v[3] >= 0, v[4] >= 0 else { throw Bad(description: "not normalized: '\(line)'") }
            if columns == 6 { guard (0...1).contains(v[5]) else { throw Bad(description: "bad confidence: '\(line)'") } }
            return v
        }
    }

    struct COCORecord { var imageID: String; var categoryID: Int; var bbox: [Double]; var score: Double }

    /// A COCO results array read as pycocotools' `loadRes` needs it: image_id, category_id, bbox [x, y, w, h]
    /// with w, h ≥ 0, score.
    static func readCOCOResults(_ array: [[String: Any]]) throws -> [COCORecord] {
        struct Bad: Error { let record: [String: Any] }
        return try array.map { r in
            guard let id = r["image_id"], id is String || id is Int || id is NSNumber,
                  let category = r["category_id"] as? Int, let bbox = r["bbox"] as? [Double], bbox.count == 4,
                  bbox[2] >= 0, bbox[3] >= 0, let score = r["score"] as? Double else { throw Bad(record: r) }
            return COCORecord(imageID: "\(id)", categoryID: category, bbox: bbox, score: score)
        }
    }

    /// Every file of two trees, byte for byte.
    static func assertSameTree(_ a: String, _ b: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let fm = FileManager.default
        func files(_ root: String) throws -> [String] {
            try fm.subpathsOfDirectory(atPath: root).filter { var d: ObjCBool = false; fm.fileExists(atPath: root + "/" + $0, isDirectory: &d); return !d.boolValue }.sorted()
        }
        let left = try files(a), right = try files(b)
        XCTAssertEqual(left, right, "same files", file: file, line: line)
        XCTAssertGreaterThan(left.count, 5, file: file, line: line)
        for name in left where right.contains(name) {
            XCTAssertEqual(fm.contents(atPath: a + "/" + name), fm.contents(atPath: b + "/" + name), "\(name) differs", file: file, line: line)
        }
    }

    struct Run { var status: Int32; var stdout: String; var stderr: String }

    static func runYOLO(_ arguments: [String], in folder: String, stdin: String? = nil) throws -> Run {
        try run(try TestPaths.yoloBinary(), arguments, in: folder, stdin: stdin)
    }

    /// Starts `yolo`, waits until its journal has `lines` lines, sends `signal`, and waits for it to end.
    static func runYOLO(_ arguments: [String], in folder: String, interruptWith signal: Int32, whenJournalHas lines: Int,
                        journal: String) throws -> Run {
        try run(try TestPaths.yoloBinary(), arguments, in: folder) { process in
            let deadline = Date().addingTimeInterval(60)
            while process.isRunning && Date() < deadline {
                if let text = try? String(contentsOfFile: journal, encoding: .utf8), text.split(separator: "\n").count >= lines {
                    kill(process.processIdentifier, signal)
                    return
                }
                usleep(2000)
            }
        }
    }

    static func run(_ executable: String, _ arguments: [String], in folder: String, stdin: String? = nil,
                    whileRunning: ((Process) -> Void)? = nil) throws -> Run {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: folder)
        let id = UInt32.random(in: 0...UInt32.max)
        let outPath = folder + "/.stdout-\(id)", errPath = folder + "/.stderr-\(id)"
        FileManager.default.createFile(atPath: outPath, contents: nil)
        FileManager.default.createFile(atPath: errPath, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: outPath); try? FileManager.default.removeItem(atPath: errPath) }
        process.standardOutput = FileHandle(forWritingAtPath: outPath)
        process.standardError = FileHandle(forWritingAtPath: errPath)
        let input = Pipe()
        process.standardInput = input
        try process.run()
        if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
        input.fileHandleForWriting.closeFile()
        whileRunning?(process)
        process.waitUntilExit()
        let status = process.terminationReason == .uncaughtSignal ? -process.terminationStatus : process.terminationStatus
        return Run(status: status,
                   stdout: (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "",
                   stderr: (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "")
    }
}
