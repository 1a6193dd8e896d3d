import Dispatch
import XCTest
@testable import YOLOKit

/// The int8 and bf16 GEMMs (Quantization/) against exact references: int8 bit for bit against an Int64 sum on
/// random and extreme values, odd shapes, K = 1 and K = 4608 (several K blocks), 1 and 2 threads, every kernel
/// forced in turn (skipped only where the CPU lacks it); the dequantizing epilogue and bf16 within stated bounds;
/// the quantization parameters' round trip.
final class LowPrecisionGEMMTests: XCTestCase {
    // MARK: - int8

    enum Fill { case random, allMinimum, allMaximum, extremes }

    struct Int8Case { var m, n, k: Int; var threads = 1; var padX = 0, padC = 0; var fill = Fill.random }

    static let int8Cases: [Int8Case] = [
        Int8Case(m: 1, n: 1, k: 1), Int8Case(m: 1, n: 1, k: 4), Int8Case(m: 8, n: 32, k: 4), Int8Case(m: 9, n: 33, k: 5),
        Int8Case(m: 7, n: 31, k: 3), Int8Case(m: 3, n: 65, k: 2), Int8Case(m: 16, n: 64, k: 1), Int8Case(m: 33, n: 40, k: 6),
        Int8Case(m: 17, n: 70, k: 1152), Int8Case(m: 5, n: 100, k: 513), Int8Case(m: 20, n: 37, k: 4608),
        Int8Case(m: 11, n: 45, k: 27, padX: 3, padC: 5), Int8Case(m: 24, n: 200, k: 1001, threads: 2, padX: 7, padC: 2),
        Int8Case(m: 40, n: 97, k: 4608, threads: 2),
        // Where vpmaddubsw would saturate (255 · −128 · 2 < −32768) and the int32 sums are largest: 255 · 128 · 4608.
        Int8Case(m: 9, n: 33, k: 4608, fill: .allMinimum), Int8Case(m: 8, n: 32, k: 4608, fill: .allMaximum),
        Int8Case(m: 13, n: 45, k: 4607, threads: 2, fill: .extremes), Int8Case(m: 3, n: 5, k: 7, fill: .extremes),
        // AMX blocks: K at and around a 64-value chunk, a second 16-row tile with 1 row (m 33) and a whole one
        // (m 48), several 32-row blocks, and panel groups (K 4608: 5 panels a group, 7 panels on one thread).
        Int8Case(m: 48, n: 17, k: 64), Int8Case(m: 33, n: 300, k: 65, threads: 2, padX: 1, padC: 3), Int8Case(m: 70, n: 95, k: 63),
        Int8Case(m: 35, n: 200, k: 4608), Int8Case(m: 64, n: 64, k: 128, fill: .allMinimum),
    ]

    /// Random or extreme operands for one case: w [m × k], x [k × (n + padX)].
    func operands(_ t: Int8Case, rng: inout SeededRandom) -> (w: [Int8], x: [UInt8]) {
        let ldx = t.n + t.padX
        switch t.fill {
        case .random:
            return ((0..<(t.m * t.k)).map { _ in Int8(truncatingIfNeeded: rng.next()) }, (0..<(t.k * ldx)).map { _ in UInt8(truncatingIfNeeded: rng.next()) })
        case .allMinimum: return ([Int8](repeating: -128, count: t.m * t.k), [UInt8](repeating: 255, count: t.k * ldx))
        case .allMaximum: return ([Int8](repeating: 127, count: t.m * t.k), [UInt8](repeating: 255, count: t.k * ldx))
        case .extremes:
            return ((0..<(t.m * t.k)).map { _ in rng.next() & 1 == 0 ? -128 : 127 }, (0..<(t.k * ldx)).map { _ in rng.next() & 1 == 0 ? 0 : 255 })
        }
    }

    /// Σ_k w[i, k] · x[k, j] in Int64.
    func exactProduct(_ w: [Int8], _ x: [UInt8], m: Int, n: Int, k: Int, ldx: Int) -> [Int64] {
        var c = [Int64](repeating: 0, count: m * n)
        for i in 0..<m { for p in 0..<k {
            let a = Int64(w[i * k + p])
            for j in 0..<n { c[i * n + j] += a * Int64(x[p * ldx + j]) }
        }}
        return c
    }

