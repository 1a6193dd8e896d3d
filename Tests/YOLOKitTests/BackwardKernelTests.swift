import Foundation
import XCTest
@testable import YOLOKit

/// The training kernels (Sources/YOLOKit/Training/Backward): every backward against central finite differences of
/// a float64 reference forward written here (loss L = Σ upstream ⊙ forward(x), so the analytic gradient is
/// backward(upstream)), on tiny odd shapes with N = 2; the conv on both GEMM backends; then the conventions
/// (BatchNorm eps / momentum / unbiased running variance, max-pool ties, Attention's layout) against PyTorch autograd
/// goldens from scripts/reference/backward_golden.py.
final class BackwardKernelTests: XCTestCase {
    var backends: [(String, any GEMMBackend)] {
        [("blas", OpenBLASGEMM(threads: 2)), ("swift", SwiftGEMM(threads: 2))]
    }

    // MARK: - Conv2d

    struct ConvCase {
        var batch = 2, inChannels: Int, outChannels: Int, height: Int, width: Int
        var kernel: Int, stride: Int, pad: Int, groups = 1, bias: Bool
    }

    let convCases: [ConvCase] = [
        ConvCase(inChannels: 3, outChannels: 4, height: 7, width: 6, kernel: 3, stride: 2, pad: 1, bias: true),
        ConvCase(inChannels: 4, outChannels: 6, height: 5, width: 7, kernel: 3, stride: 1, pad: 1, groups: 2, bias: false),
        ConvCase(inChannels: 5, outChannels: 5, height: 7, width: 5, kernel: 3, stride: 2, pad: 1, groups: 5, bias: true),  // depthwise
        ConvCase(inChannels: 3, outChannels: 2, height: 5, width: 3, kernel: 1, stride: 1, pad: 0, bias: true),  // GEMM on x directly
        ConvCase(inChannels: 2, outChannels: 3, height: 5, width: 5, kernel: 1, stride: 2, pad: 0, bias: false),
        ConvCase(inChannels: 2, outChannels: 3, height: 6, width: 7, kernel: 5, stride: 1, pad: 2, bias: true),
        ConvCase(inChannels: 3, outChannels: 2, height: 5, width: 7, kernel: 2, stride: 2, pad: 0, bias: false),
        ConvCase(inChannels: 2, outChannels: 2, height: 2, width: 1, kernel: 3, stride: 1, pad: 1, bias: true),  // kernel wider than the map
        ConvCase(inChannels: 3, outChannels: 4, height: 6, width: 5, kernel: 3, stride: 1, pad: 0, bias: false),  // dX as a conv, padding 2
        ConvCase(inChannels: 2, outChannels: 2, height: 32, width: 33, kernel: 3, stride: 1, pad: 1, bias: true),  // ≥ 1024 points: per image
    ]

    func testConvBackwardMatchesFiniteDifferencesOnBothBackends() {
        var rng = SeededRandom(seed: 11)
        for t in convCases {
            let conv = Conv2dTraining(inChannels: t.inChannels, outChannels: t.outChannels, kernel: t.kernel, stride: t.stride,
                                      pad: t.pad, groups: t.groups, hasBias: t.bias)
            let x = randomTensor(&rng, t.batch, t.inChannels, t.height, t.width)
            let weight = rng.floats(conv.weightCount)
            let bias = t.bias ? rng.floats(t.outChannels) : nil
            let reference = { (x: [Double], w: [Double], b: [Double]?) in
                Reference.conv(x, batch: t.batch, channels: t.inChannels, height: t.height, width: t.width, weight: w, bias: b,
                               outChannels: t.outChannels, kernel: t.kernel, stride: t.stride, pad: t.pad, groups: t.groups)
            }
            let (expected, outH, outW) = reference(doubles(x.values), doubles(weight), bias.map(doubles))
            let upstream = randomTensor(&rng, t.batch, t.outChannels, outH, outW)
            let up = doubles(upstream.values)
            let fdX = Reference.gradient(of: { reference($0, doubles(weight), bias.map(doubles)).0 }, at: doubles(x.values), upstream: up)
            let fdW = Reference.gradient(of: { reference(doubles(x.values), $0, bias.map(doubles)).0 }, at: doubles(weight), upstream: up)
            let fdB = bias.map { b in Reference.gradient(of: { reference(doubles(x.values), doubles(weight), $0).0 }, at: doubles(b), upstream: up) }
            for (name, gemm) in backends {
                let label = "\(name) \(t)"
                let (y, context) = conv.forward(x, weight: weight, bias: bias, gemm: gemm, threads: 2)
                XCTAssertEqual(y.shape, [t.batch, t.outChannels, outH, outW], label)
                assertClose(y.values, expected, 1e-5, "forward \(label)")
                let grads = conv.backward(upstream, context: context, weight: weight, gemm: gemm, threads: 2)
                assertClose(grads.input.values, fdX, 1e-3, "dX \(label)")
                assertClose(grads.weight, fdW, 1e-3, "dW \(label)")
                XCTAssertEqual(grads.bias == nil, bias == nil, label)
                if let db = grads.bias, let fdB { assertClose(db, fdB, 1e-3, "db \(label)") }
            }
        }
    }

