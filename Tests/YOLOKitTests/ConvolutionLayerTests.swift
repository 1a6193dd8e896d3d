import XCTest
@testable import YOLOKit

/// im2col + GEMM convolution against a direct 7-loop convolution on random shapes.
final class ConvolutionLayerTests: XCTestCase {
    func naiveConv(_ x: [Float], _ s: TensorShape, w: [Float], b: [Float], filters: Int, size: Int, stride: Int, pad: Int,
                   groups: Int, activation: Activation) -> [Float] {
        let outH = (s.height + 2 * pad - size) / stride + 1, outW = (s.width + 2 * pad - size) / stride + 1
        let cinG = s.channels / groups, coutG = filters / groups
        var out = [Float](repeating: 0, count: filters * outH * outW)
        for f in 0..<filters {
            let g = f / coutG
            for oy in 0..<outH { for ox in 0..<outW {
                var acc: Float = b[f]
                for c in 0..<cinG { for ky in 0..<size { for kx in 0..<size {
                    let iy = oy * stride - pad + ky, ix = ox * stride - pad + kx
                    guard iy >= 0, iy < s.height, ix >= 0, ix < s.width else { continue }
                    acc += w[((f * cinG + c) * size + ky) * size + kx] * x[((g * cinG + c) * s.height + iy) * s.width + ix]
                }}}
                out[(f * outH + oy) * outW + ox] = activation.apply(acc)
            }}
        }
        return out
    }

    func testMatchesDirectConvolution() {
        var rng = SeededRandom(seed: 7)
        let cases: [(c: Int, h: Int, w: Int, f: Int, k: Int, s: Int, p: Int, g: Int)] = [
            (3, 13, 17, 8, 3, 1, 1, 1), (4, 16, 16, 6, 3, 2, 1, 1), (5, 9, 7, 3, 1, 1, 0, 1), (8, 10, 11, 8, 3, 1, 1, 2),
            (2, 5, 5, 4, 5, 1, 2, 1), (6, 12, 9, 6, 3, 2, 0, 3), (3, 1, 1, 2, 1, 1, 0, 1), (4, 7, 7, 4, 2, 2, 0, 1),
        ]
        for t in cases {
            let shape = TensorShape(channels: t.c, height: t.h, width: t.w)
            let x = rng.floats(shape.count), w = rng.floats(t.f * t.c / t.g * t.k * t.k), b = rng.floats(t.f)
            for activation in [Activation.linear, .leaky, .mish, .swish] {
                let layer = ConvolutionLayer(inputShape: shape, filters: t.f, size: t.k, stride: t.s, pad: t.p, groups: t.g,
                                             activation: activation, weights: FloatBuffer(w), bias: FloatBuffer(b))
                let input = FeatureMap(shape: shape, values: x), output = FeatureMap(shape: layer.outputShape)
                layer.forward([input], into: output, context: context(workspace: layer.workspaceSize))
                let expected = naiveConv(x, shape, w: w, b: b, filters: t.f, size: t.k, stride: t.s, pad: t.p, groups: t.g, activation: activation)
                XCTAssertEqual(output.buffer.array.count, expected.count)
                for (a, e) in zip(output.buffer.array, expected) {
                    XCTAssertEqual(a, e, accuracy: 1e-4 * max(1, abs(e)), "case \(t) \(activation)")
                }
            }
        }
    }