    /// Runs every case on one forced kernel; returns after XCTSkip when the CPU lacks it.
    func checkInt8Kernel(_ kernel: LowPrecisionKernel.Int8) throws {
        let features = CPUFeatures.current
        guard features.isSuperset(of: kernel.requiredFeatures) else {
            throw XCTSkip("int8 kernel \(kernel.rawValue) not run: this CPU has \(features)")
        }
        var rng = SeededRandom(seed: 8)
        for t in Self.int8Cases {
            let gemm = try Int8GEMM(kernel: kernel, threads: t.threads)
            XCTAssertEqual(gemm.kernel, kernel)
            let (w, x) = operands(t, rng: &rng)
            let ldx = t.n + t.padX, ldc = t.n + t.padC
            let expected = exactProduct(w, x, m: t.m, n: t.n, k: t.k, ldx: ldx)
            let packed = try Int8PackedWeights(w, rows: t.m, depth: t.k)
            XCTAssertEqual(packed.rowSums, (0..<t.m).map { i in Int32(w[(i * t.k)..<((i + 1) * t.k)].reduce(0) { $0 + Int($1) }) })
            var c = [Int32](repeating: 0x5A5A_5A5A, count: t.m * ldc)
            x.withUnsafeBufferPointer { px in c.withUnsafeMutableBufferPointer { pc in
                gemm.multiply(packed, activations: px.baseAddress!, columns: t.n, ldx: ldx, into: pc.baseAddress!, ldc: ldc)
            }}
            var mismatches = 0, first = ""
            for i in 0..<t.m { for j in 0..<t.n where Int64(c[i * ldc + j]) != expected[i * t.n + j] {
                if mismatches == 0 { first = "c[\(i), \(j)] = \(c[i * ldc + j]), exact \(expected[i * t.n + j])" }
                mismatches += 1
            }}
            XCTAssertEqual(mismatches, 0, "int8 \(kernel.rawValue) \(t): \(mismatches) entries differ from the exact sum, first \(first)")
            let padding = (0..<t.m).flatMap { i in (t.n..<ldc).map { c[i * ldc + $0] } }
            XCTAssertTrue(padding.allSatisfy { $0 == 0x5A5A_5A5A }, "int8 \(kernel.rawValue) \(t): wrote outside the n columns of C")
            switch t.fill {
            case .allMinimum: XCTAssertEqual(c[0], -255 * 128 * Int32(t.k))
            case .allMaximum: XCTAssertEqual(c[0], 255 * 127 * Int32(t.k))
            default: break
            }
        }
        print("LowPrecisionGEMMTests: int8 kernel \(kernel.rawValue) ran \(Self.int8Cases.count) cases exactly (CPU: \(features))")
    }

    func testInt8AMXIsExact() throws { try checkInt8Kernel(.amx) }
    func testInt8VNNIIsExact() throws { try checkInt8Kernel(.vnni) }
    func testInt8AVX512BWIsExact() throws { try checkInt8Kernel(.avx512bw) }
    func testInt8AVX2IsExact() throws { try checkInt8Kernel(.avx2) }
    func testInt8ScalarIsExact() throws { try checkInt8Kernel(.scalar) }