    /// col2im is the adjoint of im2col: ⟨im2col(x), c⟩ = ⟨x, col2im(c)⟩ for random x and c.
    func testCol2imIsTheAdjointOfIm2col() {
        var rng = SeededRandom(seed: 12)
        for (k, s, p, h, w) in [(3, 2, 1, 7, 6), (5, 1, 2, 4, 5), (2, 2, 0, 5, 7), (3, 1, 1, 1, 2), (1, 2, 0, 5, 4)] {
            let channels = 2
            let outH = (h + 2 * p - k) / s + 1, outW = (w + 2 * p - k) / s + 1
            let x = rng.floats(channels * h * w), c = rng.floats(channels * k * k * outH * outW)
            var columns = [Float](repeating: 0, count: c.count), back = [Float](repeating: 0, count: x.count)
            x.withUnsafeBufferPointer { xs in columns.withUnsafeMutableBufferPointer { cs in
                im2col(xs.baseAddress!, channels: channels, height: h, width: w, kernel: k, stride: s, pad: p,
                       outHeight: outH, outWidth: outW, into: cs.baseAddress!, threads: 1)
            }}
            c.withUnsafeBufferPointer { cs in back.withUnsafeMutableBufferPointer { bs in
                col2im(cs.baseAddress!, channels: channels, height: h, width: w, kernel: k, stride: s, pad: p,
                       outHeight: outH, outWidth: outW, addingInto: bs.baseAddress!, threads: 1)
            }}
            let lhs = zip(columns, c).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            let rhs = zip(x, back).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            XCTAssertEqual(lhs, rhs, accuracy: 1e-4 * max(1, abs(lhs)), "k\(k) s\(s) p\(p) \(h)×\(w)")
        }
    }

    func testTransposedBProductMatchesReference() {
        var rng = SeededRandom(seed: 13)
        let (m, n, k, ldb) = (5, 7, 9, 11)
        let a = rng.floats(m * k), b = rng.floats(n * ldb), c0 = rng.floats(m * n)
        for (name, gemm) in backends {
            var c = c0
            a.withUnsafeBufferPointer { pa in b.withUnsafeBufferPointer { pb in c.withUnsafeMutableBufferPointer { pc in
                gemm.sgemmTransposingB(m: m, n: n, k: k, alpha: 0.5, a: pa.baseAddress!, lda: k, b: pb.baseAddress!, ldb: ldb,
                                       beta: 2, c: pc.baseAddress!, ldc: n)
            }}}
            var expected = [Double](repeating: 0, count: m * n)
            for i in 0..<m { for j in 0..<n {
                var sum = 0.0
                for p in 0..<k { sum += Double(a[i * k + p]) * Double(b[j * ldb + p]) }
                expected[i * n + j] = 0.5 * sum + 2 * Double(c0[i * n + j])
            }}
            assertClose(c, expected, 1e-6, name)
        }
    }

    // MARK: - BatchNorm2d

    func testBatchNormTrainingBackwardMatchesFiniteDifferences() {
        var rng = SeededRandom(seed: 21)
        let (n, c, h, w) = (2, 3, 3, 5)
        let bn = BatchNorm2dTraining(channels: c)
        XCTAssertEqual(bn.epsilon, 1e-3)
        XCTAssertEqual(bn.momentum, 0.03)
        let x = randomTensor(&rng, n, c, h, w, scale: 2)
        let gamma = rng.floats(c, 0.5, 1.5), beta = rng.floats(c)
        let running = BatchNorm2dTraining.RunningStatistics(mean: rng.floats(c), variance: rng.floats(c, 0.5, 1.5))
        let reference = { (x: [Double], g: [Double], b: [Double]) in
            Reference.batchNormTraining(x, batch: n, channels: c, plane: h * w, gamma: g, beta: b, epsilon: 1e-3).output
        }
        let (y, updated, context) = bn.forwardTraining(x, gamma: gamma, beta: beta, running: running, threads: 2)
        let stats = Reference.batchNormTraining(doubles(x.values), batch: n, channels: c, plane: h * w, gamma: doubles(gamma),
                                                beta: doubles(beta), epsilon: 1e-3)
        assertClose(y.values, stats.output, 1e-5, "forward")
        // running = (1 − m)·running + m·batch, with the unbiased (M/(M − 1)) variance.
        let m = Double(n * h * w)
        assertClose(updated.mean, (0..<c).map { 0.97 * Double(running.mean[$0]) + 0.03 * stats.mean[$0] }, 1e-6, "running mean")
        assertClose(updated.variance, (0..<c).map { 0.97 * Double(running.variance[$0]) + 0.03 * stats.variance[$0] * m / (m - 1) },
                    1e-6, "running var")
        let upstream = randomTensor(&rng, n, c, h, w)
        let up = doubles(upstream.values)
        let grads = bn.backwardTraining(upstream, context: context, gamma: gamma, threads: 2)
        assertClose(grads.input.values, Reference.gradient(of: { reference($0, doubles(gamma), doubles(beta)) }, at: doubles(x.values), upstream: up),
                    1e-3, "dX")
        assertClose(grads.gamma, Reference.gradient(of: { reference(doubles(x.values), $0, doubles(beta)) }, at: doubles(gamma), upstream: up),
                    1e-3, "dγ")
        assertClose(grads.beta, Reference.gradient(of: { reference(doubles(x.values), doubles(gamma), $0) }, at: doubles(beta), upstream: up),
                    1e-3, "dβ")
    }

    func testBatchNormEvalUsesRunningStatisticsAndItsBackwardMatchesFiniteDifferences() {
        var rng = SeededRandom(seed: 22)
        let (n, c, h, w) = (2, 3, 2, 3)
        let bn = BatchNorm2dTraining(channels: c)
        let x = randomTensor(&rng, n, c, h, w)
        let gamma = rng.floats(c, 0.5, 1.5), beta = rng.floats(c)
        let running = BatchNorm2dTraining.RunningStatistics(mean: rng.floats(c), variance: rng.floats(c, 0.5, 1.5))
        let reference = { (x: [Double]) -> [Double] in
            x.indices.map { i in
                let ch = (i / (h * w)) % c
                return Double(gamma[ch]) * (x[i] - Double(running.mean[ch])) / (Double(running.variance[ch]) + 1e-3).squareRoot() + Double(beta[ch])
            }
        }
        assertClose(bn.forwardEval(x, gamma: gamma, beta: beta, running: running).values, reference(doubles(x.values)), 1e-5, "eval forward")
        let upstream = randomTensor(&rng, n, c, h, w)
        assertClose(bn.backwardEval(upstream, gamma: gamma, running: running).values,
                    Reference.gradient(of: reference, at: doubles(x.values), upstream: doubles(upstream.values)), 1e-3, "eval dX")
    }

