import Foundation
import XCTest
@testable import YOLOKit

/// Paths of committed fixtures and fetched models, found from this file's location.
enum TestPaths {
    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static func fixture(_ relative: String) -> String { repoRoot.appendingPathComponent("Tests/Fixtures/" + relative).path }
    static func model(_ relative: String) -> String { repoRoot.appendingPathComponent("Models/" + relative).path }

    /// A fetched model file, or a skip locally / a failure in CI (CI runs fetch-models first, so a missing
    /// model there is a broken setup, not a reason to pass).
    static func requireModel(_ relative: String) throws -> String {
        let path = model(relative)
        if FileManager.default.fileExists(atPath: path) { return path }
        if ProcessInfo.processInfo.environment["CI"] != nil {
            XCTFail("\(path) is missing: CI must run scripts/fetch-models.sh before the tests")
        }
        throw XCTSkip("\(path) not fetched: run scripts/fetch-models.sh")
    }

    /// The `yolo` executable: $YOLO_BINARY, else the one SwiftPM builds beside the test bundle (the test target
    /// depends on it, so `swift test` always builds it). Missing is a failure, never a skip.
    static func yoloBinary(file: StaticString = #filePath, line: UInt = #line) throws -> String {
        if let path = ProcessInfo.processInfo.environment["YOLO_BINARY"] { return path }
        let bundles = [Bundle.main.bundleURL, URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()]
            + Bundle.allBundles.map(\.bundleURL)
        // The build folder holds both the bundle and `yolo` (…/release/X.xctest[/Contents/MacOS]).
        let folders = bundles.flatMap { [$0, $0.deletingLastPathComponent(), $0.deletingLastPathComponent().deletingLastPathComponent()] }
        for folder in folders {
            let path = folder.appendingPathComponent("yolo").path
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue,
               FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        XCTFail("the yolo binary is not beside the test bundle (looked in \(folders.map(\.path))); set YOLO_BINARY", file: file, line: line)
        throw CocoaError(.fileNoSuchFile)
    }
}

/// A test case with a fresh temporary folder per test (`tempDir`), removed afterwards (made writable first:
/// tests leave read-only folders behind on purpose).
class TemporaryFolderTestCase: XCTestCase {
    var tempDir: URL!

    override func setUpWithError() throws {
        tempDir = FileManager.default.temporaryDirectory.appendingPathComponent("\(type(of: self))-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tempDir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        guard let dir = tempDir else { return }
        if let paths = FileManager.default.enumerator(atPath: dir.path)?.allObjects as? [String] {
            for path in [""] + paths { chmod(dir.appendingPathComponent(path).path, 0o700) }
        }
        try? FileManager.default.removeItem(at: dir)
    }

    /// Writes `bytes` to `name` in the temporary folder; returns its path.
    func writeTemp(_ name: String, _ bytes: [UInt8]) throws -> String {
        let url = tempDir.appendingPathComponent(name)
        try Data(bytes).write(to: url)
        return url.path
    }
}

/// Deterministic pseudo-random numbers for tests (SplitMix64).
struct SeededRandom {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in [lo, hi).
    mutating func float(_ lo: Float = -1, _ hi: Float = 1) -> Float {
        lo + (hi - lo) * Float(next() >> 40) / Float(1 << 24)
    }
    mutating func floats(_ n: Int, _ lo: Float = -1, _ hi: Float = 1) -> [Float] { (0..<n).map { _ in float(lo, hi) } }
}

func readBytes(_ path: String) throws -> [UInt8] {
    guard let data = FileManager.default.contents(atPath: path) else { throw CocoaError(.fileNoSuchFile, userInfo: [NSFilePathErrorKey: path]) }
    return [UInt8](data)
}

func readFloats(_ path: String) throws -> [Float] {
    let bytes = try readBytes(path)
    return bytes.withUnsafeBytes { raw in (0..<(bytes.count / 4)).map { raw.loadUnaligned(fromByteOffset: $0 * 4, as: Float.self) } }
}

func context(threads: Int = 2, workspace: Int) -> ExecutionContext {
    ExecutionContext(gemm: OpenBLASGEMM(), threads: threads, workspace: FloatBuffer(count: workspace))
}

/// |ours − golden| ≤ tolerance · max(1, |golden|) everywhere.
func assertClose(_ ours: [Float], _ golden: [Float], _ what: String, tolerance: Float = 1e-4,
                 file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(ours.count, golden.count, "\(what): size", file: file, line: line)
    var worst: Float = 0, worstIndex = 0
    for i in 0..<min(ours.count, golden.count) {
        let err = abs(ours[i] - golden[i]) / max(1, abs(golden[i]))
        if err > worst || err.isNaN { worst = err; worstIndex = i }
    }
    XCTAssertLessThanOrEqual(worst, tolerance, "\(what): worst relative error \(worst) at \(worstIndex)", file: file, line: line)
}

/// A reference implementation's detections for one photo (the JSON the golden scripts write).
struct GoldenDetections: Decodable {
    struct Item: Decodable { let `class`: Int; let name: String; let confidence: Float; let box: Box }
    let width: Int
    let height: Int
    let detections: [Item]

    init(fixture: String) throws {
        self = try JSONDecoder().decode(GoldenDetections.self, from: Data(try readBytes(TestPaths.fixture(fixture))))
    }
}

/// Every golden detection matched by one of ours (same class, IoU ≥ 0.95, |Δconfidence| ≤ 0.02), none extra.
func assertDetectionsMatch(_ result: DetectionResult, _ golden: GoldenDetections, _ what: String,
                           file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(result.width, golden.width, file: file, line: line)
    XCTAssertEqual(result.height, golden.height, file: file, line: line)
    XCTAssertEqual(result.boxes.count, golden.detections.count, "\(what): \(result.boxes) vs \(golden.detections)", file: file, line: line)
    var unmatched = result.boxes
    for g in golden.detections {
        guard let i = unmatched.firstIndex(where: { $0.classIndex == g.class && $0.box.iou(g.box) >= 0.95 && abs($0.confidence - g.confidence) <= 0.02 }) else {
            XCTFail("\(what): no match for golden \(g.name) \(g.confidence) \(g.box) among \(unmatched)", file: file, line: line)
            continue
        }
        XCTAssertEqual(unmatched[i].name, g.name, file: file, line: line)
        unmatched.remove(at: i)
    }
    XCTAssertTrue(unmatched.isEmpty, "\(what): extra detections \(unmatched)", file: file, line: line)
}
