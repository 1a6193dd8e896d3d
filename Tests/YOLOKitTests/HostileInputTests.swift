import CImageCodecs
import Foundation
import XCTest
import ZIPFoundation
@testable import YOLOKit

/// Bad and hostile files at the library level: the cases of the "bad input" list that the per-component test
/// files (ImageDecoderTests, DarknetLoaderTests, UnpicklerTests, TorchCheckpointTests) do not already cover,
/// the size limits that keep hostile models from overflowing or allocating without bound, and every input the
/// fuzzers ever crashed on (Tests/Fixtures/fuzz-regressions, replayed with the fuzz harness's property).
/// The README section "Bad input and fuzzing" maps each case to its test.
final class HostileInputTests: TemporaryFolderTestCase {
    /// The error must be an ImageDecodeError naming `path` whose reason contains every fragment.
    private func assertImageError(_ path: String, _ fragments: [String], maxPixels: Int = ImageDecoder.defaultMaxPixels,
                                  file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try ImageDecoder.decode(contentsOf: path, maxPixels: maxPixels), file: file, line: line) { error in
            guard let e = error as? ImageDecodeError else { return XCTFail("not an ImageDecodeError: \(error)", file: file, line: line) }
            XCTAssertEqual(e.path, path, file: file, line: line)
            for f in fragments { XCTAssertTrue(e.reason.contains(f), "'\(e.reason)' lacks '\(f)'", file: file, line: line) }
        }
    }

    // MARK: - Images

    /// CMYK samples stored as Photoshop does (Adobe APP14, transform 2 = YCCK) decode like the same samples
    /// stored as plain Adobe CMYK: libjpeg turns YCCK back into (inverted) CMYK and the decoder converts that.
    func testYCCKJPEGDecodesLikeCMYK() throws {
        let (w, h) = (24, 16)
        var cmyk = [UInt8](repeating: 0, count: w * h * 4)
        for y in 0..<h {
            for x in 0..<w {
                let i = (y * w + x) * 4
                // Smooth fields (JPEG-friendly), Adobe convention: 255 = no ink.
                cmyk[i] = UInt8(255 - 8 * x); cmyk[i + 1] = UInt8(255 - 12 * y); cmyk[i + 2] = 200; cmyk[i + 3] = UInt8(255 - 4 * (x + y))
            }
        }
        func encode(_ flags: Int32) throws -> [UInt8] {
            var out: UnsafeMutablePointer<UInt8>?
            var size = 0
            var message = [CChar](repeating: 0, count: 256)
            let status = ic_encode_jpeg_cmyk(cmyk, Int32(w), Int32(h), 100, UInt32(flags) | UInt32(IC_JPEG_444), &out, &size, &message, 256)
            XCTAssertEqual(status, Int32(IC_OK), String(cString: message))
            defer { ic_free(out) }
            return Array(UnsafeBufferPointer(start: out, count: size))
        }
        let ycck = try encode(Int32(IC_JPEG_YCCK)), plain = try encode(0)
        // The files really differ in their Adobe transform flag: 2 (YCCK) and 0 (CMYK).
        XCTAssertEqual(adobeTransform(ycck), 2)
        XCTAssertEqual(adobeTransform(plain), 0)
        let a = try ImageDecoder.decode(data: ycck, name: "ycck.jpg"), b = try ImageDecoder.decode(data: plain, name: "cmyk.jpg")
        XCTAssertEqual(a.width, w)
        XCTAssertEqual(a.height, h)
        XCTAssertEqual(a.pixels.count, b.pixels.count)
        var worst = 0
        for i in 0..<a.pixels.count { worst = max(worst, abs(Int(a.pixels[i]) - Int(b.pixels[i]))) }
        XCTAssertLessThanOrEqual(worst, 6, "YCCK and CMYK decodes of the same samples differ by \(worst)")
        // And the colors are the inverted-CMYK formula's: pixel (0, 0) has C = M = 255 (no ink), K = 255 → white.
        XCTAssertGreaterThan(a.pixels[0], 245)
        XCTAssertGreaterThan(a.pixels[1], 245)
        // A progressive YCCK file too.
        XCTAssertEqual(try ImageDecoder.decode(data: try encode(Int32(IC_JPEG_YCCK | IC_JPEG_PROGRESSIVE)), name: "p.jpg").width, w)
    }

    /// The transform byte of the first Adobe APP14 segment.
    private func adobeTransform(_ b: [UInt8]) -> Int? {
        var i = 2
        while i + 4 <= b.count, b[i] == 0xFF {
            let length = Int(b[i + 2]) << 8 | Int(b[i + 3])
            if b[i + 1] == 0xEE, length >= 12, Array(b[(i + 4)..<(i + 9)]) == Array("Adobe".utf8) { return Int(b[i + 4 + 11]) }
            i += 2 + length
        }
        return nil
    }

    /// 20000×1 and 1×20000 images (and 100000×1 PNG) decode, and run through every preprocessing path and a
    /// whole detection (stretch and letterbox) without trapping; boxes stay inside the image.
    func testVeryWideAndTallImages() throws {
        var rng = SeededRandom(seed: 11)
        let wide = RGBImage(width: 20000, height: 1, pixels: (0..<60000).map { _ in UInt8(truncatingIfNeeded: rng.next()) })
        let tall = RGBImage(width: 1, height: 20000, pixels: wide.pixels)
        let widest = RGBImage(width: 100_000, height: 1, fill: (10, 200, 30))
        for image in [wide, tall, widest] {
            let png = try ImageEncoder.pngData(image)
            let path = try writeTemp("\(image.width)x\(image.height).png", png)
            XCTAssertEqual(try ImageDecoder.decode(contentsOf: path), image)
        }
        for image in [wide, tall] {
            let jpeg = try ImageEncoder.jpegData(image, quality: 90)
            let decoded = try ImageDecoder.decode(data: jpeg, name: "x.jpg")
            XCTAssertEqual(decoded.width, image.width)
            XCTAssertEqual(decoded.height, image.height)
        }
        // Every placement the detector uses.
        for image in [wide, tall, widest] {
            let input = FeatureMap(shape: TensorShape(channels: 3, height: 32, width: 32))
            _ = Preprocess.stretch(image, into: input)
            _ = Preprocess.darknetLetterbox(image, into: input)
            let g = Preprocess.ultralyticsLetterboxGeometry(width: image.width, height: image.height, imageSize: 640)
            XCTAssertTrue(g.inputWidth % 32 == 0 && g.inputHeight % 32 == 0 && g.inputWidth <= 640 && g.inputHeight <= 640, "\(g)")
            let letterboxed = FeatureMap(shape: TensorShape(channels: 3, height: g.inputHeight, width: g.inputWidth))
            _ = Preprocess.ultralyticsLetterbox(image, into: letterboxed, imageSize: 640)
            XCTAssertTrue(letterboxed.buffer.array.allSatisfy { $0 >= 0 && $0 <= 1 })
        }
        // Whole detections with a small Darknet model, stretched and letterboxed.
        for letterbox in [false, true] {
            let detector = Detector(model: try Self.tinyDarknetModel(letterbox: letterbox), execution: ExecutionOptions(threads: 1))
            for image in [wide, tall, widest] {
                let result = detector.detect(image, path: "wide.png", options: DetectionOptions(confidence: 0.01))
                for d in result.boxes {
                    XCTAssertTrue(d.box.x1 >= 0 && d.box.y1 >= 0 && d.box.x2 <= Float(image.width) && d.box.y2 <= Float(image.height), "\(d.box)")
                }
            }
        }
    }

    /// Binary files that are not images: one clear error each, naming the file (text and GIF are in
    /// ImageDecoderTests).
    func testBinaryNonImages() throws {
        var rng = SeededRandom(seed: 5)
        let cases: [(String, [UInt8], [String])] = [
            ("random.jpg", (0..<4096).map { _ in UInt8(truncatingIfNeeded: rng.next()) }, ["not a JPEG or PNG image"]),
            ("program.png", [0x7F, 0x45, 0x4C, 0x46, 2, 1, 1, 0] + [UInt8](repeating: 0, count: 56), ["not a JPEG or PNG image"]),
            ("archive.jpg", [0x50, 0x4B, 0x03, 0x04] + [UInt8](repeating: 7, count: 60), ["not a JPEG or PNG image"]),
            ("doc.png", Array("%PDF-1.7\n%\u{00e2}\u{00e3}".utf8), ["not a JPEG or PNG image", "PDF"]),
            ("image.bmp.jpg", Array("BM".utf8) + [UInt8](repeating: 0, count: 60), ["not a JPEG or PNG image", "BMP"]),
            ("nul.jpg", [0], ["not a JPEG or PNG image"]),
            ("soi-only.jpg", [0xFF, 0xD8, 0xFF], ["truncated/corrupt JPEG"]),
            ("signature-only.png", [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A], ["truncated/corrupt PNG"]),
        ]
        for (name, bytes, fragments) in cases { assertImageError(try writeTemp(name, bytes), fragments) }
    }

    /// A file read through a symlink loop or a FIFO with nothing in it fails cleanly too.
    func testUnreadableFiles() throws {
        let loop = tempDir.appendingPathComponent("loop.jpg").path
        try FileManager.default.createSymbolicLink(atPath: loop, withDestinationPath: loop)
        assertImageError(loop, ["cannot open file"])
        let fifo = tempDir.appendingPathComponent("fifo.jpg").path
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        let writer = Thread {
            let fd = open(fifo, O_WRONLY)
            if fd >= 0 { close(fd) }  // EOF with zero bytes
        }
        writer.start()
        assertImageError(fifo, ["empty file"])
    }

    // MARK: - Darknet models

    func testMissingWeightsFileIsNamed() throws {
        let cfg = try writeTemp("model.cfg", Array(DarknetLoaderTests.cfg.utf8))
        let weights = tempDir.appendingPathComponent("model.weights").path
        XCTAssertThrowsError(try DarknetLoader.load(cfgPath: cfg)) { XCTAssertEqual("\($0)", "\(weights): weights file not found") }
        XCTAssertThrowsError(try Detector(model: cfg)) { XCTAssertEqual("\($0)", "\(weights): weights file not found") }
        // A directory where the weights file should be.
        try FileManager.default.createDirectory(atPath: weights, withIntermediateDirectories: false)
        XCTAssertThrowsError(try DarknetLoader.load(cfgPath: cfg)) { XCTAssertTrue("\($0)".hasPrefix(weights + ": "), "\($0)") }
    }

    /// A layer whose input does not match what the previous layer gives: shortcut of different shapes, route of
    /// different sizes, groups that do not divide the channels (the [yolo] head case is in DarknetLoaderTests).
    func testLayerShapeMismatchesAreExplained() {
        let base = DarknetLoaderTests.cfg
        let cases: [(String, String, String)] = [
            ("[route]\nlayers=-1", "[shortcut]\nfrom=-3", "shapes differ"),
            ("[route]\nlayers=-1", "[route]\nlayers=-1,-3", "routed layers have different sizes"),
            ("[route]\nlayers=-1", "[route]\nlayers=-1\ngroups=3\ngroup_id=0", "not divisible by groups=3"),
            ("filters=8\nsize=3\nstride=2", "filters=8\nsize=3\nstride=2\ngroups=3", "groups=3 must divide"),
        ]
        for (old, new, fragment) in cases {
            let text = base.replacingOccurrences(of: old, with: new)
            XCTAssertNotEqual(text, base)
            XCTAssertThrowsError(try build(text)) { error in
                XCTAssertTrue("\(error)".hasPrefix("test.cfg:"), "\(error)")
                XCTAssertTrue("\(error)".contains(fragment), "\(error)")
            }
        }
    }

    /// Values that would overflow Int arithmetic or ask for terabytes: each is a clear error with its line.
    func testHugeCfgValuesAreRefusedBeforeAllocating() {
        let base = DarknetLoaderTests.cfg
        let cases: [(String, String, String)] = [
            ("width=32", "width=1000000000", "larger than 65536 per side"),
            ("filters=8\n", "filters=4611686018427387904\n", "'filters' is 4611686018427387904, outside 1...65536"),
            ("size=3\nstride=2", "size=99999\nstride=2", "'size' is 99999"),
            ("pad=1\nactivation=relu", "padding=9223372036854775807\nactivation=relu", "'padding' is 9223372036854775807"),
            ("classes=2", "classes=9223372036854775807", "'classes' is 9223372036854775807"),
            ("[route]\nlayers=-1", "[upsample]\nstride=4611686018427387904", "'stride' is 4611686018427387904"),
            ("[route]\nlayers=-1", "[upsample]\nstride=30000", "larger than 65536 per dimension"),
            ("[maxpool]\nsize=2\nstride=2", "[maxpool]\nsize=2\nstride=9223372036854775807", "'stride' is 9223372036854775807"),
            // Valid numbers, but the first conv's im2col alone needs 29 GiB at 16384×16384: over the 8 GiB limit.
            ("width=32\nheight=32", "width=16384\nheight=16384", "network memory"),
        ]
        for (old, new, fragment) in cases {
            let text = base.replacingOccurrences(of: old, with: new)
            XCTAssertNotEqual(text, base, old)
            XCTAssertThrowsError(try build(text)) { error in
                XCTAssertTrue("\(error)".hasPrefix("test.cfg:"), "\(error)")
                XCTAssertTrue("\(error)".contains(fragment), "'\(error)' lacks '\(fragment)'")
            }
        }
        // The limits are the caller's: a tight budget refuses the normal test network.
        XCTAssertThrowsError(try build(base, limits: ModelLimits(maxNetworkBytes: 8 << 10))) {
            XCTAssertTrue("\($0)".contains("more than the limit of"), "\($0)")
        }
    }

    /// The default limits never refuse the real models at their usual sizes (numbers for the README).
    func testRealModelsFitTheDefaultLimits() throws {
        let cfg = try DarknetConfig.load(path: try TestPaths.requireModel("yolov3-tiny.cfg"))
        var report: [String] = []
        for size in [416, 640, 1280, 2048, 4096] {
            let plan = try DarknetLoader.plan(cfg, inputSize: size)
            report.append("yolov3-tiny \(size): \(NetworkBudget.size(floats: plan.networkFloats))")
        }
        XCTAssertThrowsError(try DarknetLoader.plan(cfg, inputSize: 8192)) { XCTAssertTrue("\($0)".contains("more than the limit of 8.0 GiB"), "\($0)") }
        let fall = try UltralyticsModel(path: try TestPaths.requireModel("fall-yolov8s.pt"))
        report.append("fall-yolov8s 640 (estimate): \(NetworkBudget.size(floats: fall.estimatedFloats640))")
        XCTAssertLessThan(fall.estimatedFloats640 * 4, ModelLimits().maxNetworkBytes / 4)
        print("network memory: " + report.joined(separator: "; "))
    }

    private func build(_ text: String, limits: ModelLimits = ModelLimits()) throws -> DarknetModel {
        let config = try DarknetConfig.parse(text, path: "test.cfg")
        let plan = try DarknetLoader.plan(config, limits: limits)
        var weights = try DarknetWeights(data: Self.weightsData(floats: plan.parameterCount), path: "test.weights")
        return try DarknetLoader.build(config, weights: &weights, options: ExecutionOptions(limits: limits))
    }

    /// A weights file with the version 0.2 header and `floats` values in [0.5, 1.5).
    static func weightsData(floats: Int, seed: UInt64 = 1) -> Data {
        var d = Data()
        for v: Int32 in [0, 2, 5] { withUnsafeBytes(of: v.littleEndian) { d.append(contentsOf: $0) } }
        withUnsafeBytes(of: UInt64(0).littleEndian) { d.append(contentsOf: $0) }
        var rng = SeededRandom(seed: seed)
        for _ in 0..<floats { withUnsafeBytes(of: rng.float(0.5, 1.5)) { d.append(contentsOf: $0) } }
        return d
    }

    /// DarknetLoaderTests' 32×32 network with random weights, as a detection model.
    static func tinyDarknetModel(letterbox: Bool = false) throws -> DarknetDetectionModel {
        var text = DarknetLoaderTests.cfg
        if letterbox { text = text.replacingOccurrences(of: "channels=3", with: "channels=3\nletter_box=1") }
        let config = try DarknetConfig.parse(text, path: "tiny.cfg")
        var weights = try DarknetWeights(data: weightsData(floats: DarknetLoaderTests.parameterCount), path: "tiny.weights")
        return DarknetDetectionModel(try DarknetLoader.build(config, weights: &weights), names: ["a", "b"])
    }

    // MARK: - Ultralytics checkpoints

    /// A small Ultralytics-style checkpoint in the fuzz harness's pickle form (scripts/make-fuzz-corpus.py):
    /// the pickle, then the Detect stride values (its first storage); other storages get the index pattern.
    static let ultraSeed = TestPaths.repoRoot.appendingPathComponent("Fuzz/corpus/torch/ultra_a.pkl").path

    /// Writes the checkpoint zip for a pickle-form input, as the torch fuzz target does.
    func checkpoint(fromPickleForm bytes: [UInt8], name: String = "model.pt") throws -> String {
        let result = try Unpickler.unpickle(bytes, path: name)
        var entries: [(path: String, bytes: [UInt8])] = [("archive/data.pkl", Array(bytes[..<result.end])),
                                                         ("archive/byteorder", Array("little".utf8))]
        var payload = bytes[result.end...]
        var seen: Set<String> = []
        for t in result.tensors where !seen.contains(t.storageKey) {
            seen.insert(t.storageKey)
            let size = t.storageCount * t.dtype.byteSize
            var data = Array(payload.prefix(size))
            payload = payload.dropFirst(data.count)
            var i = data.count / t.dtype.byteSize
            while data.count < size {
                switch t.dtype {
                case .float32: withUnsafeBytes(of: Float(i).bitPattern.littleEndian) { data.append(contentsOf: $0) }
                case .int64: withUnsafeBytes(of: Int64(i).littleEndian) { data.append(contentsOf: $0) }
                default: data.append(contentsOf: [UInt8](repeating: 0, count: t.dtype.byteSize))
                }
                i += 1
            }
            entries.append(("archive/data/" + t.storageKey, data))
        }
        let url = tempDir.appendingPathComponent(name)
        let archive = try Archive(url: url, accessMode: .create)
        for (path, bytes) in entries {
            try archive.addEntry(with: path, type: .file, uncompressedSize: Int64(bytes.count), compressionMethod: .none) { position, size in
                Data(bytes[Int(position)..<(Int(position) + size)])
            }
        }
        return url.path
    }

    /// The seed loads and detects; hostile variants of it (values only an attacker would write) are clear errors.
    func testHostileUltralyticsValuesAreClearErrors() throws {
        let seed = try readBytes(Self.ultraSeed)
        let good = try checkpoint(fromPickleForm: seed)
        let detector = try Detector(model: good, execution: ExecutionOptions(threads: 1), imageSize: 64)
        _ = detector.detect(RGBImage(width: 40, height: 30, fill: (90, 120, 150)), path: "x.png")

        func withStride(_ value: Float) -> [UInt8] { Array(seed.dropLast(4)) + withUnsafeBytes(of: value.bitPattern.littleEndian) { Array($0) } }
        let cases: [([UInt8], String)] = [
            (withStride(.nan), "strides"),
            (withStride(.infinity), "strides"),
            (withStride(0), "strides"),
            (withStride(-32), "strides"),
            (withStride(1e30), "strides"),
            (withStride(64), "largest stride is 32"),
            (try replacingInt(in: seed, key: "nc", with: -1), "nc (number of classes) is -1"),
            (try replacingInt(in: seed, key: "nc", with: 1 << 40), "outside 1...65536"),
            (try replacingInt(in: seed, key: "reg_max", with: 0), "reg_max is 0"),
            (try replacingInt(in: seed, key: "groups", with: 0), "groups is 0"),
            (try replacingInt(in: seed, key: "groups", with: 1 << 62), "groups is"),
        ]
        for (i, (bytes, fragment)) in cases.enumerated() {
            let path = try checkpoint(fromPickleForm: bytes, name: "hostile\(i).pt")
            assertLoadError([path + ": ", fragment]) { _ = try UltralyticsModel(path: path) }
        }
    }

    /// The pickle with the first int value after the string `key` (BINUNICODE, optional memo op) replaced.
    private func replacingInt(in bytes: [UInt8], key: String, with value: Int) throws -> [UInt8] {
        let needle = [0x58] + withUnsafeBytes(of: UInt32(key.utf8.count).littleEndian) { Array($0) } + Array(key.utf8)
        let start = try XCTUnwrap((0...(bytes.count - needle.count)).first { Array(bytes[$0..<($0 + needle.count)]) == needle })
        var i = start + needle.count
        if bytes[i] == 0x71 { i += 2 } else if bytes[i] == 0x72 { i += 5 } else if bytes[i] == 0x94 { i += 1 }  // BINPUT, LONG_BINPUT, MEMOIZE
        let width: Int
        switch bytes[i] {
        case 0x4B: width = 2  // BININT1
        case 0x4D: width = 3  // BININT2
        case 0x4A: width = 5  // BININT
        default: throw XCTSkip("unexpected opcode after \(key)")
        }
        let long = [UInt8(0x8A), 8] + withUnsafeBytes(of: Int64(value).littleEndian) { Array($0) }  // LONG1, 8 bytes
        return Array(bytes[..<i]) + long + Array(bytes[(i + width)...])
    }

    /// A tensor view far larger than its storage (stride 0) is refused before anything reads it.
    func testExpandedTensorViewIsBounded() {
        let storage = Unpickler.StorageRef(key: "0", dtype: .float32, className: "FloatStorage", location: "cpu", count: 1)
        XCTAssertThrowsError(try Unpickler.validatedTensor(storage: storage, offset: 0, shape: [1 << 30], strides: [0]) {
            ModelLoadError(path: "x.pt", reason: $0)
        }) { XCTAssertTrue("\($0)".contains("views larger than their storage"), "\($0)") }
        XCTAssertNoThrow(try Unpickler.validatedTensor(storage: storage, offset: 0, shape: [1000], strides: [0]) {
            ModelLoadError(path: "x.pt", reason: $0)
        })
    }

    // MARK: - Fuzz regressions

    /// Inputs behind fixed bugs (Tests/Fixtures/fuzz-regressions/<target>-<what>.<ext>, listed in its README): each is
    /// replayed through the same calls as its fuzz target and must give the expected clear error, not a trap, a
    /// memory error, a hang or a runaway allocation.
    static let regressionErrors: [String: String] = [
        "darknet-weights-header-overflow.weights": "weights file too short",  // was: Int32 overflow trap in the header check
        "torch-newline-in-class-name.pkl": "collections.Ordered\\nict",       // was: a message broken over two lines
        "torch-stride-64.pkl": "largest stride is 32",                          // was: precondition failure in the letterbox
        "torch-c2f-odd-split.pkl": "cannot be split in two halves",             // was: heap overflow in the route layer
        "torch-residual-shape-mismatch.pkl": "residual add of different shapes", // was: read past the smaller map
        "torch-shared-module-dag.pkl": "more than 200000 modules",              // was: 2^40 module visits (a hang)
        "torch-expanded-weight-view.pkl": "for a 640×640 input",                // was: ~11 GB allocated by the first image
    ]

    func testFuzzRegressions() throws {
        let dir = TestPaths.fixture("fuzz-regressions")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir).filter { !$0.hasPrefix(".") && $0 != "README.md" }.sorted()
        XCTAssertEqual(Set(files), Set(Self.regressionErrors.keys), "every fixture needs an expected error (and a README line)")
        for name in files {
            let path = (dir as NSString).appendingPathComponent(name)
            let bytes = try readBytes(path)
            var thrown: Error?
            do {
                if name.hasPrefix("image-") {
                    _ = try ImageDecoder.decode(contentsOf: path, maxPixels: 1 << 22)
                } else if name.hasPrefix("darknet-cfg-") {
                    let config = try DarknetConfig.load(path: path)
                    let plan = try DarknetLoader.plan(config)
                    var weights = try DarknetWeights(data: Self.weightsData(floats: plan.parameterCount), path: path)
                    _ = try DarknetLoader.build(config, weights: &weights)
                } else if name.hasPrefix("darknet-weights-") {
                    var weights = try DarknetWeights(path: path)
                    _ = try DarknetLoader.build(try DarknetConfig.parse(DarknetLoaderTests.cfg, path: path), weights: &weights)
                } else if name.hasPrefix("torch-") {
                    let pt = bytes.starts(with: [0x50, 0x4B, 0x03, 0x04]) ? path : try checkpoint(fromPickleForm: bytes, name: name + ".pt")
                    _ = try UltralyticsDetectionModel(path: pt, imageSize: 64)
                } else {
                    XCTFail("\(name): unknown target prefix")
                }
            } catch {
                thrown = error
            }
            let text: String
            switch thrown {
            case let e as ImageDecodeError: text = e.description; XCTAssertEqual(e.path, path, name)
            case let e as ModelLoadError: text = e.description; XCTAssertTrue(e.path.hasSuffix(name) || e.path.hasSuffix(name + ".pt"), "\(name): \(e)")
            case nil: text = "(no error)"
            default: text = "\(thrown!)"; XCTFail("\(name): not the library's error type: \(type(of: thrown!))")
            }
            XCTAssertFalse(text.contains("\n"), "\(name): message over several lines: \(text)")
            if let expected = Self.regressionErrors[name] {
                XCTAssertTrue(text.contains(expected), "\(name): expected '\(expected)', got \(text)")
            }
        }
    }
}