    // MARK: - Point-wise, add, concat / split, upsample

    func testSiLUAndIdentityBackwardMatchFiniteDifferences() {
        var rng = SeededRandom(seed: 31)
        let x = randomTensor(&rng, 2, 3, 3, 5, scale: 6)
        let upstream = randomTensor(&rng, 2, 3, 3, 5)
        let silu = { (x: [Double]) in x.map { $0 / (1 + exp(-$0)) } }
        let (y, context) = ActivationTraining.silu.forward(x, threads: 2)
        assertClose(y.values, silu(doubles(x.values)), 1e-6, "silu forward")
        assertClose(ActivationTraining.silu.backward(upstream, context: context, threads: 2).values,
                    Reference.gradient(of: silu, at: doubles(x.values), upstream: doubles(upstream.values)), 1e-3, "silu dX")
        let (same, identityContext) = ActivationTraining.identity.forward(x)
        XCTAssertEqual(same, x)
        XCTAssertEqual(ActivationTraining.identity.backward(upstream, context: identityContext), upstream)
    }

    /// The vector loops give the scalar definitions' bits: y = x·σ(x), dX = dY·σ·(1 + x·(1 − σ)), σ = 1 / (1 + expf(−x)),
    /// also when the input is rebuilt from a BatchNorm's x̂ (γ·x̂ + β); planes of 37 values leave 16-lane tails.
    func testSiLUVectorLoopsEqualTheScalarDefinition() {
        var rng = SeededRandom(seed: 57)
        let x = randomTensor(&rng, 2, 3, 37, 1, scale: 12), upstream = randomTensor(&rng, 2, 3, 37, 1)
        let gamma = rng.floats(3), beta = rng.floats(3)
        func sigmoid(_ v: Float) -> Float { 1 / (1 + Foundation.exp(-v)) }
        func gradient(_ v: Float, _ dy: Float) -> Float { let s = sigmoid(v); return dy * s * (1 + v * (1 - s)) }
        let (y, context) = ActivationTraining.silu.forward(x, threads: 2)
        XCTAssertEqual(y.values.map(\.bitPattern), x.values.map { ($0 * sigmoid($0)).bitPattern })
        XCTAssertEqual(ActivationTraining.silu.backward(upstream, context: context, threads: 2).values.map(\.bitPattern),
                       zip(x.values, upstream.values).map { gradient($0, $1).bitPattern })
        let rebuilt = ActivationTraining.silu.backward(upstream, normalizedInput: x, gamma: gamma, beta: beta, threads: 2)
        let expected = x.values.indices.map { i -> UInt32 in
            let c = (i / 37) % 3
            return gradient(gamma[c] * x.values[i] + beta[c], upstream.values[i]).bitPattern
        }
        XCTAssertEqual(rebuilt.values.map(\.bitPattern), expected)
    }

    func testResidualAddConcatAndSplitBackwardMatchFiniteDifferences() {
        var rng = SeededRandom(seed: 32)
        let a = randomTensor(&rng, 2, 3, 2, 3), b = randomTensor(&rng, 2, 3, 2, 3), c = randomTensor(&rng, 2, 1, 2, 3)
        // Residual add.
        let sumUp = randomTensor(&rng, 2, 3, 2, 3)
        let add = ResidualAdd.forward(a, b)
        assertClose(add.values, zip(a.values, b.values).map { Double($0) + Double($1) }, 1e-7, "add")
        let (dA, dB) = ResidualAdd.backward(sumUp)
        let fdA = Reference.gradient(of: { x in zip(x, doubles(b.values)).map { $0 + $1 } }, at: doubles(a.values), upstream: doubles(sumUp.values))
        assertClose(dA.values, fdA, 1e-3, "add dA")
        assertClose(dB.values, fdA, 1e-3, "add dB")
        // Concat of [3, 1, 3] channels: the reference interleaves per image.
        let parts = [a, c, b]
        let concatReference = { (flat: [Double]) -> [Double] in
            let sizes = parts.map(\.count)
            let split = [Array(flat[0..<sizes[0]]), Array(flat[sizes[0]..<(sizes[0] + sizes[1])]), Array(flat[(sizes[0] + sizes[1])...])]
            var out = [Double]()
            for n in 0..<2 { for (p, t) in zip(split, parts) { out += p[(n * t.imageSize)..<((n + 1) * t.imageSize)] } }
            return out
        }
        let joined = ChannelConcat.forward(parts)
        XCTAssertEqual(joined.shape, [2, 7, 2, 3])
        let flatInputs = doubles(parts.flatMap(\.values))
        assertClose(joined.values, concatReference(flatInputs), 0, "concat")
        let concatUp = randomTensor(&rng, 2, 7, 2, 3)
        let dParts = ChannelConcat.backward(concatUp, channels: [3, 1, 3])
        XCTAssertEqual(dParts.map(\.shape), parts.map(\.shape))
        assertClose(dParts.flatMap(\.values), Reference.gradient(of: concatReference, at: flatInputs, upstream: doubles(concatUp.values)), 1e-3, "concat backward")
        // chunk(2) as torch: an odd count gives ⌈C/2⌉ then the rest; the split's backward is the concat.
        XCTAssertEqual(ChannelConcat.chunkSizes(channels: 6, parts: 2), [3, 3])
        XCTAssertEqual(ChannelConcat.chunkSizes(channels: 7, parts: 2), [4, 3])
        XCTAssertEqual(ChannelConcat.chunkSizes(channels: 5, parts: 4), [2, 2, 1])
        let halves = ChannelConcat.chunk(joined, parts: 2)
        XCTAssertEqual(halves.map(\.channels), [4, 3])
        XCTAssertEqual(ChannelConcat.splitBackward(halves), joined)
        XCTAssertEqual(ChannelConcat.split(joined, channels: [3, 1, 3]), parts)
    }

