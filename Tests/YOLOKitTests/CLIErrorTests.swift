import Foundation
import XCTest
@testable import YOLOKit

/// The `yolo` command line on bad input, run as a user runs it: the built binary in a child process, checked by
/// exit status and stderr. Never a crash (a signal), a stack trace or a silent skip: each failure is one line
/// naming the file (or flag) and the reason, and a batch goes on past a bad image.
///
/// The binary is the `yolo` product next to this test bundle (swift test builds it; YOLO_BINARY overrides).
final class CLIErrorTests: TemporaryFolderTestCase {
    struct Run {
        let status: Int32
        let signaled: Bool
        let stdout: String
        let stderr: String
        var errorLines: [String] { stderr.split(separator: "\n").map(String.init).filter { $0.hasPrefix("error:") } }
    }

    // MARK: - Running the binary

    /// Runs `yolo ARGS` (optionally through `sh -c "PREFIX; exec yolo ARGS"`) with a time limit.
    func yolo(_ args: [String], shellPrefix: String? = nil, timeout: TimeInterval = 120,
              file: StaticString = #filePath, line: UInt = #line) throws -> Run {
        let binary = try TestPaths.yoloBinary()
        let process = Process()
        if let shellPrefix {
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            process.arguments = ["-c", "\(shellPrefix); exec \"$0\" \"$@\"", binary] + args
        } else {
            process.executableURL = URL(fileURLWithPath: binary)
            process.arguments = args
        }
        // Files, not pipes: a chatty child cannot block on a full pipe.
        let out = tempDir.appendingPathComponent("stdout-\(UUID().uuidString)"), err = tempDir.appendingPathComponent("stderr-\(UUID().uuidString)")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        _ = FileManager.default.createFile(atPath: err.path, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: out)
        process.standardError = try FileHandle(forWritingTo: err)
        var environment = ProcessInfo.processInfo.environment
        environment["YOLO_MODELS_DIR"] = tempDir.path  // no accidental use of fetched models
        process.environment = environment
        try process.run()
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
            XCTFail("yolo \(args.joined(separator: " ")) did not finish within \(Int(timeout)) s (a hang)", file: file, line: line)
        }
        process.waitUntilExit()
        let run = Run(status: process.terminationStatus, signaled: process.terminationReason == .uncaughtSignal,
                      stdout: (try? String(contentsOf: out, encoding: .utf8)) ?? "", stderr: (try? String(contentsOf: err, encoding: .utf8)) ?? "")
        XCTAssertFalse(run.signaled, "yolo \(args.joined(separator: " ")) was killed by signal \(run.status):\n\(run.stderr)", file: file, line: line)
        XCTAssertFalse(run.stderr.contains("Fatal error") || run.stderr.contains("Backtrac") || run.stderr.contains("runtime failure"),
                       "a trap / stack trace on stderr:\n\(run.stderr)", file: file, line: line)
        return run
    }

    @discardableResult
    static func shell(_ command: String) throws -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", command]
        try p.run()
        p.waitUntilExit()
        return p.terminationStatus
    }

    /// Every usage error (ArgumentParser's parse errors and our own value checks) exits with 2.
    func assertUsageError(_ run: Run, _ fragments: [String], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(run.status, 2, "expected the usage-error status; stderr:\n\(run.stderr)", file: file, line: line)
        for f in fragments { XCTAssertTrue(run.stderr.contains(f), "stderr lacks '\(f)':\n\(run.stderr)", file: file, line: line) }
        XCTAssertTrue(run.stdout.isEmpty, "stdout should be empty on a usage error:\n\(run.stdout)", file: file, line: line)
    }

    // MARK: - Fixtures written per test

    /// DarknetLoaderTests' 32×32 network (2 classes) with random weights: tiny.cfg + tiny.weights.
    func tinyModel() throws -> String {
        let cfg = tempDir.appendingPathComponent("tiny.cfg")
        try DarknetLoaderTests.cfg.write(to: cfg, atomically: true, encoding: .utf8)
        try HostileInputTests.weightsData(floats: DarknetLoaderTests.parameterCount).write(to: tempDir.appendingPathComponent("tiny.weights"))
        return cfg.path
    }

    func image(_ name: String, width: Int = 40, height: Int = 30, png: Bool = true) throws -> String {
        var rng = SeededRandom(seed: UInt64(name.utf8.count))
        let img = RGBImage(width: width, height: height, pixels: (0..<(width * height * 3)).map { _ in UInt8(truncatingIfNeeded: rng.next()) })
        let url = tempDir.appendingPathComponent(name)
        try Data(png ? ImageEncoder.pngData(img) : ImageEncoder.jpegData(img)).write(to: url)
        return url.path
    }

    // MARK: - Flags

    func testUnknownFlagIsAUsageError() throws {
        assertUsageError(try yolo(["detect", "x.jpg", "--bogus"]), ["--bogus"])
        assertUsageError(try yolo(["detect", "x.jpg", "--conf"]), ["--conf"])  // missing value
        assertUsageError(try yolo(["frobnicate"]), ["frobnicate"])
        assertUsageError(try yolo(["detect"]), ["source"])  // no image given
    }

    func testOutOfRangeValuesAreUsageErrors() throws {
        let cases: [([String], [String])] = [
            (["--conf", "2"], ["--conf", "2"]),
            (["--conf", "-0.1"], ["--conf"]),
            (["--conf", "nan"], ["--conf"]),
            (["--conf", "abc"], ["--conf", "abc"]),
            (["--iou", "1.5"], ["--iou", "1.5"]),
            (["--imgsz", "0"], ["--imgsz", "0"]),
            (["--imgsz", "-32"], ["--imgsz"]),
            (["--imgsz", "100000"], ["--imgsz", "100000"]),
            (["--imgsz", "99999999999999999999"], ["--imgsz"]),
            (["--max-det", "0"], ["--max-det", "0"]),
            (["--threads", "0"], ["--threads", "0"]),
            (["--classes", "a,b"], ["--classes", "a,b"]),
            (["--classes", "-1"], ["--classes"]),
            (["--format", "xml"], ["--format", "xml"]),
        ]
        for (flags, fragments) in cases {
            assertUsageError(try yolo(["detect", "x.jpg"] + flags), fragments)
        }
    }

    /// Like Ultralytics: an --imgsz that is not a multiple of the stride (32) is rounded up, with a warning.
    func testImgszIsRoundedToAStrideMultipleWithAWarning() throws {
        let model = try tinyModel(), photo = try image("photo.png")
        let run = try yolo(["detect", photo, "--model", model, "--imgsz", "33"])
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertTrue(run.stderr.contains("warning") && run.stderr.contains("33") && run.stderr.contains("64"), run.stderr)
        XCTAssertTrue(run.stdout.contains("64×64 input"), run.stdout)
        // An exact multiple: no warning.
        let exact = try yolo(["detect", photo, "--model", model, "--imgsz", "64"])
        XCTAssertEqual(exact.status, 0, exact.stderr)
        XCTAssertFalse(exact.stderr.contains("warning"), exact.stderr)
    }

    // MARK: - Bad images in a batch

    func testBadImagesInABatchAreReportedAndTheRunGoesOn() throws {
        let model = try tinyModel()
        let good1 = try image("good1.png"), good2 = try image("good2.jpg", png: false)
        let pngBytes = try readBytes(try image("source.png"))
        let bad: [(String, String)] = [
            (try writeTemp("empty.jpg", []), "empty file"),
            (try writeTemp("truncated.png", Array(pngBytes.prefix(pngBytes.count / 2))), "truncated/corrupt PNG"),
            (try writeTemp("notes.jpg", Array("not an image\n".utf8)), "not a JPEG or PNG image"),
            (tempDir.appendingPathComponent("missing.jpg").path, "file not found"),
            (try writeTemp("disguised.png", try readBytes(good2)), ""),  // a JPEG named .png: decoded by content, not an error
        ]
        let sources = [good1] + bad.map(\.0) + [good2]
        for format in ["text", "json"] {
            let run = try yolo(["detect"] + sources + ["--model", model, "--format", format])
            XCTAssertEqual(run.status, 1, "some inputs failed: exit 1\n\(run.stderr)")
            let failing = bad.filter { !$0.1.isEmpty }
            XCTAssertEqual(run.errorLines.count, failing.count, run.stderr)
            for (path, reason) in failing {
                let lines = run.errorLines.filter { $0.contains(path + ":") }
                XCTAssertEqual(lines.count, 1, "one error line for \(path):\n\(run.stderr)")
                XCTAssertTrue(lines.first?.contains(reason) ?? false, "\(lines) lacks '\(reason)'")
            }
            // The good images (and the disguised one) were processed, in order, after the failures before them.
            for path in [good1, good2, bad[4].0] { XCTAssertTrue(run.stdout.contains(path), "\(path) missing from stdout:\n\(run.stdout)") }
            if format == "json" {
                let data = try XCTUnwrap(run.stdout.data(using: .utf8))
                let items = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [[String: Any]], run.stdout)
                XCTAssertEqual(items.count, 3)
            }
        }
    }

    // MARK: - Bad models

    func testBadModelFilesAreErrorsNamingTheFile() throws {
        let photo = try image("photo.png")
        let cfgOnly = tempDir.appendingPathComponent("alone.cfg")
        try DarknetLoaderTests.cfg.write(to: cfgOnly, atomically: true, encoding: .utf8)
        let badCfg = try writeTemp("bad.cfg", Array(DarknetLoaderTests.cfg.replacingOccurrences(of: "[maxpool]", with: "[maxpoo]").utf8))
        try HostileInputTests.weightsData(floats: DarknetLoaderTests.parameterCount).write(to: tempDir.appendingPathComponent("bad.weights"))
        let shortCfg = try writeTemp("short.cfg", Array(DarknetLoaderTests.cfg.utf8))
        try HostileInputTests.weightsData(floats: 10).write(to: tempDir.appendingPathComponent("short.weights"))
        let notZip = try writeTemp("text.pt", Array("hello\n".utf8))
        var p = PickleBuilder()
        p.proto(); p.global("os", "system"); p.string("echo pwned"); p.tuple1(); p.reduce(); p.stop()
        let evil = try TorchCheckpointTests.makeZip([("archive/data.pkl", p.bytes)])
        let evilPT = tempDir.appendingPathComponent("evil.pt").path
        try FileManager.default.copyItem(atPath: evil, toPath: evilPT)
        let cases: [(String, [String])] = [
            (tempDir.appendingPathComponent("nope.cfg").path, ["nope.cfg"]),
            (cfgOnly.path, [tempDir.appendingPathComponent("alone.weights").path, "weights file not found"]),
            (badCfg, [badCfg + ":16:", "unknown section [maxpoo]"]),
            (shortCfg, [tempDir.appendingPathComponent("short.weights").path, "too short"]),
            (notZip, [notZip, "not a zip archive"]),
            (evilPT, [evilPT, "refusing to call os.system"]),
        ]
        for (model, fragments) in cases {
            let run = try yolo(["detect", photo, "--model", model])
            XCTAssertEqual(run.status, 2, "a bad model exits 2\n\(run.stderr)")
            XCTAssertEqual(run.errorLines.count, 1, run.stderr)
            for f in fragments { XCTAssertTrue(run.stderr.contains(f), "stderr lacks '\(f)':\n\(run.stderr)") }
            XCTAssertTrue(run.stdout.isEmpty, run.stdout)
        }
    }

    // MARK: - Flags still to land (skipped until `yolo detect --help` lists them)

    /// --max-pixels: the decompression-bomb guard of the CLI (library: ImageDecoder.defaultMaxPixels).
    func testMaxPixelsRefusesLargeImagesBeforeDecoding() throws {
        let model = try tinyModel()
        let small = try image("small.png", width: 10, height: 10), big = try image("big.png", width: 40, height: 30)
        let run = try yolo(["detect", small, big, "--model", model, "--max-pixels", "500"])
        XCTAssertEqual(run.status, 1, run.stderr)
        XCTAssertEqual(run.errorLines.count, 1, run.stderr)
        XCTAssertTrue(run.errorLines.first?.contains(big + ":") ?? false, run.stderr)
        XCTAssertTrue(run.stderr.contains("40x30") && run.stderr.contains("limit"), run.stderr)
        XCTAssertTrue(run.stdout.contains(small), run.stdout)
        // The default refuses the committed 100000×100000 PNG bomb from its header.
        let bomb = TestPaths.fixture("images/png_bomb_100000x100000.png")
        let defaultRun = try yolo(["detect", bomb, "--model", model])
        XCTAssertEqual(defaultRun.status, 1, defaultRun.stderr)
        XCTAssertTrue(defaultRun.stderr.contains("100000x100000"), defaultRun.stderr)
        for value in ["0", "-5", "abc"] { assertUsageError(try yolo(["detect", small, "--max-pixels", value]), ["--max-pixels"]) }
    }

    func testUnwritableSaveDirIsAClearError() throws {
        let model = try tinyModel(), photo = try image("photo.png")
        let blocker = try writeTemp("plain-file", [1, 2, 3])
        // Unwritable even for root: a directory path below a regular file.
        for dir in [blocker, blocker + "/sub"] {
            let run = try yolo(["detect", photo, "--model", model, "--save-dir", dir])
            XCTAssertNotEqual(run.status, 0, run.stderr)
            XCTAssertTrue(run.stderr.contains(dir), "stderr does not name \(dir):\n\(run.stderr)")
        }
        if getuid() != 0 {  // permission bits do not stop root
            let locked = tempDir.appendingPathComponent("locked")
            try FileManager.default.createDirectory(at: locked, withIntermediateDirectories: false)
            try Self.shell("chmod 500 '\(locked.path)'")
            let run = try yolo(["detect", photo, "--model", model, "--save-dir", locked.path])
            XCTAssertNotEqual(run.status, 0, run.stderr)
            XCTAssertTrue(run.stderr.contains(locked.path), run.stderr)
        }
    }

    /// A full disk while writing: simulated with a file-size limit (writes past it fail with EFBIG, like ENOSPC;
    /// SIGXFSZ is ignored so the write fails instead of killing the process). Whatever is left in the save dir
    /// must be complete files: no partial images, no temporary files.
    func testDiskFullWhileWritingLeavesNoPartialFiles() throws {
        let model = try tinyModel()
        let photos = try (0..<3).map { try image("photo\($0).png", width: 300, height: 200) }
        let saveDir = tempDir.appendingPathComponent("out")
        // Annotated images are the big files; JSON lines the small ones.
        let saves = ["--save-image", "--save-jsonl"]
        let run = try yolo(["detect"] + photos + ["--model", model, "--save-dir", saveDir.path] + saves,
                           shellPrefix: "trap '' XFSZ; ulimit -f 64")  // 64 blocks: 32–64 KB per file
        XCTAssertNotEqual(run.status, 0, "writing 300×200 images under a 64-block file limit must fail:\n\(run.stderr)")
        XCTAssertFalse(run.errorLines.isEmpty, run.stderr)
        let left = (FileManager.default.enumerator(atPath: saveDir.path)?.allObjects as? [String]) ?? []
        for name in left {
            let path = saveDir.appendingPathComponent(name).path
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else { continue }
            let base = (name as NSString).lastPathComponent
            XCTAssertFalse(base.hasSuffix(".tmp") || base.hasSuffix(".part") || base.hasSuffix("~") || base.contains(".tmp."),
                           "temporary file left: \(name)")
            switch (name as NSString).pathExtension.lowercased() {
            case "jpg", "jpeg", "png":
                XCTAssertNoThrow(try ImageDecoder.decode(contentsOf: path), "partial image left: \(name)")
            case "json":
                XCTAssertNoThrow(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))), "partial JSON left: \(name)")
            case "jsonl":
                // Every line complete: a line cut by the failed write would not parse.
                let text = try String(contentsOfFile: path, encoding: .utf8)
                XCTAssertTrue(text.isEmpty || text.hasSuffix("\n"), "\(name) ends in a partial line")
                for line in text.split(separator: "\n") {
                    XCTAssertNoThrow(try JSONSerialization.jsonObject(with: Data(line.utf8)), "partial line in \(name): \(line.prefix(80))")
                }
            default:
                break
            }
        }
    }
}
