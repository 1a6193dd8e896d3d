import CQuantKernels
import Foundation
import XCTest
@testable import YOLOKit

/// The vectorized kernels shared by both backends (activations with the fast exp, DFL softmax, max pooling,
/// upsampling) against plain scalar definitions.
final class KernelTests: XCTestCase {
    func testExpIsWithinOneUlp() {
        var worst = 0.0
        var x: Float = -87
        while x < 87.98 {  // the lanes stay within [−87, 88], where exp is not clamped
            var v = SIMD16<Float>()
            for j in 0..<16 { v[j] = x + Float(j) * 0.000731 }
            let e = VectorMath.exp(v)
            for j in 0..<16 {
                let ref = Foundation.exp(Double(v[j]))
                worst = max(worst, abs(Double(e[j]) - ref) / Double(Float(ref).ulp))
            }
            x += 0.0117
        }
        XCTAssertLessThanOrEqual(worst, 1.0, "exp: worst error \(worst) ulp")
        // Clamped outside the float range instead of overflowing to inf / flushing to 0.
        let edges = VectorMath.exp(SIMD16<Float>(-1000, -88, 89, 1000, .infinity, -.infinity, 0, 1, -1, 2, -2, 10, -10, 50, -50, 88))
        XCTAssertTrue((0..<16).allSatisfy { edges[$0].isFinite && edges[$0] > 0 })
        XCTAssertEqual(edges[6], 1)
        XCTAssertTrue(VectorMath.exp(SIMD16(repeating: .nan))[0].isNaN)
    }

    /// Vector activations equal the scalar (Foundation) definitions to a few ulp, for every activation, with
    /// bias, over plane sizes with and without a 16-lane tail.
    /// The 16-lane half → float conversion (fp16 checkpoints) gives `halfToFloat`'s bits for all 65 536 halves,
    /// NaNs stay NaN; from odd starts and lengths (the scalar tail), and through a contiguous fp16 tensor view.
    func testVectorHalfToFloatEqualsTheScalarConversion() {
        let halves = (0...UInt16.max).map { $0 }
        for (start, length) in [(0, halves.count), (1, 1000), (7, 15), (3, 17), (0, 0)] {
            var out = [Float](repeating: -1, count: length)
            halves.withUnsafeBufferPointer { h in out.withUnsafeMutableBufferPointer { o in
                halfToFloat(UnsafeRawPointer(h.baseAddress! + start), into: o.baseAddress!, count: length)
            } }
            for i in 0..<length {
                let expected = halfToFloat(halves[start + i])
                if expected.isNaN { XCTAssertTrue(out[i].isNaN, "half 0x\(String(halves[start + i], radix: 16))"); continue }
                XCTAssertEqual(out[i].bitPattern, expected.bitPattern, "half 0x\(String(halves[start + i], radix: 16))")
            }
        }
        XCTAssertEqual(halfToFloat(0x3C00), 1)
        XCTAssertEqual(halfToFloat(0x0001), Float(bitPattern: 0x3380_0000))  // the smallest subnormal, 2^-24
    }

    /// The GEMM's 8-row A panel pack and the matrix transpose (8 × 8 register transposes in C) move every float to
    /// its place by definition, bit for bit, for sizes with and without 8-wide tails, strides larger than the rows,
    /// and a transpose split into row strips.
    func testPackingTransposesEqualTheDefinition() {
        var generator = SplitMix64(seed: 7)
        for (depth, lda) in [(8, 8), (256, 300), (13, 13), (7, 9), (1, 1), (0, 4), (291, 291)] {
            let a = (0..<(8 * lda)).map { _ in Float.random(in: -1...1, using: &generator) }
            var packed = [Float](repeating: .nan, count: 8 * depth)
            cqk_transpose(a, 8, Int64(depth), Int64(lda), &packed, 0, 8)  // packA's call for a full panel
            for k in 0..<depth { for i in 0..<8 { XCTAssertEqual(packed[k * 8 + i].bitPattern, a[i * lda + k].bitPattern, "depth \(depth) k \(k) row \(i)") } }
        }
        for (rows, cols, lds) in [(8, 8, 8), (64, 64, 64), (70, 45, 50), (3, 17, 17), (129, 9, 9), (1, 1, 1), (200, 31, 40)] {
            let src = (0..<(rows * lds)).map { _ in Float.random(in: -1...1, using: &generator) }
            for strips in [[0..<rows], [0..<min(rows, 64), min(rows, 64)..<rows]] {
                var out = [Float](repeating: .nan, count: rows * cols)
                for strip in strips { cqk_transpose(src, Int64(rows), Int64(cols), Int64(lds), &out, Int64(strip.lowerBound), Int64(strip.upperBound)) }
                for i in 0..<rows { for j in 0..<cols { XCTAssertEqual(out[j * rows + i].bitPattern, src[i * lds + j].bitPattern, "\(rows)×\(cols) (\(i), \(j))") } }
            }
            var viaSwift = [Float](repeating: .nan, count: rows * cols)
            src.withUnsafeBufferPointer { s in viaSwift.withUnsafeMutableBufferPointer { o in
                transposeMatrix(s.baseAddress!, rows: rows, columns: cols, sourceStride: lds, into: o.baseAddress!, threads: 2)
            } }
            for i in 0..<rows { for j in 0..<cols { XCTAssertEqual(viaSwift[j * rows + i], src[i * lds + j]) } }
        }
    }