    func testNearestUpsampleBackwardMatchesFiniteDifferences() {
        var rng = SeededRandom(seed: 33)
        for factor in [2, 3] {
            let (n, c, h, w) = (2, 3, 3, 2)
            let up = NearestUpsampleTraining(factor: factor)
            let x = randomTensor(&rng, n, c, h, w)
            let reference = { (x: [Double]) -> [Double] in
                var out = [Double]()
                for p in 0..<(n * c) { for oy in 0..<(h * factor) { for ox in 0..<(w * factor) { out.append(x[p * h * w + (oy / factor) * w + ox / factor]) } } }
                return out
            }
            let y = up.forward(x, threads: 2)
            XCTAssertEqual(y.shape, [n, c, h * factor, w * factor])
            assertClose(y.values, reference(doubles(x.values)), 0, "upsample ×\(factor)")
            let upstream = randomTensor(&rng, n, c, h * factor, w * factor)
            assertClose(up.backward(upstream, threads: 2).values,
                        Reference.gradient(of: reference, at: doubles(x.values), upstream: doubles(upstream.values)), 1e-3, "upsample ×\(factor) dX")
        }
    }

    // MARK: - MaxPool2d

    func testMaxPoolBackwardMatchesFiniteDifferences() {
        var rng = SeededRandom(seed: 41)
        for (k, s, p, h, w) in [(5, 1, 2, 5, 7), (3, 2, 1, 7, 6), (2, 2, 0, 5, 7), (3, 1, 0, 4, 5)] {
            let (n, c) = (2, 2)
            let pool = MaxPool2dTraining(kernel: k, stride: s, pad: p)
            let x = randomTensor(&rng, n, c, h, w)
            let outH = (h + 2 * p - k) / s + 1, outW = (w + 2 * p - k) / s + 1
            let reference = { (x: [Double]) -> [Double] in
                var out = [Double]()
                for plane in 0..<(n * c) { for oy in 0..<outH { for ox in 0..<outW {
                    var best = -Double.infinity
                    for iy in (oy * s - p)..<(oy * s - p + k) where iy >= 0 && iy < h {
                        for ix in (ox * s - p)..<(ox * s - p + k) where ix >= 0 && ix < w { best = max(best, x[plane * h * w + iy * w + ix]) }
                    }
                    out.append(best)
                }}}
                return out
            }
            let (y, context) = pool.forward(x, threads: 2)
            XCTAssertEqual(y.shape, [n, c, outH, outW])
            assertClose(y.values, reference(doubles(x.values)), 0, "maxpool k\(k) s\(s) p\(p)")
            let upstream = randomTensor(&rng, n, c, outH, outW)
            assertClose(pool.backward(upstream, context: context, threads: 2).values,
                        Reference.gradient(of: reference, at: doubles(x.values), upstream: doubles(upstream.values)), 1e-3,
                        "maxpool k\(k) s\(s) p\(p) dX")
        }
    }

    // MARK: - Attention core

    func testAttentionCoreBackwardMatchesFiniteDifferencesOnBothBackends() {
        var rng = SeededRandom(seed: 51)
        let core = AttentionCoreTraining(heads: 2, keyDim: 2, headDim: 3)
        XCTAssertEqual(core.scale, Float(1 / 2.0.squareRoot()))
        let (n, h, w) = (2, 3, 2)
        let qkv = randomTensor(&rng, n, core.qkvChannels, h, w, scale: 2)
        let reference = { (x: [Double]) in Reference.attentionCore(x, batch: n, heads: 2, keyDim: 2, headDim: 3, plane: h * w, scale: Double(core.scale)) }
        let upstream = randomTensor(&rng, n, core.outputChannels, h, w)
        let fd = Reference.gradient(of: reference, at: doubles(qkv.values), upstream: doubles(upstream.values))
        for (name, gemm) in backends {
            let (out, context) = core.forward(qkv, gemm: gemm)
            XCTAssertEqual(out.shape, [n, 6, h, w])
            assertClose(out.values, reference(doubles(qkv.values)), 1e-5, "attention forward \(name)")
            assertClose(core.backward(upstream, context: context, gemm: gemm).values, fd, 1e-3, "attention dqkv \(name)")
        }
        // v as pe's input, and its gradient back into the v channels.
        let v = core.values(of: qkv)
        for b in 0..<n { for head in 0..<2 { for i in 0..<(3 * h * w) {
            XCTAssertEqual(v.values[b * v.imageSize + head * 3 * h * w + i], qkv.values[b * qkv.imageSize + (head * 7 + 4) * h * w + i])
        }}}
        var dQKV = BatchTensor(zerosLike: qkv)
        core.addValueGradient(v, into: &dQKV)
        XCTAssertEqual(dQKV.values.reduce(0, +), v.values.reduce(0, +), accuracy: 1e-4)
        XCTAssertEqual(core.values(of: dQKV), v)
    }

    // MARK: - Threads

