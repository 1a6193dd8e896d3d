import CImageCodecs
import Foundation
import XCTest
@testable import YOLOKit

/// Decoder/encoder tests against fixtures made by scripts/reference/make_image_fixtures.py, whose expected
/// pixels come from OpenCV's `cv2.imread(path, IMREAD_COLOR)` (BGR -> RGB), the project's reference.
final class ImageDecoderTests: TemporaryFolderTestCase {
    // MARK: - Fixture helpers

    private static let imagesDir = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/images")

    private func fixturePath(_ name: String) -> String { Self.imagesDir.appendingPathComponent(name).path }

    private func fixtureBytes(_ name: String) throws -> [UInt8] {
        let data = try Data(contentsOf: URL(fileURLWithPath: fixturePath(name)))
        return [UInt8](data)
    }

    private struct Entry {
        let file: String
        let width: Int?
        let height: Int?
        let expected: String?
        let pillow: String?
        let error: String?
    }

    private func manifest() throws -> [Entry] {
        let data = try Data(contentsOf: Self.imagesDir.appendingPathComponent("manifest.json"))
        let root = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let list = try XCTUnwrap(root["fixtures"] as? [[String: Any]])
        return list.map {
            Entry(file: $0["file"] as! String, width: $0["width"] as? Int, height: $0["height"] as? Int,
                  expected: $0["expected"] as? String, pillow: $0["pillow"] as? String, error: $0["error"] as? String)
        }
    }

    /// Decoding must fail with an ImageDecodeError naming `path` and containing every `fragments` string.
    private func assertDecodeFails(_ path: String, maxPixels: Int = ImageDecoder.defaultMaxPixels, _ fragments: [String],
                                   file: StaticString = #filePath, line: UInt = #line) {
        do {
            let img = try ImageDecoder.decode(contentsOf: path, maxPixels: maxPixels)
            XCTFail("\(path) decoded (\(img.width)x\(img.height)) but should have failed", file: file, line: line)
        } catch let error as ImageDecodeError {
            XCTAssertEqual(error.path, path, file: file, line: line)
            XCTAssertTrue(error.description.hasPrefix(path + ": "), error.description, file: file, line: line)
            for f in fragments {
                XCTAssertTrue(error.reason.contains(f), "'\(error.reason)' lacks '\(f)'", file: file, line: line)
            }
        } catch {
            XCTFail("unexpected error type \(type(of: error)): \(error)", file: file, line: line)
        }
    }

    private func maxAbsDiff(_ a: [UInt8], _ b: [UInt8]) -> Int {
        precondition(a.count == b.count)
        var m = 0
        for i in 0..<a.count { m = max(m, abs(Int(a[i]) - Int(b[i]))) }
        return m
    }

    // MARK: - Pixels versus OpenCV

    /// Every decodable fixture equals OpenCV's decode exactly: PNG by construction, JPEG because both use
    /// libjpeg-turbo's ISLOW IDCT and fancy upsampling, which are bit-exact across its versions (OpenCV's
    /// wheel bundles 3.1.x, Debian has 2.1.5), and CMYK via OpenCV's own integer formula.
    func testFixturesMatchOpenCV() throws {
        var checked = 0
        for entry in try manifest() {
            guard let expectedName = entry.expected, let w = entry.width, let h = entry.height else { continue }
            let path = fixturePath(entry.file)
            let img = try ImageDecoder.decode(contentsOf: path)
            XCTAssertEqual(img.width, w, entry.file)
            XCTAssertEqual(img.height, h, entry.file)
            let expected = try fixtureBytes(expectedName)
            XCTAssertEqual(expected.count, w * h * 3, entry.file)
            guard img.pixels.count == expected.count else { continue }
            let diff = maxAbsDiff(img.pixels, expected)
            XCTAssertEqual(diff, 0, "\(entry.file): max |ours - OpenCV| = \(diff)")
            checked += 1
        }
        XCTAssertGreaterThanOrEqual(checked, 40)
    }