    /// cqk_expf (the training SiLU's exp) gives the C library's expf bits: every 7th float of |x| < 88 in one
    /// 8-lane block of 11 (~10⁸ values), the edges of the fast path, and the blocks the scalar fallback takes
    /// (|x| ≥ 88, ±∞, NaN, subnormals).
    func testVectorExpfEqualsTheCLibrary() {
        var x: [Float] = []
        for sign in [UInt32(0), 0x8000_0000] {
            var bits: UInt32 = 0
            while bits < 0x42B0_0000 {
                for i in 0..<8 { x.append(Float(bitPattern: sign | min(bits &+ UInt32(i) &* 7, 0x42AF_FFFF))) }
                bits &+= 8 * 7 * 11
            }
        }
        let edges: [Float] = [0, -0, 1, -1, 87.99, -87.99, 88, -88, 88.72, 88.73, -103.9, -104, -150, .infinity, -.infinity,
                              .nan, .leastNonzeroMagnitude, -.leastNormalMagnitude, 1e-30, -1e-30, .greatestFiniteMagnitude]
        for e in edges { x += [e, 0.5, -2, 3, 10, -20, 40, -80] }  // one slow lane in a block of otherwise fast ones
        x += [1.5, -2.5, 7]  // a tail shorter than a block
        var y = [Float](repeating: 0, count: x.count)
        cqk_expf(x, &y, Int64(x.count))
        var mismatches = 0
        for (v, e) in zip(x, y) where e.bitPattern != Foundation.exp(v).bitPattern && !(e.isNaN && v.isNaN) {
            mismatches += 1
            if mismatches <= 3 { XCTFail("expf(\(v)): \(e) vs the C library's \(Foundation.exp(v))") }
        }
        XCTAssertEqual(mismatches, 0, "of \(x.count)")
    }

    func testActivationsMatchScalarReference() {
        var rng = SeededRandom(seed: 21)
        for act in Activation.allCases {
            for plane in [1, 15, 16, 17, 100, 1000] {
                let channels = 3
                var data = rng.floats(channels * plane, -30, 30)
                data[0] = 0; if data.count > 1 { data[1] = -25 }
                let bias = rng.floats(channels)
                let expected = (0..<data.count).map { act.apply(data[$0] + bias[$0 / plane]) }
                data.withUnsafeMutableBufferPointer { d in bias.withUnsafeBufferPointer { b in
                    act.applyWithBias(d.baseAddress!, bias: b.baseAddress!, channels: channels, plane: plane, threads: 2)
                }}
                for (i, (got, want)) in zip(data, expected).enumerated() {
                    XCTAssertEqual(got, want, accuracy: 4 * max(want.magnitude, 1e-30).ulp + 1e-37, "\(act) plane \(plane) at \(i)")
                }
            }
        }
        // A one-channel map with a large plane is split across threads: same values.
        var big = rng.floats(70_001, -8, 8)
        let expected = big.map { Activation.swish.apply($0) }
        big.withUnsafeMutableBufferPointer { Activation.swish.applyWithBias($0.baseAddress!, bias: nil, channels: 1, plane: 70_001, threads: 2) }
        for (got, want) in zip(big, expected) { XCTAssertEqual(got, want, accuracy: 4 * max(want.magnitude, 1e-30).ulp + 1e-37) }
    }