    /// 2 threads (the chunked paths, above the small-size cut-offs) give the 1-thread results.
    func testTwoThreadsMatchOneThread() {
        var rng = SeededRandom(seed: 61)
        let x = randomTensor(&rng, 2, 16, 40, 40)
        let upstream = randomTensor(&rng, 2, 16, 40, 40)
        let conv = Conv2dTraining(inChannels: 16, outChannels: 16, kernel: 3, stride: 1, pad: 1, groups: 1, hasBias: true)
        let weight = rng.floats(conv.weightCount), bias = rng.floats(16)
        for (one, two) in [(OpenBLASGEMM(threads: 1) as any GEMMBackend, OpenBLASGEMM(threads: 2) as any GEMMBackend),
                           (SwiftGEMM(threads: 1), SwiftGEMM(threads: 2))] {
            let (y1, c1) = conv.forward(x, weight: weight, bias: bias, gemm: one, threads: 1)
            let (y2, c2) = conv.forward(x, weight: weight, bias: bias, gemm: two, threads: 2)
            assertClose(y2.values, doubles(y1.values), 1e-6, "conv forward \(one.name)")
            let g1 = conv.backward(upstream, context: c1, weight: weight, gemm: one, threads: 1)
            let g2 = conv.backward(upstream, context: c2, weight: weight, gemm: two, threads: 2)
            assertClose(g2.input.values, doubles(g1.input.values), 1e-6, "conv dX \(one.name)")
            assertClose(g2.weight, doubles(g1.weight), 1e-6, "conv dW \(one.name)")
        }
        let bn = BatchNorm2dTraining(channels: 16)
        let gamma = rng.floats(16), beta = rng.floats(16)
        let (b1, r1, bc1) = bn.forwardTraining(x, gamma: gamma, beta: beta, running: .init(channels: 16), threads: 1)
        let (b2, r2, bc2) = bn.forwardTraining(x, gamma: gamma, beta: beta, running: .init(channels: 16), threads: 2)
        XCTAssertEqual(b1, b2)
        XCTAssertEqual(r1, r2)
        XCTAssertEqual(bn.backwardTraining(upstream, context: bc1, gamma: gamma, threads: 1).input,
                       bn.backwardTraining(upstream, context: bc2, gamma: gamma, threads: 2).input)
        let (s1, sc1) = ActivationTraining.silu.forward(x, threads: 1), (s2, sc2) = ActivationTraining.silu.forward(x, threads: 2)
        XCTAssertEqual(s1, s2)
        XCTAssertEqual(ActivationTraining.silu.backward(upstream, context: sc1, threads: 1), ActivationTraining.silu.backward(upstream, context: sc2, threads: 2))
        let pool = MaxPool2dTraining(kernel: 5, stride: 1, pad: 2)
        let (p1, pc1) = pool.forward(x, threads: 1), (p2, pc2) = pool.forward(x, threads: 2)
        XCTAssertEqual(p1, p2)
        XCTAssertEqual(pool.backward(upstream, context: pc1, threads: 1), pool.backward(upstream, context: pc2, threads: 2))
        let upsample = NearestUpsampleTraining(factor: 2)
        XCTAssertEqual(upsample.forward(x, threads: 1), upsample.forward(x, threads: 2))
        XCTAssertEqual(upsample.backward(upstream, threads: 1), upsample.backward(upstream, threads: 2))
    }

    // MARK: - PyTorch goldens

    /// ultralytics `Conv(3, 4, 3, 2)` (conv → BatchNorm2d(eps 1e-3, momentum 0.03) → SiLU) in training mode.
    func testConvBatchNormSiLUBlockMatchesPyTorchAutograd() throws {
        let g = try Golden.load("block")
        for (name, gemm) in backends {
            let unit = try ConvUnit(g, "conv", Conv2dTraining(inChannels: 3, outChannels: 4, kernel: 3, stride: 2, pad: 1, hasBias: false), .silu)
            let y = unit.forward(try g.tensor("input"), gemm: gemm)
            try assertClose(y.values, doubles(g.floats("output")), 1e-5, "block output \(name)")
            let dX = unit.backward(try g.tensor("upstream"), gemm: gemm)
            try assertClose(dX.values, doubles(g.floats("grad_input")), 1e-4, "block dX \(name)")
            try checkUnits([unit], g, name)
        }
    }

    /// nn.Conv2d(4, 6, 3, stride 2, padding 1, groups 2, bias).
    func testGroupedConvWithBiasMatchesPyTorchAutograd() throws {
        let g = try Golden.load("head_conv")
        let x = try g.tensor("input"), upstream = try g.tensor("upstream")
        let weight = try g.floats("weight"), bias = try g.floats("bias")
        let conv = Conv2dTraining(inChannels: 4, outChannels: 6, kernel: 3, stride: 2, pad: 1, groups: 2, hasBias: true)
        for (name, gemm) in backends {
            let (y, context) = conv.forward(x, weight: weight, bias: bias, gemm: gemm)
            try assertClose(y.values, doubles(g.floats("output")), 1e-5, "output \(name)")
            let grads = conv.backward(upstream, context: context, weight: weight, gemm: gemm)
            try assertClose(grads.input.values, doubles(g.floats("grad_input")), 1e-5, "dX \(name)")
            try assertClose(grads.weight, doubles(g.floats("grad_weight")), 1e-5, "dW \(name)")
            try assertClose(grads.bias ?? [], doubles(g.floats("grad_bias")), 1e-5, "db \(name)")
        }
    }

    /// Ties (one plane of repeated 3s, one plane all equal) route to the first maximum in scan order, as PyTorch.
    func testMaxPoolTiesRouteLikePyTorch() throws {
        let g = try Golden.load("maxpool")
        let pool = MaxPool2dTraining(kernel: 3, stride: 1, pad: 1)
        let input = try g.tensor("input"), upstream = try g.tensor("upstream")
        let expectedOutput = try g.floats("output"), expectedGradient = try g.floats("grad_input")
        let (y, context) = pool.forward(input)
        XCTAssertEqual(y.values, expectedOutput)
        XCTAssertEqual(pool.backward(upstream, context: context).values, expectedGradient)
    }