    /// Photoshop-style CMYK (Adobe APP14, inverted samples) gives the right colors: Pillow's independent
    /// conversion agrees within rounding (it computes (255-C')(255-K')/255 with rounding, OpenCV and we use
    /// K - ((255 - C) * K >> 8)). Without the marker, OpenCV and Pillow still assume inverted samples; so do we.
    func testCMYKAgreesWithPillow() throws {
        for name in ["jpeg_cmyk_adobe.jpg", "jpeg_cmyk_noadobe.jpg"] {
            let img = try ImageDecoder.decode(contentsOf: fixturePath(name))
            let pil = try fixtureBytes("expected/\(name).pil.rgb")
            XCTAssertEqual(img.pixels.count, pil.count, name)
            XCTAssertLessThanOrEqual(maxAbsDiff(img.pixels, pil), 2, name)
        }
        // Sanity on the colors themselves: first pixel has C = 0, M = 0, K = 0 -> R = G = 255 (white-ish).
        let img = try ImageDecoder.decode(contentsOf: fixturePath("jpeg_cmyk_adobe.jpg"))
        XCTAssertGreaterThan(img.pixels[0], 240)
        XCTAssertGreaterThan(img.pixels[1], 240)
    }

    func testGrayscaleJPEGIsReplicated() throws {
        let img = try ImageDecoder.decode(contentsOf: fixturePath("jpeg_gray.jpg"))
        for i in stride(from: 0, to: img.pixels.count, by: 3) {
            XCTAssertEqual(img.pixels[i], img.pixels[i + 1])
            XCTAssertEqual(img.pixels[i], img.pixels[i + 2])
        }
    }

    func testAlphaIsDroppedNotComposited() throws {
        // Row 0 of png_rgba8.png is fully transparent; its colors must survive unchanged.
        let rgba = try ImageDecoder.decode(contentsOf: fixturePath("png_rgba8.png"))
        let rgb = try ImageDecoder.decode(contentsOf: fixturePath("png_rgb8.png"))
        XCTAssertEqual(rgba, rgb)
    }

    func testContentSniffingIgnoresExtension() throws {
        let disguised = try ImageDecoder.decode(contentsOf: fixturePath("png_disguised.jpg"))
        let png = try ImageDecoder.decode(contentsOf: fixturePath("png_rgb8.png"))
        XCTAssertEqual(disguised, png)
        // And a JPEG named .png.
        let jpegPath = try writeTemp("actually-a-jpeg.png", try fixtureBytes("jpeg_baseline_420.jpg"))
        let a = try ImageDecoder.decode(contentsOf: jpegPath)
        let b = try ImageDecoder.decode(contentsOf: fixturePath("jpeg_baseline_420.jpg"))
        XCTAssertEqual(a, b)
    }

    func testOneByOne() throws {
        let png = try ImageDecoder.decode(contentsOf: fixturePath("png_1x1.png"))
        XCTAssertEqual(png, RGBImage(width: 1, height: 1, pixels: [12, 250, 99]))
        let jpg = try ImageDecoder.decode(contentsOf: fixturePath("jpeg_1x1.jpg"))
        XCTAssertEqual(jpg.width, 1)
        XCTAssertEqual(jpg.height, 1)
        XCTAssertLessThanOrEqual(maxAbsDiff(jpg.pixels, [200, 40, 90]), 4)
    }

    // MARK: - EXIF orientation

