import Foundation
import XCTest
@testable import YOLOKit

/// Raw network outputs and detections, bit for bit, against a snapshot written by the same test before a
/// refactoring (`YOLO_SNAPSHOT_WRITE=path swift test -c release --filter OutputSnapshotTests`): every model kind,
/// both backends, the sample photos. Float results depend on the CPU's kernels (OpenBLAS picks them at run time),
/// so the comparison runs only on the CPU model the snapshot was written on, and says so otherwise.
final class OutputSnapshotTests: XCTestCase {
    static let snapshotPath = TestPaths.fixture("snapshots/outputs.json")

    struct Case { let name: String; let model: String; let endToEnd: Bool? }

    func cases() throws -> [Case] {
        [Case(name: "yolov3-tiny", model: try TestPaths.requireModel("yolov3-tiny.cfg"), endToEnd: nil),
         Case(name: "fall-yolov8s", model: try TestPaths.requireModel("fall-yolov8s.pt"), endToEnd: nil),
         Case(name: "yolov8-tiny", model: TestPaths.fixture("ultralytics/yolov8-tiny.pt"), endToEnd: nil),
         Case(name: "yolo11-tiny", model: TestPaths.fixture("ultralytics/yolo11-tiny.pt"), endToEnd: nil),
         Case(name: "yolo26-tiny-e2e", model: TestPaths.fixture("ultralytics/yolo26-tiny.pt"), endToEnd: true),
         Case(name: "yolo26-tiny-nms", model: TestPaths.fixture("ultralytics/yolo26-tiny.pt"), endToEnd: false)]
    }

    /// 64-bit FNV-1a of the floats' bytes.
    static func digest(_ p: UnsafePointer<Float>, _ count: Int) -> String {
        digest(bytes: UnsafeRawBufferPointer(start: p, count: count * 4))
    }

    static func digest<Bytes: Sequence>(bytes: Bytes) -> String where Bytes.Element == UInt8 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in bytes { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return String(h, radix: 16)
    }

    /// "model/backend/photo" → [output digests…, the number of detections and a digest of their exact float bits].
    func snapshot() throws -> [String: [String]] {
        var result: [String: [String]] = [:]
        for c in try cases() {
            for backend in ["blas", "swift"] {
                let detector = try YOLOKitSnapshotSupport.detector(model: c.model, endToEnd: c.endToEnd, backend: backend)
                for photo in ["bus.jpg", "zidane.jpg"] {
                    let path = try TestPaths.requireModel("samples/" + photo)
                    let image = try ImageDecoder.decode(contentsOf: path)
                    let detection = YOLOKitSnapshotSupport.detect(detector, image)
                    let boxes = detection.boxes.map {
                        "\($0.classIndex) \($0.confidence.bitPattern) \([$0.box.x1, $0.box.y1, $0.box.x2, $0.box.y2].map(\.bitPattern))"
                    }
                    let boxBytes = Array(boxes.joined(separator: "\n").utf8)
                    result["\(c.name)/\(backend)/\(photo)"] = detection.outputs.map { Self.digest($0.pointer, $0.shape.count) + " \($0.shape)" }
                        + ["\(boxes.count) detections " + Self.digest(bytes: boxBytes)]
                }
            }
        }
        return result
    }

    static var cpu: String {
        let info = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        return info.split(separator: "\n").first { $0.hasPrefix("model name") }.map(String.init) ?? "unknown"
    }

    func testOutputsEqualSnapshot() throws {
        let current = try snapshot()
        if let out = ProcessInfo.processInfo.environment["YOLO_SNAPSHOT_WRITE"] {
            let file: [String: Any] = ["cpu": Self.cpu, "outputs": current]
            try JSONSerialization.data(withJSONObject: file, options: [.prettyPrinted, .sortedKeys]).write(to: URL(fileURLWithPath: out))
            return
        }
        let data = try Data(contentsOf: URL(fileURLWithPath: Self.snapshotPath))
        let file = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let cpu = try XCTUnwrap(file["cpu"] as? String), saved = try XCTUnwrap(file["outputs"] as? [String: [String]])
        guard cpu == Self.cpu else { throw XCTSkip("snapshot written on '\(cpu)', this is '\(Self.cpu)': float kernels differ") }
        XCTAssertEqual(Set(saved.keys), Set(current.keys))
        for (key, lines) in saved.sorted(by: { $0.key < $1.key }) {
            XCTAssertEqual(current[key] ?? [], lines, key)
        }
    }
}