    /// ultralytics `Attention(8, num_heads 2)` in training mode, composed from the kernels as the integrator will:
    /// qkv Conv+BN → core → + pe(v) (depthwise Conv+BN) → proj Conv+BN, and back.
    func testAttentionModuleMatchesPyTorchAutograd() throws {
        let g = try Golden.load("attention")
        let x = try g.tensor("input"), upstream = try g.tensor("upstream")
        let dim = x.channels
        let core = try AttentionCoreTraining(heads: g.int("heads"), keyDim: g.int("key_dim"), headDim: g.int("head_dim"))
        XCTAssertEqual(Double(core.scale), try g.double("scale"), accuracy: 1e-7)
        for (name, gemm) in backends {
            let qkvUnit = try ConvUnit(g, "qkv", Conv2dTraining(inChannels: dim, outChannels: core.qkvChannels, kernel: 1, hasBias: false), .identity)
            let pe = try ConvUnit(g, "pe", Conv2dTraining(inChannels: dim, outChannels: dim, kernel: 3, stride: 1, pad: 1, groups: dim, hasBias: false), .identity)
            let proj = try ConvUnit(g, "proj", Conv2dTraining(inChannels: dim, outChannels: dim, kernel: 1, hasBias: false), .identity)
            let qkv = qkvUnit.forward(x, gemm: gemm)
            let (attended, coreContext) = core.forward(qkv, gemm: gemm)
            let positional = pe.forward(core.values(of: qkv), gemm: gemm)
            let y = proj.forward(ResidualAdd.forward(attended, positional), gemm: gemm)
            try assertClose(y.values, doubles(g.floats("output")), 1e-4, "attention output \(name)")
            let (dAttended, dPositional) = ResidualAdd.backward(proj.backward(upstream, gemm: gemm))
            var dQKV = core.backward(dAttended, context: coreContext, gemm: gemm)
            core.addValueGradient(pe.backward(dPositional, gemm: gemm), into: &dQKV)
            let dX = qkvUnit.backward(dQKV, gemm: gemm)
            try assertClose(dX.values, doubles(g.floats("grad_input")), 1e-4, "attention dX \(name)")
            try checkUnits([qkvUnit, pe, proj], g, name)
        }
    }

    /// ultralytics `SPPF(8, 8, k=5)`: cv1 (no activation) → three chained 5×5 stride-1 max pools → concat → cv2
    /// (SiLU); the gradients of the later pools add into the earlier. The later pools' inputs are full of ties, but
    /// tied cells there copy the same earlier cell, so the final dX does not depend on the tie rule (a `>=` rule
    /// still passes here; `testMaxPoolTiesRouteLikePyTorch` is the test that pins it).
    func testSPPFMatchesPyTorchAutograd() throws {
        let g = try Golden.load("sppf")
        let x = try g.tensor("input")
        let pool = MaxPool2dTraining(kernel: 5, stride: 1, pad: 2)
        for (name, gemm) in backends {
            let cv1 = try ConvUnit(g, "cv1", Conv2dTraining(inChannels: 8, outChannels: 4, kernel: 1, hasBias: false), .identity)
            let cv2 = try ConvUnit(g, "cv2", Conv2dTraining(inChannels: 16, outChannels: 8, kernel: 1, hasBias: false), .silu)
            let y0 = cv1.forward(x, gemm: gemm)
            let (y1, p1) = pool.forward(y0), (y2, p2) = pool.forward(y1), (y3, p3) = pool.forward(y2)
            let y = cv2.forward(ChannelConcat.forward([y0, y1, y2, y3]), gemm: gemm)
            try assertClose(y.values, doubles(g.floats("output")), 1e-5, "sppf output \(name)")
            let d = ChannelConcat.backward(cv2.backward(try g.tensor("upstream"), gemm: gemm), channels: [4, 4, 4, 4])
            var d2 = d[2], d1 = d[1], d0 = d[0]
            ResidualAdd.accumulate(pool.backward(d[3], context: p3), into: &d2)
            ResidualAdd.accumulate(pool.backward(d2, context: p2), into: &d1)
            ResidualAdd.accumulate(pool.backward(d1, context: p1), into: &d0)
            let dX = cv1.backward(d0, gemm: gemm)
            try assertClose(dX.values, doubles(g.floats("grad_input")), 1e-4, "sppf dX \(name)")
            try checkUnits([cv1, cv2], g, name)
        }
    }

    /// ultralytics `C2f(8, 8, n=1, shortcut=True)`: cv1 → chunk(2) → Bottleneck (cv1, cv2, + input) on the second
    /// half → concat of both halves and the Bottleneck's output → cv2. The second half feeds both the Bottleneck and
    /// the concat, so its gradient is the sum of both.
    func testC2fMatchesPyTorchAutograd() throws {
        let g = try Golden.load("c2f")
        let x = try g.tensor("input")
        for (name, gemm) in backends {
            let cv1 = try ConvUnit(g, "cv1", Conv2dTraining(inChannels: 8, outChannels: 8, kernel: 1, hasBias: false), .silu)
            let m1 = try ConvUnit(g, "m.0.cv1", Conv2dTraining(inChannels: 4, outChannels: 4, kernel: 3, pad: 1, hasBias: false), .silu)
            let m2 = try ConvUnit(g, "m.0.cv2", Conv2dTraining(inChannels: 4, outChannels: 4, kernel: 3, pad: 1, hasBias: false), .silu)
            let cv2 = try ConvUnit(g, "cv2", Conv2dTraining(inChannels: 12, outChannels: 8, kernel: 1, hasBias: false), .silu)
            let halves = ChannelConcat.chunk(cv1.forward(x, gemm: gemm), parts: 2)
            let bottleneck = ResidualAdd.forward(halves[1], m2.forward(m1.forward(halves[1], gemm: gemm), gemm: gemm))
            let y = cv2.forward(ChannelConcat.forward([halves[0], halves[1], bottleneck]), gemm: gemm)
            try assertClose(y.values, doubles(g.floats("output")), 1e-5, "c2f output \(name)")
            let d = ChannelConcat.backward(cv2.backward(try g.tensor("upstream"), gemm: gemm), channels: [4, 4, 4])
            let (dShortcut, dBranch) = ResidualAdd.backward(d[2])
            var dSecond = d[1]
            ResidualAdd.accumulate(dShortcut, into: &dSecond)
            ResidualAdd.accumulate(m1.backward(m2.backward(dBranch, gemm: gemm), gemm: gemm), into: &dSecond)
            let dX = cv1.backward(ChannelConcat.splitBackward([d[0], dSecond]), gemm: gemm)
            try assertClose(dX.values, doubles(g.floats("grad_input")), 1e-4, "c2f dX \(name)")
            try checkUnits([cv1, m1, m2, cv2], g, name)
        }
    }