    /// Independent reference: the pixel of the stored image that lands at upright (x, y), per EXIF.
    private func referenceOriented(_ src: RGBImage, _ o: Int) -> RGBImage {
        let w = src.width, h = src.height
        let swap = o >= 5
        let ow = swap ? h : w, oh = swap ? w : h
        var out = [UInt8](repeating: 0, count: ow * oh * 3)
        for y in 0..<oh {
            for x in 0..<ow {
                let (sx, sy): (Int, Int)
                switch o {
                case 2: (sx, sy) = (w - 1 - x, y)           // mirror horizontal
                case 3: (sx, sy) = (w - 1 - x, h - 1 - y)   // rotate 180
                case 4: (sx, sy) = (x, h - 1 - y)           // mirror vertical
                case 5: (sx, sy) = (y, x)                   // transpose
                case 6: (sx, sy) = (y, h - 1 - x)           // rotate 90 CW
                case 7: (sx, sy) = (w - 1 - y, h - 1 - x)   // transverse
                case 8: (sx, sy) = (w - 1 - y, x)           // rotate 90 CCW
                default: (sx, sy) = (x, y)
                }
                for c in 0..<3 { out[(y * ow + x) * 3 + c] = src.pixels[(sy * w + sx) * 3 + c] }
            }
        }
        return RGBImage(width: ow, height: oh, pixels: out)
    }

    func testEXIFOrientationAllEight() throws {
        let base = try ImageDecoder.decode(contentsOf: fixturePath("jpeg_orient_1.jpg"))
        XCTAssertEqual(base.width, 35)
        XCTAssertEqual(base.height, 21)
        for o in 1...8 {
            let name = "jpeg_orient_\(o).jpg"
            let raw = try ImageDecoder.decodeUnoriented(data: try fixtureBytes(name), name: name, maxPixels: 1 << 20)
            XCTAssertEqual(raw.orientation, o, name)
            XCTAssertEqual(raw.image, base, "\(name): same JPEG data as orientation 1")
            let img = try ImageDecoder.decode(contentsOf: fixturePath(name))
            XCTAssertEqual(img, referenceOriented(base, o), name)
        }
        for o in [6, 8] {
            let img = try ImageDecoder.decode(contentsOf: fixturePath("jpeg_orient_\(o)_be.jpg"))
            XCTAssertEqual(img, referenceOriented(base, o), "big-endian EXIF, orientation \(o)")
        }
    }

    func testInvalidAndHostileEXIF() throws {
        let cases = [("jpeg_orient_invalid9.jpg", 1), ("jpeg_exif_bad_ifd.jpg", 1), ("jpeg_exif_truncated.jpg", 6),
                     ("jpeg_baseline_420.jpg", 1), ("png_exif_orient6.png", 6), ("png_rgb8.png", 1)]
        for (name, expected) in cases {
            let raw = try ImageDecoder.decodeUnoriented(data: try fixtureBytes(name), name: name, maxPixels: 1 << 20)
            XCTAssertEqual(raw.orientation, expected, name)
        }
    }

    func testOrientationTransformOnTinyImage() {
        // 3x2 image, pixel values encode their position: p(x, y) = 10 * y + x.
        let src = RGBImage(width: 3, height: 2, pixels: [0, 1, 2, 10, 11, 12].flatMap { [UInt8($0), 0, 0] })
        func reds(_ img: RGBImage) -> [Int] { stride(from: 0, to: img.pixels.count, by: 3).map { Int(img.pixels[$0]) } }
        // Rotating 90 degrees clockwise puts the bottom-left pixel at the top-left.
        XCTAssertEqual(reds(src.applyingEXIFOrientation(6)), [10, 0, 11, 1, 12, 2])
        XCTAssertEqual(reds(src.applyingEXIFOrientation(8)), [2, 12, 1, 11, 0, 10])
        XCTAssertEqual(reds(src.applyingEXIFOrientation(3)), [12, 11, 10, 2, 1, 0])
        XCTAssertEqual(reds(src.applyingEXIFOrientation(2)), [2, 1, 0, 12, 11, 10])
        XCTAssertEqual(reds(src.applyingEXIFOrientation(4)), [10, 11, 12, 0, 1, 2])
        XCTAssertEqual(reds(src.applyingEXIFOrientation(5)), [0, 10, 1, 11, 2, 12])
        XCTAssertEqual(reds(src.applyingEXIFOrientation(7)), [12, 2, 11, 1, 10, 0])
        XCTAssertEqual(src.applyingEXIFOrientation(0), src)
        XCTAssertEqual(src.applyingEXIFOrientation(9), src)
        // Larger than one 64x64 tile, non-square: the blocked loop against the reference.
        var rng = SeededRandom(seed: 7)
        let big = RGBImage(width: 131, height: 70, pixels: (0..<(131 * 70 * 3)).map { _ in UInt8(truncatingIfNeeded: rng.next()) })
        for o in 1...8 { XCTAssertEqual(big.applyingEXIFOrientation(o), referenceOriented(big, o), "orientation \(o)") }
    }

