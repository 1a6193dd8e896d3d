import XCTest
@testable import YOLOKit

/// Both GEMM backends against a naive float64 reference: random shapes including edge sizes (1, odd, not a
/// multiple of the micro-tile or of the cache blocks), alpha / beta, leading dimensions larger than the rows.
final class GEMMTests: XCTestCase {
    /// Every backend configuration under test: OpenBLAS, and the Swift GEMM with each micro-kernel, 1 and 2 threads.
    var backends: [(String, any GEMMBackend)] {
        [("blas", OpenBLASGEMM()),
         ("swift 8x32 1t", SwiftGEMM(threads: 1, kernel: .k8x32)), ("swift 8x32 2t", SwiftGEMM(threads: 2, kernel: .k8x32)),
         ("swift 6x16 1t", SwiftGEMM(threads: 1, kernel: .k6x16)), ("swift 6x16 2t", SwiftGEMM(threads: 2, kernel: .k6x16))]
    }

    struct Case { var m, n, k: Int; var alpha: Float = 1, beta: Float = 0; var padA = 0, padB = 0, padC = 0 }

    /// Runs one case on one backend and compares with the reference: |C − ref| ≤ 1e-5 · (Σ_k |alpha·a·b| + |beta·c|) + 1e-30
    /// elementwise, and the padding columns of C (ldc > n) untouched.
    func check(_ t: Case, _ name: String, _ gemm: any GEMMBackend, rng: inout SeededRandom, file: StaticString = #filePath, line: UInt = #line) {
        let lda = t.k + t.padA, ldb = t.n + t.padB, ldc = t.n + t.padC
        let a = rng.floats(max(1, t.m * lda)), b = rng.floats(max(1, t.k * ldb))
        // With beta 0, C must not be read: fill it with NaN so reading it would show.
        var c = t.beta == 0 ? [Float](repeating: .nan, count: max(1, t.m * ldc)) : rng.floats(max(1, t.m * ldc))
        for i in 0..<t.m { for j in t.n..<ldc { c[i * ldc + j] = 12345 } }  // padding sentinel
        var expected = [Double](repeating: 0, count: t.m * t.n), bound = [Double](repeating: 0, count: t.m * t.n)
        for i in 0..<t.m { for j in 0..<t.n {
            var sum = 0.0, mag = 0.0
            for p in 0..<t.k {
                let v = Double(a[i * lda + p]) * Double(b[p * ldb + j])
                sum += v; mag += abs(v)
            }
            let old = t.beta == 0 ? 0 : Double(c[i * ldc + j])
            expected[i * t.n + j] = Double(t.alpha) * sum + Double(t.beta) * old
            bound[i * t.n + j] = abs(Double(t.alpha)) * mag + abs(Double(t.beta) * old)
        }}
        a.withUnsafeBufferPointer { pa in b.withUnsafeBufferPointer { pb in c.withUnsafeMutableBufferPointer { pc in
            gemm.sgemm(m: t.m, n: t.n, k: t.k, alpha: t.alpha, a: pa.baseAddress!, lda: max(1, lda), b: pb.baseAddress!, ldb: max(1, ldb),
                       beta: t.beta, c: pc.baseAddress!, ldc: max(1, ldc))
        }}}
        var worst = 0.0, worstAt = (0, 0)
        for i in 0..<t.m { for j in 0..<t.n {
            let err = abs(Double(c[i * ldc + j]) - expected[i * t.n + j]) / (bound[i * t.n + j] + 1e-30)
            if !(err <= worst) { worst = err; worstAt = (i, j) }
            if err.isNaN { worst = .infinity }
        }}
        XCTAssertLessThanOrEqual(worst, 1e-5, "\(name) \(t): worst relative error \(worst) at \(worstAt)", file: file, line: line)
        var padOK = true
        for i in 0..<t.m { for j in t.n..<ldc where c[i * ldc + j] != 12345 { padOK = false } }
        XCTAssertTrue(padOK, "\(name) \(t): wrote outside the n columns of C", file: file, line: line)
    }

    func testEdgeSizes() {
        var rng = SeededRandom(seed: 11)
        let sizes = [1, 2, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 47]
        for (name, gemm) in backends {
            for m in sizes where m != 2 && m != 47 { for n in sizes where n != 5 { for k in [1, 3, 17] {
                check(Case(m: m, n: n, k: k), name, gemm, rng: &rng)
            }}}
        }
    }

