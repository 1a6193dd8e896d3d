import XCTest
@testable import YOLOKit

/// A two-head PSABlock (real yolo11n/yolo26n use 2 heads; the tiny fixture models only 1) against PyTorch:
/// weights from a plain state_dict, input/output from scripts/reference/ultralytics_golden.py.
final class AttentionLayerTests: XCTestCase {
    func testTwoHeadPSABlockMatchesPyTorch() throws {
        let checkpoint = try TorchCheckpoint(path: TestPaths.fixture("ultralytics/psablock_heads2.pt"))
        func tensor(_ key: String) throws -> [Float] {
            guard case .tensor(let t)? = checkpoint.root.value(forKey: key) else { throw ModelLoadError(path: "psablock", reason: "no \(key)") }
            return try checkpoint.floats(t)
        }
        /// Ultralytics Conv (conv + BN eps 1e-3 + activation) as one folded layer.
        func conv(_ prefix: String, _ input: TensorShape, filters: Int, size: Int, groups: Int = 1, _ act: Activation) throws -> ConvolutionLayer {
            let (w, b) = ConvolutionLayer.foldBatchNorm(weights: try tensor(prefix + ".conv.weight"), convBias: nil,
                                                        gamma: try tensor(prefix + ".bn.weight"), beta: try tensor(prefix + ".bn.bias"),
                                                        mean: try tensor(prefix + ".bn.running_mean"), variance: try tensor(prefix + ".bn.running_var"),
                                                        epsilon: 1e-3)
            return ConvolutionLayer(inputShape: input, filters: filters, size: size, stride: 1, pad: size / 2, groups: groups,
                                    activation: act, weights: FloatBuffer(w), bias: FloatBuffer(b))
        }
        let shape = TensorShape(channels: 32, height: 5, width: 7)
        let network = Network(inputShape: shape)
        let qkvShape = TensorShape(channels: 64, height: 5, width: 7)
        let qkv = network.append(try conv("attn.qkv", shape, filters: 64, size: 1, .linear), inputs: [Network.inputIndex])
        let pe = try conv("attn.pe", shape, filters: 32, size: 3, groups: 32, .linear)
        let core = network.append(AttentionLayer(inputShape: qkvShape, heads: 2, keyDim: 8, headDim: 16, scale: Float(pow(8.0, -0.5)), positional: pe), inputs: [qkv])
        let proj = network.append(try conv("attn.proj", shape, filters: 32, size: 1, .linear), inputs: [core])
        let x1 = network.append(ShortcutLayer(shape: shape, activation: .linear), inputs: [Network.inputIndex, proj])
        let f0 = network.append(try conv("ffn.0", shape, filters: 64, size: 1, .swish), inputs: [x1])
        let f1 = network.append(try conv("ffn.1", qkvShape, filters: 32, size: 1, .linear), inputs: [f0])
        let out = network.append(ShortcutLayer(shape: shape, activation: .linear), inputs: [x1, f1])
        network.input.pointer.update(from: try readFloats(TestPaths.fixture("ultralytics/psablock_heads2_in.f32")), count: shape.count)
        network.forward()
        let golden = try readFloats(TestPaths.fixture("ultralytics/psablock_heads2_out.f32"))
        let ours = network.nodes[out].output.buffer.array
        let worst = zip(ours, golden).map { abs($0 - $1) / max(1, abs($1)) }.max() ?? .infinity
        XCTAssertLessThanOrEqual(worst, 1e-4, "two-head PSABlock differs from PyTorch by \(worst)")
    }

    func testSoftmaxRowsSumToOne() {
        var x: [Float] = [1, 2, 3, -1000, 0, 1000]
        x.withUnsafeMutableBufferPointer { softmaxRows($0.baseAddress!, rows: 2, columns: 3) }
        XCTAssertEqual(x[0] + x[1] + x[2], 1, accuracy: 1e-6)
        XCTAssertEqual(x[5], 1, accuracy: 1e-6)
        XCTAssertTrue(x.allSatisfy(\.isFinite))
    }
}