    func testEXIFParserIsBoundsChecked() {
        // A valid block, then every prefix of it and seeded random garbage: never crashes, always 1...8.
        var block: [UInt8] = Array("Exif\0\0MM".utf8) + [0, 42, 0, 0, 0, 8, 0, 2]
        block += [0x01, 0x0F, 0, 2, 0, 0, 0, 4, 0, 0, 0, 0]     // Make (ignored)
        block += [0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 6, 0, 0]     // Orientation = 6
        XCTAssertEqual(ic_exif_orientation(block, block.count), 6)
        XCTAssertEqual(ic_exif_orientation(Array(block.dropFirst(6)), block.count - 6), 6, "bare TIFF (PNG eXIf)")
        for n in 0..<block.count {
            let v = ic_exif_orientation(Array(block.prefix(n)), n)
            XCTAssertTrue((1...8).contains(v))
            if n < block.count - 2 { XCTAssertEqual(v, 1, "prefix \(n)") }
        }
        XCTAssertEqual(ic_exif_orientation(nil, 100), 1)
        var rng = SeededRandom(seed: 1)
        for _ in 0..<2000 {
            var b = block
            for _ in 0..<3 { b[Int(rng.next() % UInt64(b.count))] = UInt8(truncatingIfNeeded: rng.next()) }
            let n = Int(rng.next() % UInt64(b.count + 1))
            XCTAssertTrue((1...8).contains(ic_exif_orientation(b, n)))
        }
    }

    // MARK: - Errors

    func testMissingEmptyDirectoryAndTextFiles() throws {
        assertDecodeFails(tempDir.appendingPathComponent("nope.jpg").path, ["file not found"])
        assertDecodeFails(try writeTemp("empty.jpg", []), ["empty file"])
        assertDecodeFails(tempDir.path, ["directory"])
        assertDecodeFails(try writeTemp("notes.jpg", Array("just some text, not an image\n".utf8)), ["not a JPEG or PNG image"])
        assertDecodeFails(try writeTemp("anim.png", Array("GIF89a".utf8) + [UInt8](repeating: 0, count: 20)),
                          ["not a JPEG or PNG image", "GIF"])
        XCTAssertThrowsError(try ImageDecoder.decode(data: [])) { error in
            XCTAssertEqual((error as? ImageDecodeError)?.path, "<memory>")
        }
    }

    func testTruncatedJPEGIsAnError() throws {
        for name in ["jpeg_baseline_420.jpg", "jpeg_progressive.jpg", "jpeg_gray.jpg", "jpeg_cmyk_adobe.jpg"] {
            let bytes = try fixtureBytes(name)
            for cut in [3, 4, 20, 100, 300, bytes.count / 2, bytes.count - 40, bytes.count - 2, bytes.count - 1] {
                let path = try writeTemp("cut\(cut)-\(name)", Array(bytes.prefix(cut)))
                assertDecodeFails(path, ["truncated/corrupt JPEG"])
            }
        }
        // The libjpeg message is passed through.
        let bytes = try fixtureBytes("jpeg_baseline_420.jpg")
        assertDecodeFails(try writeTemp("half.jpg", Array(bytes.prefix(bytes.count / 2))), ["Premature end of JPEG file"])
        // Data cut short but "closed" with an EOI marker: the gap is detected too.
        let patched = Array(bytes.prefix(bytes.count / 2)) + [0xFF, 0xD9]
        assertDecodeFails(try writeTemp("eoi.jpg", patched), ["truncated/corrupt JPEG"])
    }

