import XCTest
@testable import YOLOKit

final class PoolingTests: XCTestCase {
    func run(_ values: [Float], _ shape: TensorShape, size: Int, stride: Int, pad: Int) -> (TensorShape, [Float]) {
        let layer = MaxPoolLayer(inputShape: shape, size: size, stride: stride, pad: pad)
        let out = FeatureMap(shape: layer.outputShape)
        layer.forward([FeatureMap(shape: shape, values: values)], into: out, context: context(workspace: 0))
        return (layer.outputShape, out.buffer.array)
    }

    func testStride2HalvesTheMap() {
        let x: [Float] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]
        let (shape, y) = run(x, TensorShape(channels: 1, height: 4, width: 4), size: 2, stride: 2, pad: 1)
        XCTAssertEqual(shape, TensorShape(channels: 1, height: 2, width: 2))
        XCTAssertEqual(y, [6, 8, 14, 16])
    }

    func testSize2Stride1KeepsTheMapSize() {
        // Darknet: pad = size − 1 = 1, window shifted by −pad/2 = 0, so output (y, x) = max of x[y...y+1, x...x+1]
        // clipped at the bottom/right border (yolov3-tiny's 13×13 pool).
        let x: [Float] = [1, 5, 2,
                          7, 3, 0,
                          4, 8, 6]
        let (shape, y) = run(x, TensorShape(channels: 1, height: 3, width: 3), size: 2, stride: 1, pad: 1)
        XCTAssertEqual(shape, TensorShape(channels: 1, height: 3, width: 3))
        XCTAssertEqual(y, [7, 5, 2,
                           8, 8, 6,
                           8, 8, 6])
    }

    func testNegativeValuesAndOddSizes() {
        var rng = SeededRandom(seed: 3)
        let shape = TensorShape(channels: 3, height: 5, width: 7)
        let x = rng.floats(shape.count, -5, -1)
        let (outShape, y) = run(x, shape, size: 3, stride: 2, pad: 2)
        XCTAssertEqual(outShape, TensorShape(channels: 3, height: 3, width: 4))
        for c in 0..<3 { for oy in 0..<3 { for ox in 0..<4 {
            var best = -Float.infinity
            for yy in (oy * 2 - 1)...(oy * 2 + 1) { for xx in (ox * 2 - 1)...(ox * 2 + 1) where yy >= 0 && yy < 5 && xx >= 0 && xx < 7 {
                best = max(best, x[(c * 5 + yy) * 7 + xx])
            }}
            XCTAssertEqual(y[(c * 3 + oy) * 4 + ox], best)
        }}}
    }

    func testUpsampleAndRoute() {
        let shape = TensorShape(channels: 2, height: 1, width: 2)
        let up = UpsampleLayer(inputShape: shape, factor: 2)
        let out = FeatureMap(shape: up.outputShape)
        up.forward([FeatureMap(shape: shape, values: [1, 2, 3, 4])], into: out, context: context(workspace: 0))
        XCTAssertEqual(out.buffer.array, [1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4])

        let a = FeatureMap(shape: TensorShape(channels: 4, height: 1, width: 1), values: [1, 2, 3, 4])
        let b = FeatureMap(shape: TensorShape(channels: 2, height: 1, width: 1), values: [5, 6])
        let concat = RouteLayer(inputShapes: [a.shape, b.shape])
        let c = FeatureMap(shape: concat.outputShape)
        concat.forward([a, b], into: c, context: context(workspace: 0))
        XCTAssertEqual(c.buffer.array, [1, 2, 3, 4, 5, 6])
        let split = RouteLayer(inputShapes: [a.shape], groups: 2, groupID: 1)  // yolov4-tiny's channel split
        let s = FeatureMap(shape: split.outputShape)
        split.forward([a], into: s, context: context(workspace: 0))
        XCTAssertEqual(s.buffer.array, [3, 4])
    }
}