    /// out = s_w[i]·s_x·Σ_k w·(x − z) + bias against the same in Float64, within 4 float roundings of the terms;
    /// and bit-identical across every kernel the CPU has.
    func testInt8DequantizingEpilogue() throws {
        var rng = SeededRandom(seed: 21)
        let kernels = LowPrecisionKernel.Int8.allCases.filter { $0 != .automatic && CPUFeatures.current.isSuperset(of: $0.requiredFeatures) }
        for (m, n, k, threads) in [(9, 33, 5, 1), (17, 70, 1152, 1), (24, 130, 700, 2), (3, 4, 1, 1), (40, 77, 130, 2)] {
            let w = (0..<(m * k)).map { _ in Int8(truncatingIfNeeded: rng.next()) }
            let x = (0..<(k * n)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            let weightScales = (0..<m).map { _ in rng.float(1e-4, 2e-2) }
            let bias = (0..<m).map { _ in rng.float(-3, 3) }
            let activation = try ActivationQuantization(min: -1.3, max: 4.1)
            let packed = try Int8PackedWeights(w, rows: m, depth: k)
            let exact = exactProduct(w, x, m: m, n: n, k: k, ldx: n)
            var outputs: [[Float]] = []
            for kernel in kernels {
                let gemm = try Int8GEMM(kernel: kernel, threads: threads)
                for withBias in [false, true] {
                    let dq = Int8Dequantization(weights: packed, weightScales: weightScales, activation: activation, bias: withBias ? bias : nil)
                    var c = [Float](repeating: .nan, count: m * n)
                    x.withUnsafeBufferPointer { px in c.withUnsafeMutableBufferPointer { pc in
                        gemm.multiply(packed, activations: px.baseAddress!, columns: n, dequantization: dq, into: pc.baseAddress!)
                    }}
                    var worst = 0.0
                    for i in 0..<m { for j in 0..<n {
                        let centered = Double(exact[i * n + j]) - Double(activation.zeroPoint) * Double(packed.rowSums[i])
                        let scaled = Double(weightScales[i]) * Double(activation.scale) * centered, b = withBias ? Double(bias[i]) : 0
                        let error = abs(Double(c[i * n + j]) - (scaled + b)) / (4 * 0x1p-24 * (abs(scaled) + abs(b)) + 1e-30)
                        worst = max(worst, error.isNaN ? .infinity : error)
                    }}
                    XCTAssertLessThanOrEqual(worst, 1, "int8 \(kernel.rawValue) dequantized \(m)×\(n)×\(k) bias \(withBias): error / bound \(worst)")
                    if withBias { outputs.append(c) }
                    // The leaky ReLU in the epilogue: the same bits as Activation.leaky applied afterwards (the layer's old path).
                    var fused = [Float](repeating: .nan, count: m * n)
                    x.withUnsafeBufferPointer { px in fused.withUnsafeMutableBufferPointer { pc in
                        gemm.multiply(packed, activations: px.baseAddress!, columns: n, dequantization: dq, leakyReLU: true, into: pc.baseAddress!)
                    }}
                    c.withUnsafeMutableBufferPointer { Activation.leaky.applyWithBias($0.baseAddress!, bias: nil, channels: m, plane: n, threads: 1) }
                    XCTAssertTrue(fused.elementsEqual(c) { $0.bitPattern == $1.bitPattern }, "int8 \(kernel.rawValue) \(m)×\(n)×\(k): fused leaky ReLU differs")
                }
            }
            for (kernel, c) in zip(kernels, outputs) {
                XCTAssertTrue(c.elementsEqual(outputs[0]) { $0.bitPattern == $1.bitPattern }, "int8 \(kernel.rawValue) float output differs from \(kernels[0].rawValue)")
            }
        }
    }

    /// X as blocks of columns (`GEMMActivations.columns`, what a conv's im2col gives) equals X as a matrix, bit for bit,
    /// on every kernel: int8 dequantized with and without the leaky ReLU, bf16 with bias.
    func testColumnBlocksEqualTheMatrix() throws {
        var rng = SeededRandom(seed: 77)
        for (m, n, k, threads) in [(9, 33, 5, 1), (40, 300, 130, 2), (17, 70, 700, 1), (33, 1000, 64, 2)] {
            let w = (0..<(m * k)).map { _ in Int8(truncatingIfNeeded: rng.next()) }
            let x = (0..<(k * n)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            let wf = (0..<(m * k)).map { _ in rng.float(-1, 1) }, xf = (0..<(k * n)).map { _ in rng.float(-2, 2) }
            let bias = (0..<m).map { _ in rng.float(-3, 3) }
            let packed = try Int8PackedWeights(w, rows: m, depth: k), packedBF16 = BF16PackedWeights(wf, rows: m, depth: k)
            let dq = Int8Dequantization(weights: packed, weightScales: (0..<m).map { _ in rng.float(1e-4, 2e-2) },
                                        activation: try ActivationQuantization(min: -1.3, max: 4.1), bias: bias)
            try x.withUnsafeBufferPointer { px in try xf.withUnsafeBufferPointer { pxf in
                let blocks = GEMMActivations<UInt8>.columns { col0, col1, block in
                    for p in 0..<k { for j in col0..<col1 { block[p * (col1 - col0) + j - col0] = px[p * n + j] } }
                }
                let floatBlocks = GEMMActivations<Float>.columns { col0, col1, block in
                    for p in 0..<k { for j in col0..<col1 { block[p * (col1 - col0) + j - col0] = pxf[p * n + j] } }
                }
                for kernel in LowPrecisionKernel.Int8.allCases where kernel != .automatic && CPUFeatures.current.isSuperset(of: kernel.requiredFeatures) {
                    let gemm = try Int8GEMM(kernel: kernel, threads: threads)
                    for leaky in [false, true] {
                        var a = [Float](repeating: .nan, count: m * n), b = a
                        a.withUnsafeMutableBufferPointer { gemm.multiply(packed, activations: px.baseAddress!, columns: n, dequantization: dq, leakyReLU: leaky, into: $0.baseAddress!) }
                        b.withUnsafeMutableBufferPointer { gemm.multiply(packed, activations: blocks, columns: n, dequantization: dq, leakyReLU: leaky, into: $0.baseAddress!) }
                        XCTAssertTrue(a.elementsEqual(b) { $0.bitPattern == $1.bitPattern }, "int8 \(kernel.rawValue) \(m)×\(n)×\(k) leaky \(leaky): blocks differ")
                    }
                }
                for kernel in LowPrecisionKernel.BF16.allCases where kernel != .automatic && CPUFeatures.current.isSuperset(of: kernel.requiredFeatures) {
                    let gemm = try BF16GEMM(kernel: kernel, threads: threads)
                    var a = [Float](repeating: .nan, count: m * n), b = a
                    a.withUnsafeMutableBufferPointer { gemm.multiply(packedBF16, activations: pxf.baseAddress!, columns: n, bias: bias, into: $0.baseAddress!) }
                    b.withUnsafeMutableBufferPointer { gemm.multiply(packedBF16, activations: floatBlocks, columns: n, bias: bias, into: $0.baseAddress!) }
                    XCTAssertTrue(a.elementsEqual(b) { $0.bitPattern == $1.bitPattern }, "bf16 \(kernel.rawValue) \(m)×\(n)×\(k): blocks differ")
                }
            }}
        }
    }

    func testInt8KernelChoice() throws {
        typealias K = LowPrecisionKernel.Int8
        XCTAssertEqual(K.best(for: []), .scalar)
        XCTAssertEqual(K.best(for: .avx2), .avx2)
        XCTAssertEqual(K.best(for: [.avx2, .avx512bw]), .avx512bw)
        XCTAssertEqual(K.best(for: [.avx2, .avx512bw, .avx512vnni]), .vnni)
        let sapphireRapids: CPUFeatures = [.avx2, .avx512bw, .avx512vnni, .amxInt8]
        XCTAssertEqual(K.best(for: sapphireRapids), .amx)
        XCTAssertEqual(K.best(for: sapphireRapids, depth: 27), .vnni)  // AMX would pad K 27 to 64
        XCTAssertEqual(K.best(for: sapphireRapids, depth: 64), .amx)
        XCTAssertEqual(K.best(for: [.avx2, .avx512bw, .avx512vnni], depth: 4608), .vnni)
        XCTAssertThrowsError(try K.amx.resolved(for: [.avx2, .avx512bw, .avx512vnni])) { error in
            XCTAssertTrue("\(error)".contains("'amx'") && "\(error)".contains("AMX-INT8"), "\(error)")
        }
        XCTAssertEqual(try K.automatic.resolved(for: .avx2), .avx2)
        XCTAssertEqual(try K.scalar.resolved(for: []), .scalar)
        XCTAssertThrowsError(try K.vnni.resolved(for: [.avx2, .avx512bw])) { error in
            let message = "\(error)"
            XCTAssertTrue(message.contains("'vnni'") && message.contains("AVX512_VNNI") && message.contains("auto, avx512bw, avx2, scalar"), message)
        }
        XCTAssertThrowsError(try K.avx2.resolved(for: [])) { XCTAssertTrue("\($0)".contains("AVX2"), "\($0)") }
        XCTAssertEqual(try Int8GEMM().kernel, K.best())
        XCTAssertThrowsError(try Int8PackedWeights([Int8](repeating: 0, count: 65_794), rows: 1, depth: 65_794))
        print("LowPrecisionGEMMTests: CPU has \(CPUFeatures.current); automatic int8 = \(K.best().rawValue)")
    }

    // MARK: - bf16

    /// Round to nearest even by distance (independent of the kernels' bit trick): the two bf16 neighbours of x.
    static func bf16(_ x: Float) -> Float {
        if !x.isFinite { return x }
        let down = Float(bitPattern: x.bitPattern & 0xFFFF_0000)
        if down == x { return x }
        let up = Float(bitPattern: (x.bitPattern & 0xFFFF_0000) &+ 0x1_0000)  // next away from zero (may be ±inf)
        let dDown = abs(Double(x) - Double(down)), dUp = up.isFinite ? abs(Double(up) - Double(x)) : Double(0x1p128) - abs(Double(x))
        if dDown != dUp { return dDown < dUp ? down : up }
        return (down.bitPattern >> 16) & 1 == 0 ? down : up
    }

    func testBF16Rounding() {
        XCTAssertEqual(BF16GEMM.bfloat16Bits(1), 0x3F80)
        XCTAssertEqual(BF16GEMM.bfloat16Bits(Float(bitPattern: 0x3F80_8000)), 0x3F80)  // tie, even below
        XCTAssertEqual(BF16GEMM.bfloat16Bits(Float(bitPattern: 0x3F81_8000)), 0x3F82)  // tie, even above
        XCTAssertEqual(BF16GEMM.bfloat16Bits(Float(bitPattern: 0x3F80_8001)), 0x3F81)
        XCTAssertEqual(BF16GEMM.bfloat16Bits(Float(bitPattern: 0x3F80_7FFF)), 0x3F80)
        XCTAssertEqual(BF16GEMM.bfloat16Bits(-0.0), 0x8000)
        XCTAssertEqual(BF16GEMM.bfloat16Bits(.infinity), 0x7F80)
        XCTAssertEqual(BF16GEMM.bfloat16Bits(-.infinity), 0xFF80)
        XCTAssertEqual(BF16GEMM.bfloat16Bits(.greatestFiniteMagnitude), 0x7F80)  // rounds up to inf
        for nan in [Float.nan, Float(bitPattern: 0x7FFF_FFFF), Float(bitPattern: 0xFF80_0001)] {
            XCTAssertTrue(Float(bitPattern: UInt32(BF16GEMM.bfloat16Bits(nan)) << 16).isNaN, "\(nan.bitPattern)")
        }
        var rng = SeededRandom(seed: 5)
        for _ in 0..<20_000 {
            let x = Float(bitPattern: UInt32(truncatingIfNeeded: rng.next()))
            guard !x.isNaN else { continue }
            XCTAssertEqual(Float(bitPattern: UInt32(BF16GEMM.bfloat16Bits(x)) << 16).bitPattern, Self.bf16(x).bitPattern, "\(x.bitPattern)")
        }
    }

    struct BF16Case { var m, n, k: Int; var threads = 1; var padX = 0, padC = 0 }

    static let bf16Cases: [BF16Case] = [
        BF16Case(m: 1, n: 1, k: 1), BF16Case(m: 8, n: 32, k: 2), BF16Case(m: 9, n: 33, k: 5), BF16Case(m: 7, n: 3, k: 3),
        BF16Case(m: 17, n: 70, k: 257), BF16Case(m: 20, n: 37, k: 4608), BF16Case(m: 11, n: 45, k: 28, padX: 3, padC: 5),
        BF16Case(m: 24, n: 200, k: 1001, threads: 2, padX: 1, padC: 2),
        // AMX: K around a 32-value chunk, second row tiles of 1 and 16 rows, several blocks and panels.
        BF16Case(m: 33, n: 65, k: 31), BF16Case(m: 48, n: 300, k: 33, threads: 2, padX: 2, padC: 1), BF16Case(m: 70, n: 40, k: 64),
    ]

    /// Runs every case on one forced kernel against Float64 sums of the bf16-rounded operands, within
    /// (K + 2) · 2^-24 · (Σ|w·x| + |bias|); returns the outputs (for the fallbacks' bit-for-bit comparison).
    @discardableResult
    func checkBF16Kernel(_ kernel: LowPrecisionKernel.BF16) throws -> [[Float]] {
        let features = CPUFeatures.current
        guard features.isSuperset(of: kernel.requiredFeatures) else {
            throw XCTSkip("bf16 kernel \(kernel.rawValue) not run: this CPU has \(features)")
        }
        var rng = SeededRandom(seed: 16)
        var outputs: [[Float]] = []
        for t in Self.bf16Cases {
            let gemm = try BF16GEMM(kernel: kernel, threads: t.threads)
            XCTAssertEqual(gemm.kernel, kernel)
            let ldx = t.n + t.padX, ldc = t.n + t.padC
            // Magnitudes over 2^±6, so that rounding matters at every scale (products stay far from denormals).
            let w = (0..<(t.m * t.k)).map { _ in rng.float() * Float(sign: .plus, exponent: Int(rng.next() % 13) - 6, significand: 1) }
            let x = (0..<(t.k * ldx)).map { _ in rng.float(-2, 2) * Float(sign: .plus, exponent: Int(rng.next() % 13) - 6, significand: 1) }
            let bias = (0..<t.m).map { _ in rng.float(-1, 1) }
            let wr = w.map(Self.bf16), xr = x.map(Self.bf16)
            let packed = BF16PackedWeights(w, rows: t.m, depth: t.k)
            var c = [Float](repeating: 12345, count: t.m * ldc)
            x.withUnsafeBufferPointer { px in c.withUnsafeMutableBufferPointer { pc in
                gemm.multiply(packed, activations: px.baseAddress!, columns: t.n, ldx: ldx, bias: bias, into: pc.baseAddress!, ldc: ldc)
            }}
            var worst = 0.0
            for i in 0..<t.m { for j in 0..<t.n {
                var sum = Double(bias[i]), magnitude = abs(Double(bias[i]))
                for p in 0..<t.k {
                    let v = Double(wr[i * t.k + p]) * Double(xr[p * ldx + j])
                    sum += v; magnitude += abs(v)
                }
                let error = abs(Double(c[i * ldc + j]) - sum) / (Double(t.k + 2) * 0x1p-24 * magnitude + 1e-30)
                worst = max(worst, error.isNaN ? .infinity : error)
            }}
            XCTAssertLessThanOrEqual(worst, 1, "bf16 \(kernel.rawValue) \(t): error / bound \(worst)")
            let padding = (0..<t.m).flatMap { i in (t.n..<ldc).map { c[i * ldc + $0] } }
            XCTAssertTrue(padding.allSatisfy { $0 == 12345 }, "bf16 \(kernel.rawValue) \(t): wrote outside the n columns of C")
            outputs.append(c)
        }
        print("LowPrecisionGEMMTests: bf16 kernel \(kernel.rawValue) ran \(Self.bf16Cases.count) cases within the bound (CPU: \(features))")
        return outputs
    }

    func testBF16ScalarFallback() throws { try checkBF16Kernel(.scalar) }
    func testBF16AMXWithinBound() throws { try checkBF16Kernel(.amx) }

    /// The AVX-512 fallback: within the bound, and bit-identical to the scalar one (same order, exact products).
    func testBF16AVX512FallbackMatchesScalar() throws {
        let vector = try checkBF16Kernel(.avx512), scalar = try checkBF16Kernel(.scalar)
        for (index, (a, b)) in zip(vector, scalar).enumerated() {
            XCTAssertTrue(a.elementsEqual(b) { $0.bitPattern == $1.bitPattern }, "bf16 case \(Self.bf16Cases[index]): avx512 and scalar differ")
        }
    }

    func testBF16KernelChoice() throws {
        typealias K = LowPrecisionKernel.BF16
        XCTAssertEqual(K.best(for: []), .scalar)
        XCTAssertEqual(K.best(for: [.avx2, .avx512bw]), .avx512)
        XCTAssertEqual(K.best(for: [.avx512bw, .avx512bf16]), .avx512bf16)
        XCTAssertEqual(K.best(for: [.avx512bw, .avx512bf16, .amxBF16]), .amx)
        XCTAssertThrowsError(try K.avx512bf16.resolved(for: .avx512bw)) { error in
            XCTAssertTrue("\(error)".contains("'avx512bf16'") && "\(error)".contains("AVX512_BF16"), "\(error)")
        }
        let automatic = try BF16GEMM().kernel
        if CPUFeatures.current.isSuperset(of: K.amx.requiredFeatures) {
            XCTAssertEqual(automatic, .amx)
        } else if CPUFeatures.current.isSuperset(of: K.avx512bf16.requiredFeatures) {
            XCTAssertTrue([K.avx512bf16, .avx512].contains(automatic), "\(automatic)")
        } else {
            XCTAssertEqual(automatic, K.best())
        }
        print("LowPrecisionGEMMTests: automatic bf16 kernel here (timed): \(automatic.rawValue)")
    }

    /// vdpbf16ps and the expand-and-FMA fallback round alike (exact products, odd K then even K, nearest even):
    /// bit-identical on normal values.
    func testBF16DotProductMatchesFallback() throws {
        let dotProduct = try checkBF16Kernel(.avx512bf16), fallback = try checkBF16Kernel(.avx512)
        for (index, (a, b)) in zip(dotProduct, fallback).enumerated() {
            XCTAssertTrue(a.elementsEqual(b) { $0.bitPattern == $1.bitPattern }, "bf16 case \(Self.bf16Cases[index]): avx512bf16 and avx512 differ")
        }
    }

    // MARK: - Quantization parameters

    func testWeightQuantizationRoundTrip() throws {
        var rng = SeededRandom(seed: 3)
        let rows = 6, depth = 50
        var w = (0..<(rows * depth)).map { _ in rng.float() }
        for k in 0..<depth { w[2 * depth + k] = 0; w[3 * depth + k] *= 1e-3; w[4 * depth + k] *= 40 }
        let quantization = try PerChannelWeightQuantization(weights: w, rows: rows, depth: depth)
        XCTAssertEqual(quantization.scales[2], 1)
        let q = quantization.quantize(w, depth: depth), back = quantization.dequantize(q, depth: depth)
        for i in 0..<rows {
            let s = quantization.scales[i], row = q[(i * depth)..<((i + 1) * depth)]
            XCTAssertEqual(row.map { abs(Int($0)) }.max(), i == 2 ? 0 : 127, "row \(i)")
            for k in 0..<depth {
                XCTAssertLessThanOrEqual(abs(w[i * depth + k] - back[i * depth + k]), s * (0.5 + 1e-4), "row \(i), k \(k)")
            }
        }
        XCTAssertThrowsError(try PerChannelWeightQuantization(weights: [1, .nan], rows: 1, depth: 2))
        XCTAssertThrowsError(try PerChannelWeightQuantization(scales: [1, 0]))
    }

    func testActivationQuantizationRoundTrip() throws {
        var rng = SeededRandom(seed: 4)
        for (low, high) in [(Float(-1.3), Float(4.1)), (0.5, 2), (-3, -1), (0, 6), (-0.001, 0.002), (0, 0)] {
            let quantization = try ActivationQuantization(min: low, max: high)
            let s = quantization.scale, z = quantization.zeroPoint
            XCTAssertEqual(quantization.quantize(0), z, "[\(low), \(high)]: 0 must be exact")
            XCTAssertEqual(quantization.dequantize(z), 0)
            let values = [low, high] + (0..<5000).map { _ in rng.float(low, high) }
            for x in values {
                let back = quantization.dequantize(quantization.quantize(x))
                XCTAssertLessThanOrEqual(abs(x - back), s * (0.5 + 1e-4), "[\(low), \(high)] x \(x): back \(back), scale \(s), zero \(z)")
            }
            XCTAssertEqual(quantization.quantize(min(low, 0) - 300 * s), 0)
            XCTAssertEqual(quantization.quantize(max(high, 0) + 300 * s), 255)
            XCTAssertEqual(quantization.quantize(.nan), z)
        }
        XCTAssertThrowsError(try ActivationQuantization(min: 2, max: 1))
        XCTAssertThrowsError(try ActivationQuantization(min: 0, max: .infinity))
        XCTAssertThrowsError(try ActivationQuantization(scale: 0, zeroPoint: 0))
        var buffer = [UInt8](repeating: 0, count: 3)
        let quantization = try ActivationQuantization(scale: 0.5, zeroPoint: 10)
        [Float(-1), 0, 2.25].withUnsafeBufferPointer { quantization.quantize($0.baseAddress!, count: 3, into: &buffer) }
        XCTAssertEqual(buffer, [8, 10, 14])  // 2.25 / 0.5 = 4.5 → 4 (ties to even)
        // The 16-wide loop against the scalar definition, specials and ties included, a count that is no multiple of 16.
        let wide = try ActivationQuantization(min: -2.5, max: 7)
        var values = (0..<1001).map { _ in rng.float(-4, 9) }
        values[3] = .nan; values[17] = .infinity; values[18] = -.infinity; values[40] = 1e30; values[41] = -1e30; values[42] = -0.0
        for t in 50..<80 { values[t] = (Float(t) - 60.5) * wide.scale }  // ties
        var fast = [UInt8](repeating: 0, count: values.count)
        values.withUnsafeBufferPointer { wide.quantize($0.baseAddress!, count: values.count, into: &fast) }
        XCTAssertEqual(fast, values.map(wide.quantize))
    }

    // MARK: - Throughput (printed, not asserted: a shared machine's timings are noise)

    /// A conv-like shape (M = 128 output channels, K = 128 · 3 · 3, N = 80 · 80), 2 threads: the automatic int8
    /// and bf16 kernels and the fp32 SwiftGEMM in the same run, best of 5 each; the int8 result is checked exactly
    /// on sampled entries and bf16 within its bound.
    func testThroughputAgainstFloatGEMM() throws {
        let m = 128, k = 1152, n = 6400, threads = 2
        var rng = SeededRandom(seed: 99)
        let w = (0..<(m * k)).map { _ in Int8(truncatingIfNeeded: rng.next()) }
        let x = (0..<(k * n)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        let wf = w.map { Float($0) / 128 }, xf = x.map { Float($0) / 256 }
        let int8 = try Int8GEMM(threads: threads), bf16 = try BF16GEMM(threads: threads), fp32 = SwiftGEMM(threads: threads)
        // The other AVX-512 bf16 kernel, where the CPU has both, for comparison.
        let otherKernel: LowPrecisionKernel.BF16 = bf16.kernel == .amx && CPUFeatures.current.contains(.avx512bf16) ? .avx512bf16
            : bf16.kernel == .avx512bf16 ? .avx512
            : bf16.kernel == .avx512 && CPUFeatures.current.contains(.avx512bf16) ? .avx512bf16 : bf16.kernel
        let bf16Other = try BF16GEMM(kernel: otherKernel, threads: threads)
        let packed = try Int8PackedWeights(w, rows: m, depth: k), packedBF16 = BF16PackedWeights(wf, rows: m, depth: k)
        var c = [Int32](repeating: 0, count: m * n), cf = [Float](repeating: 0, count: m * n), cb = [Float](repeating: 0, count: m * n)
        func seconds(_ body: () -> Void) -> Double {
            let start = DispatchTime.now().uptimeNanoseconds
            body()
            return Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
        }
        var best = (int8: Double.infinity, bf16: Double.infinity, fp32: Double.infinity), bestOther = Double.infinity
        x.withUnsafeBufferPointer { px in xf.withUnsafeBufferPointer { pxf in wf.withUnsafeBufferPointer { pwf in
            c.withUnsafeMutableBufferPointer { pc in cf.withUnsafeMutableBufferPointer { pcf in cb.withUnsafeMutableBufferPointer { pcb in
                for _ in 0..<6 {  // the first round warms up
                    let i = seconds { int8.multiply(packed, activations: px.baseAddress!, columns: n, into: pc.baseAddress!) }
                    let b = seconds { bf16.multiply(packedBF16, activations: pxf.baseAddress!, columns: n, into: pcb.baseAddress!) }
                    let f = seconds { fp32.sgemm(m: m, n: n, k: k, alpha: 1, a: pwf.baseAddress!, lda: k, b: pxf.baseAddress!, ldb: n, beta: 0, c: pcf.baseAddress!, ldc: n) }
                    let o = seconds { bf16Other.multiply(packedBF16, activations: pxf.baseAddress!, columns: n, into: pcb.baseAddress!) }
                    best = (min(best.int8, i), min(best.bf16, b), min(best.fp32, f))
                    bestOther = min(bestOther, o)
                }
            }}}
        }}}
        for _ in 0..<64 {
            let i = Int(rng.next() % UInt64(m)), j = Int(rng.next() % UInt64(n))
            var exact = 0, sum = 0.0, magnitude = 0.0
            for p in 0..<k {
                exact += Int(w[i * k + p]) * Int(x[p * n + j])
                let v = Double(Self.bf16(wf[i * k + p])) * Double(Self.bf16(xf[p * n + j]))
                sum += v; magnitude += abs(v)
            }
            XCTAssertEqual(Int(c[i * n + j]), exact, "int8 c[\(i), \(j)]")
            XCTAssertLessThanOrEqual(abs(Double(cb[i * n + j]) - sum), Double(k + 2) * 0x1p-24 * magnitude, "bf16 c[\(i), \(j)]")
        }
        let ops = 2.0 * Double(m * n * k)
        func rate(_ seconds: Double) -> String { String(format: "%.0f", ops / seconds * 1e-9) }
        print("LowPrecisionGEMMTests throughput M=\(m) K=\(k) N=\(n), \(threads) threads: int8 \(int8.kernel.rawValue) \(rate(best.int8)) GOP/s, "
              + "bf16 \(bf16.kernel.rawValue) \(rate(best.bf16)) GFLOP/s (\(bf16Other.kernel.rawValue) \(rate(bestOther))), fp32 SwiftGEMM \(fp32.detail ?? "") \(rate(best.fp32)) GFLOP/s")
    }
}