    func testTrailingBytesAfterJPEGAreIgnored() throws {
        let bytes = try fixtureBytes("jpeg_baseline_420.jpg")
        let a = try ImageDecoder.decode(data: bytes + Array("trailing garbage".utf8))
        let b = try ImageDecoder.decode(data: bytes)
        XCTAssertEqual(a, b)
    }

    func testTruncatedAndCorruptPNG() throws {
        for name in ["png_rgb8.png", "png_interlaced_rgba16.png", "png_palette8_trns.png"] {
            let bytes = try fixtureBytes(name)
            for cut in [8, 12, 20, 33, 40, bytes.count / 2, bytes.count - 13, bytes.count - 1] {
                assertDecodeFails(try writeTemp("cut\(cut)-\(name)", Array(bytes.prefix(cut))), ["truncated/corrupt PNG"])
            }
        }
        assertDecodeFails(fixturePath("png_bad_crc.png"), ["truncated/corrupt PNG", "CRC"])
        // Ancillary chunk with a bad CRC: libpng drops the chunk, the image is fine.
        XCTAssertEqual(try ImageDecoder.decode(contentsOf: fixturePath("png_bad_text_crc.png")),
                       try ImageDecoder.decode(contentsOf: fixturePath("png_rgb8_filters.png")))
        // Corrupt zlib stream inside a valid-CRC IDAT.
        var png = try fixtureBytes("png_rgb8_filters.png")
        let idat = try XCTUnwrap(findChunk(png, "IDAT"))
        png[idat.data + 4] ^= 0xFF
        png[idat.data + 5] ^= 0xFF
        fixCRC(&png, idat)
        assertDecodeFails(try writeTemp("zlib.png", png), ["truncated/corrupt PNG"])
    }

    func testDecompressionBombGuard() throws {
        let path = fixturePath("png_bomb_100000x100000.png")
        assertDecodeFails(path, ["100000x100000", "limit"])
        // A JPEG whose SOF claims 60000x60000 (data is for 35x21): refused from the header.
        var jpeg = try fixtureBytes("jpeg_baseline_420.jpg")
        let sof = try XCTUnwrap(findMarker(jpeg, 0xC0))
        jpeg[sof + 5] = 0xEA; jpeg[sof + 6] = 0x60  // height 60000
        jpeg[sof + 7] = 0xEA; jpeg[sof + 8] = 0x60  // width 60000
        assertDecodeFails(try writeTemp("bomb.jpg", jpeg), ["60000x60000", "limit"])
        // The caller's limit applies to normal images too; exactly at the limit is fine.
        assertDecodeFails(fixturePath("jpeg_baseline_420.jpg"), maxPixels: 35 * 21 - 1, ["35x21"])
        assertDecodeFails(fixturePath("png_rgb8.png"), maxPixels: 100, ["13x9"])
        XCTAssertNoThrow(try ImageDecoder.decode(contentsOf: fixturePath("jpeg_baseline_420.jpg"), maxPixels: 35 * 21))
    }

    func testTwelveBitJPEGIsRefusedClearly() throws {
        var jpeg = try fixtureBytes("jpeg_gray.jpg")
        let sof = try XCTUnwrap(findMarker(jpeg, 0xC0))
        jpeg[sof + 1] = 0xC1  // SOF1, extended sequential
        jpeg[sof + 4] = 12    // sample precision
        assertDecodeFails(try writeTemp("twelve.jpg", jpeg), ["unsupported JPEG", "precision 12"])
    }