    func testIm2colLayout() {
        // 1 channel 3×3, kernel 2, stride 1, pad 0 → rows (ky,kx), columns (oy,ox).
        let input: [Float] = [1, 2, 3, 4, 5, 6, 7, 8, 9]
        var cols = [Float](repeating: -1, count: 4 * 4)
        input.withUnsafeBufferPointer { i in cols.withUnsafeMutableBufferPointer { c in
            im2col(i.baseAddress!, channels: 1, height: 3, width: 3, kernel: 2, stride: 1, pad: 0, outHeight: 2, outWidth: 2,
                   into: c.baseAddress!, threads: 1)
        }}
        XCTAssertEqual(cols, [1, 2, 4, 5, 2, 3, 5, 6, 4, 5, 7, 8, 5, 6, 8, 9])
        // Padding 1, stride 2 on the same input: out 2×2; row (ky=0,kx=0) reads (−1,−1),(−1,1),(1,−1),(1,1).
        var padded = [Float](repeating: -1, count: 9 * 4)
        input.withUnsafeBufferPointer { i in padded.withUnsafeMutableBufferPointer { c in
            im2col(i.baseAddress!, channels: 1, height: 3, width: 3, kernel: 3, stride: 2, pad: 1, outHeight: 2, outWidth: 2,
                   into: c.baseAddress!, threads: 2)
        }}
        XCTAssertEqual(Array(padded[0..<4]), [0, 0, 0, 5])
        XCTAssertEqual(Array(padded[16..<20]), [1, 3, 7, 9])  // centre tap (ky=1,kx=1)
    }

    /// im2col equals its definition on the stride-1 "same" shapes (one shifted copy per row, `shiftedPlane`) and
    /// on others: every tap of kernels 1/3/5/7, maps from 1×1 (all taps but the centre outside) to 9×6, into a
    /// wider row stride (the side-by-side columns of training), both thread counts.
    func testIm2colEqualsTheDefinition() {
        var generator = SplitMix64(seed: 11)
        for (h, w, k, s, p) in [(5, 5, 3, 1, 1), (1, 1, 3, 1, 1), (2, 3, 3, 1, 1), (9, 6, 5, 1, 2), (4, 4, 7, 1, 3), (6, 7, 1, 1, 0),
                                (20, 20, 3, 1, 1), (7, 5, 3, 2, 1), (6, 6, 3, 1, 0), (3, 8, 3, 1, 2)] {
            let channels = 3
            let outH = (h + 2 * p - k) / s + 1, outW = (w + 2 * p - k) / s + 1, plane = outH * outW, ld = plane + 5
            let input = (0..<(channels * h * w)).map { _ in Float.random(in: -1...1, using: &generator) }
            for threads in [1, 2] {
                var cols = [Float](repeating: .nan, count: channels * k * k * ld)
                input.withUnsafeBufferPointer { i in cols.withUnsafeMutableBufferPointer { c in
                    im2col(i.baseAddress!, channels: channels, height: h, width: w, kernel: k, stride: s, pad: p, outHeight: outH, outWidth: outW,
                           into: c.baseAddress!, rowStride: ld, threads: threads)
                }}
                for c in 0..<channels { for ky in 0..<k { for kx in 0..<k { for oy in 0..<outH { for ox in 0..<outW {
                    let iy = oy * s - p + ky, ix = ox * s - p + kx
                    let expected: Float = iy >= 0 && iy < h && ix >= 0 && ix < w ? input[(c * h + iy) * w + ix] : 0
                    let got = cols[((c * k + ky) * k + kx) * ld + oy * outW + ox]
                    XCTAssertEqual(got.bitPattern, expected.bitPattern, "\(h)×\(w) k\(k) s\(s) p\(p): c\(c) tap (\(ky), \(kx)) at (\(oy), \(ox))")
                }}}}}
                // The padding columns past each row's plane are left alone.
                XCTAssertTrue(cols[plane].isNaN, "\(h)×\(w) k\(k): wrote past the row")
            }
        }
    }

    func testBatchNormFolding() {
        let w: [Float] = [1, 2, 3, 4], convBias: [Float] = [0.5, -1]
        let (fw, fb) = ConvolutionLayer.foldBatchNorm(weights: w, convBias: convBias, gamma: [2, 0.5], beta: [1, 0],
                                                      mean: [0.25, 1], variance: [3, 15], epsilon: 1)
        // channel 0: factor 2/2 = 1; channel 1: factor 0.5/4 = 0.125
        XCTAssertEqual(fw, [1, 2, 0.375, 0.5])
        XCTAssertEqual(fb[0], 1 + (0.5 - 0.25) * 1, accuracy: 1e-6)
        XCTAssertEqual(fb[1], 0 + (-1 - 1) * 0.125, accuracy: 1e-6)
    }
}