    /// The fused-multiply-add SiLU (the activations' path in a build for the CPU) within 3 ulp of x·σ(x) in double
    /// precision over [−80, 90] and within 3 ulp of the unfused `silu` over [−90, 90] (below −87.3 both clamp e^−x at
    /// e^88); NaN stays NaN.
    func testFusedSiLUIsWithinThreeUlp() {
        var x: Float = -90, worst = 0.0
        while x < 90 {
            var v = SIMD16<Float>()
            for lane in 0..<16 { v[lane] = x + Float(lane) * 0.000_7 }
            let fused = VectorMath.siluFused(v), plain = VectorMath.silu(v)
            for lane in 0..<16 {
                let d = Double(v[lane]), want = d / (1 + Foundation.exp(-d))
                let ulp = Double(max(Float(abs(want)), Float.leastNormalMagnitude).ulp)
                if v[lane] > -80 { worst = max(worst, abs(Double(fused[lane]) - want) / ulp) }  // below, exp clamps (as in `silu`)
                XCTAssertEqual(Double(fused[lane]), Double(plain[lane]), accuracy: 3 * ulp + 1e-37, "x = \(v[lane])")
            }
            x += 0.0113
        }
        XCTAssertLessThanOrEqual(worst, 3, "worst error in ulp")  // 2.1 measured (the exp's ulp, then a division)
        let edges = VectorMath.siluFused(SIMD16([.nan, .infinity, -.infinity, 0, -0.0, 1e-30, -1e-30, 88, -88, 100, -100, 1, -1, 20, -20, 5]))
        let plainEdges = VectorMath.silu(SIMD16([.nan, .infinity, -.infinity, 0, -0.0, 1e-30, -1e-30, 88, -88, 100, -100, 1, -1, 20, -20, 5]))
        XCTAssertTrue(edges[0].isNaN)
        XCTAssertEqual(edges[1], .infinity)
        XCTAssertEqual(edges[2], plainEdges[2])  // −∞ / e^88 (exp clamps), as the unfused version
        XCTAssertEqual(edges[3], 0)
        XCTAssertEqual(edges[9], 100)
        XCTAssertEqual(edges[10], 0, accuracy: 1e-35)
    }

    func testSoftmaxExpectation() {
        var rng = SeededRandom(seed: 22)
        for (bins, plane) in [(16, 37), (16, 16), (4, 5), (1, 3)] {
            let logits = rng.floats(bins * plane, -10, 10)
            var out = [Float](repeating: -1, count: plane)
            logits.withUnsafeBufferPointer { l in out.withUnsafeMutableBufferPointer { o in
                softmaxExpectation(l.baseAddress!, bins: bins, plane: plane, into: o.baseAddress!)
            }}
            for cell in 0..<plane {
                let v = (0..<bins).map { Double(logits[$0 * plane + cell]) }
                let m = v.max()!, e = v.map { Foundation.exp($0 - m) }, sum = e.reduce(0, +)
                let want = e.enumerated().reduce(0.0) { $0 + Double($1.offset) * $1.element / sum }
                XCTAssertEqual(Double(out[cell]), want, accuracy: 1e-5 * max(1, want), "bins \(bins) cell \(cell)")
            }
        }
    }

    /// Max pooling against the direct definition (window at (o·stride − pad/2), positions outside ignored), for
    /// Darknet's 2×2/2 and 2×2/1, SPPF's 5×5/1 (pad 2 each side), and odd sizes and strides, with widths that
    /// exercise the 16-lane paths and their tails.
    func testMaxPoolMatchesDirectDefinition() {
        var rng = SeededRandom(seed: 23)
        let cases: [(c: Int, h: Int, w: Int, size: Int, stride: Int, pad: Int)] = [
            (3, 8, 40, 2, 2, 1), (2, 13, 13, 2, 1, 1), (4, 15, 20, 5, 1, 4), (2, 9, 35, 3, 2, 2), (1, 7, 50, 3, 1, 2),
            (2, 33, 37, 2, 2, 1), (1, 4, 70, 4, 3, 0), (5, 20, 64, 5, 1, 4), (1, 1, 1, 2, 1, 1), (2, 6, 17, 9, 1, 8),
        ]
        for t in cases {
            let shape = TensorShape(channels: t.c, height: t.h, width: t.w)
            let layer = MaxPoolLayer(inputShape: shape, size: t.size, stride: t.stride, pad: t.pad)
            let x = rng.floats(shape.count, -3, 3)
            let out = FeatureMap(shape: layer.outputShape)
            layer.forward([FeatureMap(shape: shape, values: x)], into: out, context: context(workspace: 0))
            let o = layer.outputShape, offset = t.pad / 2
            for c in 0..<t.c { for oy in 0..<o.height { for ox in 0..<o.width {
                var best = -Float.greatestFiniteMagnitude
                for dy in 0..<t.size { for dx in 0..<t.size {
                    let y = oy * t.stride - offset + dy, xx = ox * t.stride - offset + dx
                    if y >= 0 && y < t.h && xx >= 0 && xx < t.w { best = max(best, x[(c * t.h + y) * t.w + xx]) }
                }}
                XCTAssertEqual(out.buffer.pointer[(c * o.height + oy) * o.width + ox], best, "\(t) at \(c),\(oy),\(ox)")
            }}}
        }
    }