    /// Each unit's dW, dγ, dβ and updated running statistics against the golden's `name.*` entries.
    private func checkUnits(_ units: [ConvUnit], _ g: Golden, _ backend: String, file: StaticString = #filePath, line: UInt = #line) throws {
        for u in units {
            let key = u.name, label = "\(key) \(backend)"
            guard let grads = u.gradients, let running = u.runningAfter else { return XCTFail("\(label): no forward/backward ran", file: file, line: line) }
            try assertClose(grads.weight, doubles(g.floats("\(key).grad_weight")), 1e-4, "dW \(label)", file: file, line: line)
            let expectedGamma = try doubles(g.floats("\(key).bn.grad_gamma"))
            try assertClose(grads.gamma, expectedGamma, 1e-4, "dγ \(label)", file: file, line: line)
            // dβ of a BN whose output only reaches the loss through another training BN is zero in exact arithmetic
            // (a training BN's input gradient sums to zero per channel; Attention's pe): both sides then hold rounding
            // noise, so dβ is measured against the size of the same unit's dγ.
            try assertClose(grads.beta, doubles(g.floats("\(key).bn.grad_beta")), 1e-4, "dβ \(label)",
                            normFloor: expectedGamma.reduce(0) { $0 + $1 * $1 }.squareRoot(), file: file, line: line)
            try assertClose(running.mean, doubles(g.floats("\(key).bn.running_mean")), 1e-5, "running mean \(label)", file: file, line: line)
            try assertClose(running.variance, doubles(g.floats("\(key).bn.running_var")), 1e-5, "running var \(label)", file: file, line: line)
        }
    }

    // MARK: - Helpers

    func randomTensor(_ rng: inout SeededRandom, _ n: Int, _ c: Int, _ h: Int, _ w: Int, scale: Float = 1) -> BatchTensor {
        BatchTensor(batch: n, channels: c, height: h, width: w, values: rng.floats(n * c * h * w, -scale, scale))
    }

    func doubles(_ values: [Float]) -> [Double] { values.map(Double.init) }

    /// ‖actual − expected‖ ≤ tolerance · max(‖expected‖, normFloor) (relative norm error; exact when tolerance is 0).
    func assertClose(_ actual: [Float], _ expected: [Double], _ tolerance: Double, _ label: String, normFloor: Double = 1e-30,
                     file: StaticString = #filePath, line: UInt = #line) {
        guard actual.count == expected.count else {
            return XCTFail("\(label): \(actual.count) values, expected \(expected.count)", file: file, line: line)
        }
        var diff = 0.0, norm = 0.0
        for (a, e) in zip(actual, expected) { diff += (Double(a) - e) * (Double(a) - e); norm += e * e }
        let error = diff.squareRoot() / max(norm.squareRoot(), normFloor)
        XCTAssertTrue(error <= tolerance, "\(label): relative error \(error) > \(tolerance)", file: file, line: line)
    }
}

/// An ultralytics `Conv` (conv without bias → BatchNorm2d in training mode → activation) with its parameters from a
/// golden (`name.weight`, `name.bn.*`), run forward and backward the way the training graph will chain the kernels.
private final class ConvUnit {
    let name: String
    let conv: Conv2dTraining
    let bn: BatchNorm2dTraining
    let activation: ActivationTraining
    let weight, gamma, beta: [Float]
    let running: BatchNorm2dTraining.RunningStatistics
    private var contexts: (Conv2dTraining.Context, BatchNorm2dTraining.Context, ActivationTraining.Context)?
    private(set) var runningAfter: BatchNorm2dTraining.RunningStatistics?
    private(set) var gradients: (weight: [Float], gamma: [Float], beta: [Float])?

    init(_ g: Golden, _ name: String, _ conv: Conv2dTraining, _ activation: ActivationTraining) throws {
        self.name = name
        self.conv = conv
        self.activation = activation
        bn = BatchNorm2dTraining(channels: conv.outChannels)
        weight = try g.floats("\(name).weight")
        gamma = try g.floats("\(name).bn.gamma")
        beta = try g.floats("\(name).bn.beta")
        running = try .init(mean: g.floats("\(name).bn.running_mean_before"), variance: g.floats("\(name).bn.running_var_before"))
    }

    func forward(_ x: BatchTensor, gemm: any GEMMBackend) -> BatchTensor {
        let (a, convContext) = conv.forward(x, weight: weight, bias: nil, gemm: gemm)
        let (b, updated, bnContext) = bn.forwardTraining(a, gamma: gamma, beta: beta, running: running)
        let (y, activationContext) = activation.forward(b)
        contexts = (convContext, bnContext, activationContext)
        runningAfter = updated
        return y
    }

    func backward(_ dY: BatchTensor, gemm: any GEMMBackend) -> BatchTensor {
        guard let (convContext, bnContext, activationContext) = contexts else { preconditionFailure("\(name): backward before forward") }
        let bnGrads = bn.backwardTraining(activation.backward(dY, context: activationContext), context: bnContext, gamma: gamma)
        let convGrads = conv.backward(bnGrads.input, context: convContext, weight: weight, gemm: gemm)
        gradients = (convGrads.weight, bnGrads.gamma, bnGrads.beta)
        return convGrads.input
    }
}

/// Float64 reference forwards, written from the definitions (PyTorch semantics), and central differences.
private enum Reference {
    /// dL/dx for L = Σ upstream ⊙ f(x): (L(x + h·eᵢ) − L(x − h·eᵢ)) / 2h per element.
    static func gradient(of f: ([Double]) -> [Double], at x: [Double], upstream: [Double], step: Double = 1e-5) -> [Double] {
        func loss(_ v: [Double]) -> Double {
            let y = f(v)
            precondition(y.count == upstream.count, "reference output of \(y.count) values, upstream \(upstream.count)")
            return zip(y, upstream).reduce(0) { $0 + $1.0 * $1.1 }
        }
        var probe = x
        return x.indices.map { i in
            probe[i] = x[i] + step
            let plus = loss(probe)
            probe[i] = x[i] - step
            let minus = loss(probe)
            probe[i] = x[i]
            return (plus - minus) / (2 * step)
        }
    }