    func testProgressiveScanBombIsRefused() throws {
        // Repeat the first scan (DC, first pass: decoding it again just rewrites the same values) of a
        // progressive file: libjpeg only warns about the bogus progression, so without a scan limit this
        // decodes, and a large count keeps the decoder busy for a long time.
        let bytes = try fixtureBytes("jpeg_progressive.jpg")
        var scans: [Range<Int>] = []
        var i = 2
        while i + 3 < bytes.count, bytes[i] == 0xFF, bytes[i + 1] != 0xD9 {
            let marker = bytes[i + 1]
            let start = i
            i += 2 + (Int(bytes[i + 2]) << 8 | Int(bytes[i + 3]))
            if marker == 0xDA {  // entropy-coded data runs to the next marker other than FF00 / RSTn
                while i + 1 < bytes.count, !(bytes[i] == 0xFF && bytes[i + 1] != 0 && !(0xD0...0xD7).contains(bytes[i + 1])) { i += 1 }
                scans.append(start..<i)
            }
        }
        XCTAssertGreaterThan(scans.count, 3, "a progressive file has several scans")
        let first = try XCTUnwrap(scans.first)
        func withRepeats(_ n: Int) -> [UInt8] {
            Array(bytes[..<first.upperBound]) + Array([[UInt8]](repeating: Array(bytes[first]), count: n).joined())
                + Array(bytes[first.upperBound...])
        }
        XCTAssertEqual(try ImageDecoder.decode(data: withRepeats(20)), try ImageDecoder.decode(data: bytes),
                       "a few repeated scans are tolerated")
        assertDecodeFails(try writeTemp("scans.jpg", withRepeats(1100)), ["too many scans"])
    }

    /// Seeded byte mutations of valid files: every outcome is an image or an ImageDecodeError, never a crash.
    func testMutatedFilesNeverCrash() throws {
        var rng = SeededRandom(seed: 42)
        var failures = 0, successes = 0
        for name in ["jpeg_baseline_420.jpg", "jpeg_progressive.jpg", "jpeg_orient_6.jpg", "png_interlaced_rgb8.png",
                     "png_palette2_trns.png"] {
            let original = try fixtureBytes(name)
            for _ in 0..<150 {
                var b = original
                let edits = 1 + Int(rng.next() % 4)
                for _ in 0..<edits { b[Int(rng.next() % UInt64(b.count))] = UInt8(truncatingIfNeeded: rng.next()) }
                do {
                    let img = try ImageDecoder.decode(data: b, name: name, maxPixels: 4_000_000)
                    XCTAssertEqual(img.pixels.count, img.width * img.height * 3)
                    successes += 1
                } catch let e as ImageDecodeError {
                    XCTAssertEqual(e.path, name)
                    XCTAssertFalse(e.reason.isEmpty)
                    failures += 1
                }
            }
        }
        XCTAssertEqual(successes + failures, 750)
    }

    // MARK: - Encoding

