import Foundation
import XCTest
@testable import YOLOKit

/// `Network.shareBuffers`: layers that share output memory give bit-identical head outputs, also when every
/// shared buffer starts full of NaN (a layer that wrote only part of its output, trusting zeroed memory, or a
/// buffer reused while still read, would show), and the memory really shrinks.
final class NetworkMemoryTests: XCTestCase {
    func assertSharingChangesNothing(_ make: () throws -> Network, input: (FeatureMap) -> Void, _ what: String) throws {
        let plain = try make(), shared = try make()
        shared.shareBuffers()
        for node in shared.nodes where !shared.outputIndices.contains(where: { shared.nodes[$0].output.buffer === node.output.buffer }) {
            node.output.buffer.pointer.update(repeating: .nan, count: node.output.buffer.count)
        }
        for network in [plain, shared] { input(network.input) }
        let two = ExecutionOptions(threads: 2)
        plain.forward(two)
        for _ in 0..<2 { shared.forward(two) }  // twice: the second pass starts from the first one's leftovers
        XCTAssertEqual(plain.outputs.count, shared.outputs.count, what)
        for (a, b) in zip(plain.outputs, shared.outputs) {
            XCTAssertEqual(a.shape, b.shape, what)
            XCTAssertTrue(a.buffer.array == b.buffer.array, "\(what): head outputs differ with shared buffers")
        }
        XCTAssertLessThan(shared.outputBytes, plain.outputBytes / 2, "\(what): \(shared.outputBytes) vs \(plain.outputBytes) bytes")
        print("\(what): layer outputs \(plain.outputBytes / 1024) KiB → \(shared.outputBytes / 1024) KiB shared; with input and scratch \(plain.activationBytes / 1024) → \(shared.activationBytes / 1024) KiB")
    }

    func randomInput(_ map: FeatureMap) {
        var rng = SeededRandom(seed: 5)
        for i in 0..<map.shape.count { map.pointer[i] = rng.float(0, 1) }
    }

    func testDarknetNetworks() throws {
        try assertSharingChangesNothing({
            try DarknetLoader.load(cfgPath: TestPaths.fixture("tiny-v4/tiny-v4.cfg"), weightsPath: TestPaths.fixture("tiny-v4/tiny-v4.weights")).network
        }, input: randomInput, "tiny-v4")
        let weights = try TestPaths.requireModel("yolov3-tiny.weights")
        try assertSharingChangesNothing({
            try DarknetLoader.load(cfgPath: TestPaths.model("yolov3-tiny.cfg"), weightsPath: weights).network
        }, input: randomInput, "yolov3-tiny")
    }

    func testUltralyticsNetworks() throws {
        for name in ["yolov8-tiny", "yolo11-tiny", "yolo26-tiny"] {
            let model = try UltralyticsModel(path: TestPaths.fixture("ultralytics/\(name).pt"))
            try assertSharingChangesNothing({ try model.makeNetwork(height: 256, width: 320) }, input: randomInput, name)
        }
        let fall = try UltralyticsModel(path: try TestPaths.requireModel("fall-yolov8s.pt"))
        try assertSharingChangesNothing({ try fall.makeNetwork(height: 640, width: 480) }, input: randomInput, "fall-yolov8s")
    }

    /// Detectors share by default; the nodes a caller names stay readable.
    func testDetectorsShareAndKeptNodesStayReadable() throws {
        let model = try DarknetLoader.load(cfgPath: TestPaths.fixture("tiny-v4/tiny-v4.cfg"), weightsPath: TestPaths.fixture("tiny-v4/tiny-v4.weights"))
        let firstConv = try XCTUnwrap(model.network.nodes.firstIndex { $0.layer.kind == "conv" })
        let reference = try DarknetLoader.load(cfgPath: TestPaths.fixture("tiny-v4/tiny-v4.cfg"), weightsPath: TestPaths.fixture("tiny-v4/tiny-v4.weights")).network
        model.network.shareBuffers(keeping: [firstConv])
        for network in [model.network, reference] { randomInput(network.input); network.forward(ExecutionOptions(threads: 2)) }
        XCTAssertTrue(model.network.nodes[firstConv].output.buffer.array == reference.nodes[firstConv].output.buffer.array)
        let before = model.network.outputBytes
        _ = DarknetDetectionModel(model, names: ["a", "b", "c"])  // already shared: a second call changes nothing
        XCTAssertEqual(model.network.outputBytes, before)
    }
}