    /// Shapes past every cache block: K > KC (several K passes), N > NC (several column blocks), M with a
    /// row tail, and shapes from the models (small M with huge N; big M with N = 169).
    func testBlockedShapes() {
        var rng = SeededRandom(seed: 12)
        let cases = [Case(m: 37, n: 801, k: 600), Case(m: 64, n: 1000, k: 27), Case(m: 255, n: 169, k: 520),
                     Case(m: 16, n: 5000, k: 27), Case(m: 130, n: 70, k: 1030), Case(m: 9, n: 33, k: 513),
                     Case(m: 100, n: 400, k: 256), Case(m: 1, n: 3000, k: 40), Case(m: 300, n: 1, k: 300)]
        for (name, gemm) in backends { for t in cases { check(t, name, gemm, rng: &rng) } }
    }

    func testAlphaBetaAndStrides() {
        var rng = SeededRandom(seed: 13)
        let cases = [Case(m: 13, n: 50, k: 29, alpha: 0.5, beta: 0), Case(m: 13, n: 50, k: 29, alpha: 1, beta: 1),
                     Case(m: 20, n: 45, k: 300, alpha: -2, beta: 0.25), Case(m: 8, n: 32, k: 8, alpha: 1.5, beta: -1),
                     Case(m: 17, n: 40, k: 33, padA: 3, padB: 5, padC: 7), Case(m: 33, n: 70, k: 270, alpha: 0.75, beta: 0.5, padA: 1, padB: 16, padC: 2),
                     Case(m: 40, n: 600, k: 20, alpha: 1, beta: 1, padB: 9, padC: 1)]
        for (name, gemm) in backends { for t in cases { check(t, name, gemm, rng: &rng) } }
    }

    func testDegenerateShapes() {
        for (name, gemm) in backends {
            // k = 0: C = beta · C; alpha = 0: A and B are not used.
            var c: [Float] = [1, 2, 3, 4, 5, 6]
            let a: [Float] = [.nan], b: [Float] = [.nan]
            c.withUnsafeMutableBufferPointer { pc in
                gemm.sgemm(m: 2, n: 3, k: 0, alpha: 1, a: a, lda: 1, b: b, ldb: 3, beta: 0.5, c: pc.baseAddress!, ldc: 3)
            }
            XCTAssertEqual(c, [0.5, 1, 1.5, 2, 2.5, 3], name)
            // (OpenBLAS 0.3.21 still forms the product when alpha = 0, so a NaN in A reaches C; the reference BLAS
            // and the Swift backend skip it.)
            if name != "blas" {
                c.withUnsafeMutableBufferPointer { pc in
                    gemm.sgemm(m: 2, n: 3, k: 1, alpha: 0, a: a, lda: 1, b: b, ldb: 3, beta: 0, c: pc.baseAddress!, ldc: 3)
                }
                XCTAssertEqual(c, [0, 0, 0, 0, 0, 0], name)
            }
            // m = 0 or n = 0: nothing happens.
            c = [7]
            c.withUnsafeMutableBufferPointer { pc in
                gemm.sgemm(m: 0, n: 1, k: 1, alpha: 1, a: a, lda: 1, b: b, ldb: 1, beta: 0, c: pc.baseAddress!, ldc: 1)
                gemm.sgemm(m: 1, n: 0, k: 1, alpha: 1, a: a, lda: 1, b: b, ldb: 1, beta: 0, c: pc.baseAddress!, ldc: 1)
            }
            XCTAssertEqual(c, [7], name)
        }
    }

    /// Many random shapes, including leading dimensions and alpha/beta, both kernels.
    func testRandomShapes() {
        var rng = SeededRandom(seed: 14)
        for (name, gemm) in backends {
            for _ in 0..<25 {
                let m = 1 + Int(rng.next() % 90), n = 1 + Int(rng.next() % 700), k = 1 + Int(rng.next() % 600)
                let alpha: Float = [1, 0.5, -1.25][Int(rng.next() % 3)], beta: Float = [0, 1, 0.3][Int(rng.next() % 3)]
                check(Case(m: m, n: n, k: k, alpha: alpha, beta: beta, padA: Int(rng.next() % 3), padB: Int(rng.next() % 3),
                           padC: Int(rng.next() % 3)), name, gemm, rng: &rng)
            }
        }
    }

    /// The automatic kernel choice resolves to a real kernel, and a backend made with it computes correctly.
    func testAutomaticKernel() {
        let gemm = SwiftGEMM()
        XCTAssertNotEqual(gemm.kernel, .automatic)
        XCTAssertEqual(gemm.kernel, SwiftGEMM.automaticKernel)
        var rng = SeededRandom(seed: 15)
        check(Case(m: 70, n: 333, k: 300, alpha: 1, beta: 0), "swift auto", gemm, rng: &rng)
    }