    func testUpsampleMatchesDirectDefinition() {
        var rng = SeededRandom(seed: 24)
        for (c, h, w, f) in [(2, 3, 37, 2), (1, 2, 16, 2), (3, 4, 5, 3), (1, 1, 1, 2)] {
            let shape = TensorShape(channels: c, height: h, width: w)
            let layer = UpsampleLayer(inputShape: shape, factor: f)
            let x = rng.floats(shape.count)
            let out = FeatureMap(shape: layer.outputShape)
            layer.forward([FeatureMap(shape: shape, values: x)], into: out, context: context(workspace: 0))
            let expected = (0..<layer.outputShape.count).map { i -> Float in
                let ox = i % (w * f), oy = (i / (w * f)) % (h * f), ch = i / (w * f * h * f)
                return x[(ch * h + oy / f) * w + ox / f]
            }
            XCTAssertEqual(out.buffer.array, expected, "\(c)×\(h)×\(w) ×\(f)")
        }
    }

    /// The filter transform U = G g Gᵀ (computed 16 filters at a time, over both cores) equals the definition evaluated
    /// one filter at a time in double precision and rounded once — bit for bit, in both layouts, with channel counts
    /// that leave partial blocks (Cout % 16 ≠ 0, Cin·Cout % 16 ≠ 0).
    func testWinogradFilterTransformIsTheDefinitionRoundedOnce() {
        var rng = SeededRandom(seed: 31)
        for (cout, cin) in [(33, 40), (64, 48), (100, 37), (16, 1024)] {
            let weights = FloatBuffer(rng.floats(cout * cin * 9, -1, 1))
            for tile in [WinogradTile.f2x2, .f4x4] {
                let alpha = tile.inputSize, g = tile.filterTransform
                for transposed in [false, true] {
                    let u = WinogradWeights(weights: weights.pointer, tile: tile, outChannels: cout, inChannels: cin, transposed: transposed).u
                    var mismatches = 0
                    for co in 0..<cout {
                        for ci in 0..<cin {
                            let w = (0..<9).map { Double(weights.pointer[(co * cin + ci) * 9 + $0]) }
                            var gw = [[Double]](repeating: [0, 0, 0], count: alpha)
                            for r in 0..<alpha {
                                for c in 0..<3 {
                                    let p0: Double = g[r][0] * w[c], p1: Double = g[r][1] * w[3 + c], p2: Double = g[r][2] * w[6 + c]
                                    gw[r][c] = (p0 + p1) + p2
                                }
                            }
                            for r in 0..<alpha {
                                for c in 0..<alpha {
                                    let p0: Double = gw[r][0] * g[c][0], p1: Double = gw[r][1] * g[c][1], p2: Double = gw[r][2] * g[c][2]
                                    let expected = Float((p0 + p1) + p2)
                                    let at = (r * alpha + c) * cout * cin + (transposed ? ci * cout + co : co * cin + ci)
                                    if u.pointer[at].bitPattern != expected.bitPattern { mismatches += 1 }
                                }
                            }
                        }
                    }
                    XCTAssertEqual(mismatches, 0, "\(tile) \(cout)×\(cin) transposed \(transposed)")
                }
            }
        }
    }

