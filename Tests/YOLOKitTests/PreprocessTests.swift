import XCTest
@testable import YOLOKit

final class PreprocessTests: XCTestCase {
    func testStretchTransformMapsBoxesBack() {
        let image = RGBImage(width: 200, height: 100, fill: (255, 0, 0))
        let input = FeatureMap(shape: TensorShape(channels: 3, height: 64, width: 64))
        let t = Preprocess.stretch(image, into: input)
        XCTAssertEqual(t.scaleX, 0.32); XCTAssertEqual(t.scaleY, 0.64)
        let back = t.imageBox(Box(x1: 32, y1: 32, x2: 64, y2: 64))
        XCTAssertEqual(back, Box(x1: 100, y1: 50, x2: 200, y2: 100))
        XCTAssertEqual(input.pointer[0], 1); XCTAssertEqual(input.pointer[64 * 64], 0)  // R plane 1, G plane 0
    }

    func testDarknetLetterboxCentresAndPads() {
        let image = RGBImage(width: 200, height: 100, fill: (0, 0, 255))
        let input = FeatureMap(shape: TensorShape(channels: 3, height: 64, width: 64))
        let t = Preprocess.darknetLetterbox(image, into: input)
        // 200×100 into 64×64: new size 64×32, placed at y = 16.
        XCTAssertEqual(t.padX, 0); XCTAssertEqual(t.padY, 16); XCTAssertEqual(t.scaleX, 0.32)
        XCTAssertEqual(input.pointer[2 * 4096 + 0], 0.5)              // blue plane, row 0: padding
        XCTAssertEqual(input.pointer[2 * 4096 + 16 * 64], 1)          // blue plane, row 16: image
        XCTAssertEqual(input.pointer[2 * 4096 + 48 * 64], 0.5)        // row 48: padding again
        XCTAssertEqual(t.imageBox(Box(x1: 0, y1: 16, x2: 64, y2: 48)), Box(x1: 0, y1: 0, x2: 200, y2: 100))
        XCTAssertEqual(t.imageBox(Box(x1: -10, y1: 0, x2: 70, y2: 60)), Box(x1: 0, y1: 0, x2: 200, y2: 100))  // clipped
    }

    func testBilinearTapsMatchOpenCVRules() {
        // Downscale by 2: f = 2d + 0.5, so every tap sits halfway between two pixels (1024/1024).
        let taps = bilinearTaps(source: 8, destination: 4, clampAtBorders: true)
        XCTAssertEqual(taps.map(\.0), [0, 2, 4, 6])
        XCTAssertTrue(taps.allSatisfy { $0.1 == 1024 && $0.2 == 1024 })
        // Upscale: the first tap is left of pixel 0 (clamped), the last right of the last pixel (clamped).
        let up = bilinearTaps(source: 2, destination: 4, clampAtBorders: true)
        XCTAssertEqual(up[0].0, 0); XCTAssertEqual(up[0].1, 2048); XCTAssertEqual(up[0].2, 0)
        XCTAssertEqual(up[3].0, 1); XCTAssertEqual(up[3].1, 2048)
    }

    /// Byte-exact against cv2.resize(INTER_LINEAR) (scripts/reference/resize_golden.py).
    func testResizeMatchesOpenCVByteForByte() throws {
        let src = RGBImage(width: 37, height: 23, pixels: try readBytes(TestPaths.fixture("resize/src_37x23.rgb")))
        for (w, h) in [(64, 48), (16, 11), (80, 23), (13, 50)] {
            let expected = try readBytes(TestPaths.fixture("resize/dst_\(w)x\(h).rgb"))
            let ours = resizeBilinear(src, width: w, height: h)
            let differing = zip(ours.pixels, expected).filter { $0 != $1 }.count
            XCTAssertEqual(differing, 0, "\(w)x\(h): \(differing) bytes differ from OpenCV")
        }
    }
}