    /// nn.Conv2d: x [N, C, H, W], w [Cout, C/g, k, k] → (y [N, Cout, outH, outW], outH, outW).
    static func conv(_ x: [Double], batch: Int, channels: Int, height: Int, width: Int, weight: [Double], bias: [Double]?,
                     outChannels: Int, kernel: Int, stride: Int, pad: Int, groups: Int) -> ([Double], Int, Int) {
        let outH = (height + 2 * pad - kernel) / stride + 1, outW = (width + 2 * pad - kernel) / stride + 1
        let inPerGroup = channels / groups, outPerGroup = outChannels / groups
        var y = [Double](repeating: 0, count: batch * outChannels * outH * outW)
        for n in 0..<batch { for o in 0..<outChannels { for oy in 0..<outH { for ox in 0..<outW {
            var sum = bias?[o] ?? 0
            let g = o / outPerGroup
            for ci in 0..<inPerGroup { for ky in 0..<kernel { for kx in 0..<kernel {
                let iy = oy * stride - pad + ky, ix = ox * stride - pad + kx
                guard iy >= 0, iy < height, ix >= 0, ix < width else { continue }
                let c = g * inPerGroup + ci
                sum += weight[((o * inPerGroup + ci) * kernel + ky) * kernel + kx] * x[((n * channels + c) * height + iy) * width + ix]
            }}}
            y[((n * outChannels + o) * outH + oy) * outW + ox] = sum
        }}}}
        return (y, outH, outW)
    }

    /// BatchNorm2d in training mode: the output, and the batch mean and biased variance per channel.
    static func batchNormTraining(_ x: [Double], batch: Int, channels: Int, plane: Int, gamma: [Double], beta: [Double], epsilon: Double)
        -> (output: [Double], mean: [Double], variance: [Double]) {
        var y = x, means = [Double](), variances = [Double]()
        let count = Double(batch * plane)
        for c in 0..<channels {
            var indices = [Int]()
            for n in 0..<batch { indices += Array(((n * channels + c) * plane)..<((n * channels + c + 1) * plane)) }
            var sum = 0.0
            for i in indices { sum += x[i] }
            let mean = sum / count
            var squares = 0.0
            for i in indices { squares += (x[i] - mean) * (x[i] - mean) }
            let variance = squares / count
            for i in indices { y[i] = gamma[c] * (x[i] - mean) / (variance + epsilon).squareRoot() + beta[c] }
            means.append(mean)
            variances.append(variance)
        }
        return (y, means, variances)
    }

    /// Attention's core on qkv [N, heads·(2·keyDim + headDim), plane]: per head O[d, i] = Σ_j v[d, j]·softmax_j(scale·Σ_e q[e, i]·k[e, j]).
    static func attentionCore(_ qkv: [Double], batch: Int, heads: Int, keyDim: Int, headDim: Int, plane n: Int, scale: Double) -> [Double] {
        let group = 2 * keyDim + headDim
        var out = [Double](repeating: 0, count: batch * heads * headDim * n)
        for b in 0..<batch { for h in 0..<heads {
            let base = (b * heads + h) * group * n
            func q(_ d: Int, _ i: Int) -> Double { qkv[base + d * n + i] }
            func k(_ d: Int, _ j: Int) -> Double { qkv[base + (keyDim + d) * n + j] }
            func v(_ d: Int, _ j: Int) -> Double { qkv[base + (2 * keyDim + d) * n + j] }
            for i in 0..<n {
                var scores = [Double](repeating: 0, count: n)
                for j in 0..<n { for e in 0..<keyDim { scores[j] += scale * q(e, i) * k(e, j) } }
                let top = scores.max()!
                var total = 0.0
                for j in 0..<n { scores[j] = exp(scores[j] - top); total += scores[j] }
                for d in 0..<headDim {
                    var sum = 0.0
                    for j in 0..<n { sum += v(d, j) * scores[j] / total }
                    out[((b * heads + h) * headDim + d) * n + i] = sum
                }
            }
        }}
        return out
    }
}

/// One case of Tests/Fixtures/backward/backward_golden.json (scripts/reference/backward_golden.py).
private struct Golden {
    let fields: [String: Any]
    let caseName: String

    static func load(_ caseName: String) throws -> Golden {
        let path = TestPaths.fixture("backward/backward_golden.json")
        guard let data = FileManager.default.contents(atPath: path),
              let root = try JSONSerialization.jsonObject(with: data) as? [String: Any],
              let fields = root[caseName] as? [String: Any] else {
            throw GoldenError("\(path): no case \(caseName) (run scripts/reference/backward_golden.py)")
        }
        return Golden(fields: fields, caseName: caseName)
    }

    func entry(_ key: String) throws -> (shape: [Int], values: [Float]) {
        guard let t = fields[key] as? [String: Any], let shape = t["shape"] as? [Int], let values = t["values"] as? [Double] else {
            throw GoldenError("golden \(caseName): no tensor \(key)")
        }
        return (shape, values.map(Float.init))
    }

    func floats(_ key: String) throws -> [Float] { try entry(key).values }

    func tensor(_ key: String) throws -> BatchTensor {
        let (shape, values) = try entry(key)
        guard shape.count == 4 else { throw GoldenError("golden \(caseName): \(key) has shape \(shape), expected 4-D") }
        return BatchTensor(batch: shape[0], channels: shape[1], height: shape[2], width: shape[3], values: values)
    }

    func int(_ key: String) throws -> Int {
        guard let v = fields[key] as? Int else { throw GoldenError("golden \(caseName): no integer \(key)") }
        return v
    }

    func double(_ key: String) throws -> Double {
        guard let v = fields[key] as? Double else { throw GoldenError("golden \(caseName): no number \(key)") }
        return v
    }
}

private struct GoldenError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
