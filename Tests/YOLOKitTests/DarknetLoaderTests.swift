import Foundation
import XCTest
@testable import YOLOKit

final class DarknetLoaderTests: XCTestCase {
    /// A tiny but complete cfg: conv (BN) → maxpool → conv → route → conv (linear) → yolo.
    static let cfg = """
    [net]
    # training keys in [net] are ignored
    width=32
    height=32
    channels=3
    momentum=0.9

    [convolutional]
    batch_normalize=1
    filters=4
    size=3
    stride=1
    pad=1
    activation=leaky

    [maxpool]
    size=2
    stride=2

    [convolutional]
    filters=8
    size=3
    stride=2
    pad=1
    activation=relu

    [route]
    layers=-1

    [convolutional]
    size=1
    stride=1
    pad=1
    filters=14
    activation=linear

    [yolo]
    mask = 0,1
    anchors = 10,14, 23,27, 37,58
    classes=2
    num=3
    jitter=.3
    """

    /// Parameters: conv1 4·4 + 4·3·9 = 124; conv2 8 + 8·4·9 = 296; conv3 14 + 14·8 = 126 → 546 floats.
    static let parameterCount = 546

    func weightsData(floats: Int, major: Int32 = 0, minor: Int32 = 2) -> Data {
        var d = Data()
        for v in [major, minor, 5] { withUnsafeBytes(of: v.littleEndian) { d.append(contentsOf: $0) } }
        if major * 10 + minor >= 2 { withUnsafeBytes(of: UInt64(12345).littleEndian) { d.append(contentsOf: $0) } }
        else { withUnsafeBytes(of: Int32(12345).littleEndian) { d.append(contentsOf: $0) } }
        var rng = SeededRandom(seed: 1)
        for _ in 0..<floats { withUnsafeBytes(of: rng.float(0.5, 1.5)) { d.append(contentsOf: $0) } }
        return d
    }

    func build(_ text: String = cfg, floats: Int = parameterCount) throws -> DarknetModel {
        let config = try DarknetConfig.parse(text, path: "test.cfg")
        var weights = try DarknetWeights(data: weightsData(floats: floats), path: "test.weights")
        return try DarknetLoader.build(config, weights: &weights)
    }

    func testBuildsShapesAndHeads() throws {
        let model = try build()
        let shapes = model.network.nodes.map(\.output.shape)
        XCTAssertEqual(shapes, [TensorShape(channels: 4, height: 32, width: 32), TensorShape(channels: 4, height: 16, width: 16),
                                TensorShape(channels: 8, height: 8, width: 8), TensorShape(channels: 8, height: 8, width: 8),
                                TensorShape(channels: 14, height: 8, width: 8), TensorShape(channels: 14, height: 8, width: 8)])
        XCTAssertEqual(model.heads.count, 1)
        XCTAssertEqual(model.heads[0].anchors.map(\.w), [10, 23])
        XCTAssertEqual(model.network.outputIndices, [5])
        model.network.forward()  // runs without trapping
        XCTAssertTrue(model.network.outputs[0].buffer.array.allSatisfy(\.isFinite))
    }

    func testWeightsHeaderVersions() throws {
        let old = try DarknetWeights(data: weightsData(floats: 3, major: 0, minor: 1), path: "old.weights")
        XCTAssertEqual(old.headerSize, 16)
        XCTAssertEqual(old.seen, 12345)
        let new = try DarknetWeights(data: weightsData(floats: 3), path: "new.weights")
        XCTAssertEqual(new.headerSize, 20)
        XCTAssertEqual(new.parameterCount, 3)
    }

    func testShortAndLongWeightsFilesAreErrorsNamingBothSizes() throws {
        let config = try DarknetConfig.parse(Self.cfg, path: "test.cfg")
        for floats in [Self.parameterCount - 1, Self.parameterCount + 1, 0] {
            var weights = try DarknetWeights(data: weightsData(floats: floats), path: "test.weights")
            XCTAssertThrowsError(try DarknetLoader.build(config, weights: &weights)) { error in
                let text = "\(error)"
                XCTAssertTrue(text.hasPrefix("test.weights: weights file too"), text)
                XCTAssertTrue(text.contains("expected \(20 + 4 * Self.parameterCount) bytes"), text)
                XCTAssertTrue(text.contains("file has \(20 + 4 * floats) bytes"), text)
            }
        }
        XCTAssertThrowsError(try DarknetWeights(data: Data([1, 2, 3]), path: "tiny.weights")) {
            XCTAssertTrue("\($0)".contains("tiny.weights: weights file too short for its header"))
        }
    }

    func testUnknownSectionAndKeyNameTheLine() {
        let badSection = Self.cfg.replacingOccurrences(of: "[maxpool]", with: "[maxpoo]")
        XCTAssertThrowsError(try build(badSection)) { XCTAssertEqual("\($0)", "test.cfg:16: unknown section [maxpoo] (supported: convolutional, maxpool, route, upsample, shortcut, yolo)") }
        let badKey = Self.cfg.replacingOccurrences(of: "stride=2\n\n[convolutional]", with: "stride=2\nsizee=3\n\n[convolutional]")
        XCTAssertThrowsError(try build(badKey)) { XCTAssertEqual("\($0)", "test.cfg:19: [maxpool]: unknown key 'sizee'") }
        let badValue = Self.cfg.replacingOccurrences(of: "filters=8", with: "filters=eight")
        XCTAssertThrowsError(try build(badValue)) { XCTAssertEqual("\($0)", "test.cfg:21: [convolutional]: 'filters' expects an integer, got 'eight'") }
    }

    func testHeadChannelMismatchIsExplained() {
        let bad = Self.cfg.replacingOccurrences(of: "filters=14", with: "filters=15")
        XCTAssertThrowsError(try build(bad, floats: Self.parameterCount + 1 + 8)) {
            XCTAssertTrue("\($0)".contains("outputs 15 channels, but 2 anchors × (5 + 2 classes) = 14 are needed"), "\($0)")
        }
    }

    func testRouteToAFutureLayerIsAnError() {
        let bad = Self.cfg.replacingOccurrences(of: "layers=-1", with: "layers=7")
        XCTAssertThrowsError(try build(bad)) { XCTAssertTrue("\($0)".contains("refers to layer 7, which is not an earlier layer"), "\($0)") }
    }

    func testParserKeepsLineNumbersAndComments() throws {
        let c = try DarknetConfig.parse("; comment\n[net]\nwidth = 416 # trailing\n\n[yolo]\nmask=0", path: "x.cfg")
        XCTAssertEqual(c.sections.map(\.name), ["net", "yolo"])
        XCTAssertEqual(c.sections[0].options["width"]?.value, "416")
        XCTAssertEqual(c.sections[0].options["width"]?.line, 3)
        XCTAssertThrowsError(try DarknetConfig.parse("width=3", path: "x.cfg")) { XCTAssertEqual("\($0)", "x.cfg:1: option 'width=3' before the first [section]") }
        XCTAssertThrowsError(try DarknetConfig.parse("[net]\nwidth=3\nwidth=4", path: "x.cfg")) { XCTAssertEqual("\($0)", "x.cfg:3: duplicate key 'width' (first set at line 2)") }
    }

    func testMissingFilesAreNamed() {
        XCTAssertThrowsError(try DarknetLoader.load(cfgPath: "/nonexistent/m.cfg")) { XCTAssertEqual("\($0)", "/nonexistent/m.cfg: config file not found") }
    }
}