    /// The Swift backend's fused convolution (B packed from the input map, bias + activation per tile) against the
    /// unfused path (im2col, OpenBLAS, activation pass): strides 1 and 2, padding, 1×1, groups, maps wider than a
    /// column block, K deeper than a K block (both loop orders), every kernel and 1 or 2 threads.
    func testFusedConvolutionMatchesUnfused() {
        var rng = SeededRandom(seed: 16)
        let cases: [(c: Int, h: Int, w: Int, f: Int, k: Int, s: Int, p: Int, g: Int, act: Activation)] = [
            (3, 50, 60, 16, 3, 1, 1, 1, .leaky), (40, 30, 40, 24, 3, 1, 1, 1, .swish), (16, 41, 67, 20, 3, 2, 1, 1, .mish),
            (300, 20, 20, 33, 1, 1, 0, 1, .linear), (8, 13, 13, 12, 3, 1, 1, 2, .logistic), (6, 9, 70, 10, 5, 1, 2, 1, .relu),
            (64, 13, 13, 70, 3, 1, 0, 1, .leaky), (5, 33, 35, 9, 3, 2, 0, 1, .swish), (4, 11, 9, 4, 3, 1, 1, 4, .swish),
        ]
        for t in cases {
            let shape = TensorShape(channels: t.c, height: t.h, width: t.w)
            let layer = ConvolutionLayer(inputShape: shape, filters: t.f, size: t.k, stride: t.s, pad: t.p, groups: t.g, activation: t.act,
                                         weights: FloatBuffer(rng.floats(t.f * t.c / t.g * t.k * t.k)), bias: FloatBuffer(rng.floats(t.f)))
            let input = FeatureMap(shape: shape, values: rng.floats(shape.count))
            let reference = FeatureMap(shape: layer.outputShape)
            layer.forward([input], into: reference, context: context(workspace: layer.workspaceSize))
            for kernel in [SwiftGEMM.Kernel.k8x32, .k6x16] { for threads in [1, 2] {
                let out = FeatureMap(shape: layer.outputShape)
                out.pointer.update(repeating: .nan, count: out.shape.count)
                XCTAssertNil(layer.winograd, "\(t): meant for the GEMM path, not Winograd")
                let ctx = ExecutionContext(gemm: SwiftGEMM(threads: threads, kernel: kernel), threads: threads, workspace: FloatBuffer(count: 1))
                layer.forward([input], into: out, context: ctx)
                let worst = zip(out.buffer.array, reference.buffer.array).map { abs($0 - $1) / max(1, abs($1)) }.max() ?? 0
                XCTAssertLessThanOrEqual(worst, 1e-5, "\(t) \(kernel) \(threads)t")
                XCTAssertFalse(out.buffer.array.contains { $0.isNaN }, "\(t) \(kernel) \(threads)t: output not fully written")
            }}
        }
    }

    /// C = alpha · Aᵀ · B + beta · C with A stored K × M (Winograd's transposed layout): both backends, and the
    /// protocol's default (transpose, then `sgemm`) through a backend that only has `sgemm`.
    func testTransposedA() {
        struct PlainBackend: GEMMBackend {
            var name: String { "plain" }
            func sgemm(m: Int, n: Int, k: Int, alpha: Float, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                       beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
                SwiftGEMM(threads: 1).sgemm(m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
            }
        }
        var rng = SeededRandom(seed: 17)
        for (name, gemm) in backends + [("default", PlainBackend())] {
            for (m, n, k, padA, alpha, beta) in [(49, 1024, 512, 0, Float(1), Float(0)), (13, 70, 300, 3, 0.5, 1), (1, 17, 5, 0, 1, 0.5),
                                                 (169, 256, 384, 2, 1, 0), (9, 40, 1, 1, -1, 0)] {
                let lda = m + padA
                let a = rng.floats(k * lda), b = rng.floats(k * n)
                var c = beta == 0 ? [Float](repeating: .nan, count: m * n) : rng.floats(m * n)
                let old = c
                c.withUnsafeMutableBufferPointer { pc in
                    gemm.sgemmTransposingA(m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: n, beta: beta, c: pc.baseAddress!, ldc: n)
                }
                var worst = 0.0
                for i in 0..<m { for j in 0..<n {
                    var sum = 0.0, mag = 0.0
                    for p in 0..<k { let v = Double(a[p * lda + i]) * Double(b[p * n + j]); sum += v; mag += abs(v) }
                    let prior = beta == 0 ? 0 : Double(old[i * n + j])
                    let want = Double(alpha) * sum + Double(beta) * prior
                    let err = abs(Double(c[i * n + j]) - want) / (abs(Double(alpha)) * mag + abs(Double(beta) * prior) + 1e-30)
                    worst = err.isNaN ? .infinity : max(worst, err)
                }}
                XCTAssertLessThanOrEqual(worst, 1e-5, "\(name) Aᵀ \(m)×\(n)×\(k)")
            }
        }
    }
}