    /// Winograd F(2×2, 3×3) and F(4×4, 3×3) against the direct convolution (im2col + OpenBLAS) on the same layer: odd
    /// and even map sizes (partial edge tiles), maps spanning several tile batches, every activation, both GEMM
    /// layouts, both backends' GEMMs. Worst relative error seen (error / max(1, |direct|)): F(2×2) 1.6e-5, F(4×4)
    /// 1.7e-4, both on the 256-channel case (F(4×4) 3e-5 to 6e-5 with 32 to 64 channels): F(4×4)'s transforms scale
    /// by up to 8 and its 36 products cancel more, so its rounding error is about 10× larger.
    func testWinogradMatchesDirectConvolution() {
        var rng = SeededRandom(seed: 25)
        var layouts = Set<[Bool]>()
        var worstError: [WinogradTile: Float] = [:]
        let cases: [(c: Int, f: Int, h: Int, w: Int, act: Activation)] = [
            (40, 36, 13, 13, .leaky), (32, 33, 17, 10, .swish), (64, 32, 8, 9, .mish), (33, 40, 26, 26, .linear),
            (32, 32, 100, 70, .logistic), (48, 64, 12, 40, .relu), (64, 128, 13, 13, .leaky), (40, 100, 9, 11, .swish),
            (256, 64, 30, 41, .leaky), (32, 320, 35, 37, .swish),
        ]
        for t in cases {
            let shape = TensorShape(channels: t.c, height: t.h, width: t.w)
            let layer = ConvolutionLayer(inputShape: shape, filters: t.f, size: 3, stride: 1, pad: 1, groups: 1, activation: t.act,
                                         weights: FloatBuffer(rng.floats(t.f * t.c * 9, -0.2, 0.2)), bias: FloatBuffer(rng.floats(t.f)))
            guard let chosen = layer.winograd else { return XCTFail("\(t): Winograd not chosen") }
            let input = FeatureMap(shape: shape, values: rng.floats(shape.count, -2, 2))
            let direct = FeatureMap(shape: layer.outputShape)
            let im2colSpace = FloatBuffer(count: t.c * 9 * layer.outputShape.planeSize)
            func convolution(output: FeatureMap, workspace: FloatBuffer, winograd: WinogradWeights?) -> ConvolutionGEMM {
                ConvolutionGEMM(input: input.pointer, geometry: layer.geometry,
                                weights: layer.weights.pointer, bias: layer.bias.pointer, activation: t.act, output: output.pointer,
                                workspace: workspace.pointer, threads: 2, winograd: winograd)
            }
            convolution(output: direct, workspace: im2colSpace, winograd: nil).runUnfused(OpenBLASGEMM())
            for tile in [WinogradTile.f2x2, .f4x4] {
                let w = WinogradWeights.shared(for: layer.weights, tile: tile, outChannels: t.f, inChannels: t.c,
                                               transposed: Winograd.prefersTransposed(tile, inChannels: t.c, outputShape: layer.outputShape))
                layouts.insert([tile == .f4x4, w.transposed])
                let workspace = FloatBuffer(count: Winograd.workspaceSize(tile, inputShape: shape, outputShape: layer.outputShape))
                for gemm in [OpenBLASGEMM() as any GEMMBackend, SwiftGEMM(threads: 2)] {
                    let out = FeatureMap(shape: layer.outputShape)
                    out.pointer.update(repeating: .nan, count: out.shape.count)
                    gemm.convolution(convolution(output: out, workspace: workspace, winograd: w))
                    let worst = zip(out.buffer.array, direct.buffer.array).map { abs($0 - $1) / max(1, abs($1)) }.max() ?? .infinity
                    XCTAssertLessThanOrEqual(worst, tile == .f2x2 ? 2e-5 : 3e-4, "\(t) \(tile) \(gemm.name)")
                    XCTAssertFalse(out.buffer.array.contains { $0.isNaN }, "\(t) \(tile) \(gemm.name): output not fully written")
                    worstError[tile] = max(worstError[tile] ?? 0, worst)
                }
                if tile == chosen.tile && w.transposed == chosen.transposed {
                    XCTAssertTrue(w === chosen, "transform is cached per weights buffer, tile size and layout")
                }
            }
        }
        print("Winograd worst relative error against the direct convolution:", worstError.sorted { $0.key.outputSize < $1.key.outputSize })
        XCTAssertEqual(layouts.count, 4, "both GEMM layouts exercised for both tile sizes")
    }
}