    func testPNGRoundTripIsExact() throws {
        var rng = SeededRandom(seed: 3)
        let img = RGBImage(width: 37, height: 19, pixels: (0..<(37 * 19 * 3)).map { _ in UInt8(truncatingIfNeeded: rng.next()) })
        let png = try ImageEncoder.pngData(img)
        XCTAssertEqual(Array(png.prefix(8)), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        XCTAssertEqual(try ImageDecoder.decode(data: png), img)
    }

    func testJPEGRoundTripIsClose() throws {
        // Smooth content (JPEG's 4:2:0 default blurs chroma detail, so a noisy source would not be "close").
        let (w, h) = (67, 45)
        var pixels = [UInt8](repeating: 0, count: w * h * 3)
        for y in 0..<h {
            for x in 0..<w {
                let i = (y * w + x) * 3
                pixels[i] = UInt8(30 + 200 * x / (w - 1))
                pixels[i + 1] = UInt8(20 + 210 * y / (h - 1))
                pixels[i + 2] = UInt8(128 + Int(90 * sin(Double(x + y) / 15)))
            }
        }
        let smooth = RGBImage(width: w, height: h, pixels: pixels)
        for flags in [0, IC_JPEG_PROGRESSIVE, IC_JPEG_ARITHMETIC, IC_JPEG_444, IC_JPEG_PROGRESSIVE | IC_JPEG_ARITHMETIC] {
            let source = smooth
            let jpeg = try ImageEncoder.jpegData(source, quality: 95, flags: UInt32(flags))
            XCTAssertEqual(Array(jpeg.prefix(3)), [0xFF, 0xD8, 0xFF])
            let back = try ImageDecoder.decode(data: jpeg)
            XCTAssertEqual(back.width, source.width)
            XCTAssertEqual(back.height, source.height)
            var sum = 0
            for i in 0..<back.pixels.count { sum += abs(Int(back.pixels[i]) - Int(source.pixels[i])) }
            let mean = Double(sum) / Double(back.pixels.count)
            XCTAssertLessThan(mean, 1.5, "flags \(flags): mean |diff| \(mean)")
            XCTAssertLessThanOrEqual(maxAbsDiff(back.pixels, source.pixels), 12, "flags \(flags)")
        }
        // Public entry point; quality is clamped, lower quality gives smaller files.
        let q90 = try ImageEncoder.jpegData(smooth)
        let q10 = try ImageEncoder.jpegData(smooth, quality: 10)
        XCTAssertLessThan(q10.count, q90.count)
        XCTAssertNoThrow(try ImageDecoder.decode(data: try ImageEncoder.jpegData(smooth, quality: -5)))
        XCTAssertNoThrow(try ImageDecoder.decode(data: try ImageEncoder.jpegData(smooth, quality: 1000)))
    }

    func testEncodersRejectInconsistentImages() {
        var img = RGBImage(width: 4, height: 4, fill: (1, 2, 3))
        img.pixels.removeLast()
        XCTAssertThrowsError(try ImageEncoder.pngData(img))
        XCTAssertThrowsError(try ImageEncoder.jpegData(img))
        let wide = RGBImage(width: 70000, height: 1, fill: (0, 0, 0))
        XCTAssertThrowsError(try ImageEncoder.jpegData(wide)) { error in
            XCTAssertTrue("\(error)".contains("70000"), "\(error)")
        }
    }

    // MARK: - Byte-level helpers

    /// Offset of the first FF <marker> in a JPEG.
    private func findMarker(_ b: [UInt8], _ marker: UInt8) -> Int? {
        var i = 2
        while i + 3 < b.count {
            guard b[i] == 0xFF else { return nil }
            if b[i + 1] == marker { return i }
            i += 2 + (Int(b[i + 2]) << 8 | Int(b[i + 3]))
        }
        return nil
    }

    private struct Chunk { let start: Int; let length: Int; var data: Int { start + 8 } }

    private func findChunk(_ b: [UInt8], _ type: String) -> Chunk? {
        var i = 8
        while i + 8 <= b.count {
            let len = Int(b[i]) << 24 | Int(b[i + 1]) << 16 | Int(b[i + 2]) << 8 | Int(b[i + 3])
            if String(decoding: b[(i + 4)..<(i + 8)], as: UTF8.self) == type { return Chunk(start: i, length: len) }
            i += 12 + len
        }
        return nil
    }

    private func fixCRC(_ b: inout [UInt8], _ c: Chunk) {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in b[(c.start + 4)..<(c.data + c.length)] {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = (crc >> 1) ^ (0xEDB8_8320 & (0 &- (crc & 1))) }
        }
        crc ^= 0xFFFF_FFFF
        let at = c.data + c.length
        b[at] = UInt8(crc >> 24); b[at + 1] = UInt8((crc >> 16) & 0xFF); b[at + 2] = UInt8((crc >> 8) & 0xFF); b[at + 3] = UInt8(crc & 0xFF)
    }
}
