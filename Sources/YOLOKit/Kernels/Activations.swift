import Foundation

/// Point-wise activations, applied in place after a conv's bias add.
public enum Activation: String, Sendable, CaseIterable {
    case linear, leaky, relu, logistic, mish, swish

    /// Scalar reference (Foundation's exp/log1p/tanh): the definition the vector kernels are tested against.
    @inline(__always)
    static func sigmoid(_ x: Float) -> Float { 1 / (1 + exp(-x)) }

    @inline(__always)
    func apply(_ x: Float) -> Float {
        switch self {
        case .linear: return x
        case .leaky: return x > 0 ? x : 0.1 * x
        case .relu: return max(x, 0)
        case .logistic: return Activation.sigmoid(x)
        case .swish: return x * Activation.sigmoid(x)
        case .mish:
            // x · tanh(softplus(x)); softplus thresholded like Darknet/OpenCV for large |x|.
            let sp: Float = x > 20 ? x : (x < -20 ? exp(x) : log1p(exp(x)))
            return x * tanh(sp)
        }
    }

    /// The activation on 16 lanes (`VectorMath`: within a few ulp of the scalar reference).
    @inline(__always)
    func apply(_ x: SIMD16<Float>) -> SIMD16<Float> {
        switch self {
        case .linear: return x
        case .leaky: return x.replacing(with: x * 0.1, where: x .<= 0)
        case .relu: return vmax(x, SIMD16(repeating: 0))
        case .logistic: return VectorMath.sigmoid(x)
        case .swish: return VectorMath.fusedMultiplyAddIsFast ? VectorMath.siluFused(x) : VectorMath.silu(x)
        case .mish: return VectorMath.mish(x)
        }
    }

    /// out[c, i] = act(data[c, i] + bias[c]) over a [channels, plane] block, in place; 16 lanes at a time,
    /// channels split over `threads`.
    func applyWithBias(_ data: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>?, channels: Int, plane: Int, threads: Int) {
        if self == .linear && bias == nil { return }
        // Small blocks: not worth waking a second thread (~10 µs).
        let workers = channels * plane < 32_768 ? 1 : threads
        if channels >= 2 * workers || workers == 1 {
            parallelChunks(channels, threads: workers) { range in
                for c in range { applyRow(data + c * plane, count: plane, bias: bias?[c] ?? 0) }
            }
        } else {
            // Few channels with large planes (a 1–2 class head): split each plane instead.
            for c in 0..<channels {
                let row = data + c * plane, b = bias?[c] ?? 0
                parallelChunks((plane + 15) / 16, threads: workers) { blocks in
                    let lo = blocks.lowerBound * 16, hi = min(plane, blocks.upperBound * 16)
                    applyRow(row + lo, count: hi - lo, bias: b)
                }
            }
        }
    }

    /// row[i] = act(row[i] + bias) for i in 0..<count.
    @inline(__always)
    func applyRow(_ row: UnsafeMutablePointer<Float>, count: Int, bias: Float) {
        switch self {
        case .linear: applyRow(row, count: count, bias: bias) { $0 }
        case .leaky: applyRow(row, count: count, bias: bias) { $0.replacing(with: $0 * 0.1, where: $0 .<= 0) }
        case .relu: applyRow(row, count: count, bias: bias) { vmax($0, SIMD16(repeating: 0)) }
        case .logistic: applyRow(row, count: count, bias: bias) { VectorMath.sigmoid($0) }
        case .swish where VectorMath.fusedMultiplyAddIsFast: applyRow(row, count: count, bias: bias) { VectorMath.siluFused($0) }
        case .swish: applyRow(row, count: count, bias: bias) { VectorMath.silu($0) }
        case .mish: applyRow(row, count: count, bias: bias) { VectorMath.mish($0) }
        }
    }

    @inline(__always)
    private func applyRow(_ row: UnsafeMutablePointer<Float>, count: Int, bias: Float, _ f: (SIMD16<Float>) -> SIMD16<Float>) {
        let b = SIMD16<Float>(repeating: bias)
        var i = 0
        while i + 16 <= count {
            storeV(f(loadV(row + i) + b), row + i)
            i += 16
        }
        if i < count {  // the tail through the same vector code, so every element gets the same rounding
            var v = SIMD16<Float>()
            for j in 0..<(count - i) { v[j] = row[i + j] }
            v = f(v + b)
            for j in 0..<(count - i) { row[i + j] = v[j] }
        }
    }
}

/// Vectorized transcendental functions on 16 floats, pure Swift (compiled to AVX-512 / AVX2 when the build
/// targets the CPU). Accuracy: exp within 1 ulp of the correctly rounded result over [−87.3, 88]
/// (Cephes' expf polynomial after a two-constant ln 2 range reduction); sigmoid, SiLU and mish
/// add one division's rounding.
public enum VectorMath {
    /// e^x. Inputs below −87.3 give e^−87.3 (≈ 1.2e−38), above 88 give e^88 (≈ 1.65e38): enough for
    /// sigmoid, SiLU, mish and max-subtracted softmax, which are what this library uses it for.
    @_transparent  // inlined where it is used, always: an out-of-line call passes 16 lanes through memory
    public static func exp(_ x: SIMD16<Float>) -> SIMD16<Float> {
        // vmax then vmin, written out (a transparent function may only use public names).
        let low = SIMD16<Float>(repeating: -87.33654), high = SIMD16<Float>(repeating: 88.0)
        let raised = x.replacing(with: low, where: x .< low)
        let xc = raised.replacing(with: high, where: high .< raised)
        // n = round(x / ln 2) by the 1.5·2^23 trick: t's low mantissa bits hold n as an integer.
        let t = xc * 1.44269504088896341 + 12_582_912.0
        let n = t - 12_582_912.0
        let r = (xc - n * 0.693359375) - n * -2.12194440e-4  // |r| ≤ ln2/2, ln 2 in two parts
        var p = SIMD16<Float>(repeating: 1.9875691500e-4)
        p = p * r + 1.3981999507e-3
        p = p * r + 8.3334519073e-3
        p = p * r + 4.1665795894e-2
        p = p * r + 1.6666665459e-1
        p = p * r + 5.0000001201e-1
        let e = p * (r * r) + r + 1
        let scale = (unsafeBitCast(t, to: SIMD16<Int32>.self) &- 0x4B40_0000 &+ 127) &<< 23  // 2^n as float bits
        return e * unsafeBitCast(scale, to: SIMD16<Float>.self)
    }

    /// 1 / (1 + e^−x).
    @_transparent  // inlined where it is used, always: an out-of-line call passes 16 lanes through memory
    public static func sigmoid(_ x: SIMD16<Float>) -> SIMD16<Float> {
        1 / (1 + exp(-x))
    }

    /// SiLU / swish: x · sigmoid(x) = x / (1 + e^−x).
    @_transparent  // inlined where it is used, always: an out-of-line call passes 16 lanes through memory
    public static func silu(_ x: SIMD16<Float>) -> SIMD16<Float> {
        x / (1 + exp(-x))
    }

    /// `silu` with `exp`'s range reduction and polynomial in fused multiply-adds (one vfmadd each): ~1.5× the speed
    /// (0.40 against 0.60 ns a value on one core of the Xeon VM), e^x within 1 ulp as well, SiLU within 2.1 ulp
    /// (`KernelTests.testFusedSiLUIsWithinThreeUlp`). A build for baseline x86-64 has no vector FMA and would run each
    /// one lane by lane, so the activations take it only where `fusedMultiplyAddIsFast`.
    @inline(__always)
    static func siluFused(_ x: SIMD16<Float>) -> SIMD16<Float> {
        @inline(__always) func fma(_ a: SIMD16<Float>, _ b: SIMD16<Float>, _ c: SIMD16<Float>) -> SIMD16<Float> {
            var r = c
            r.addProduct(a, b)  // the vector form: `addingProduct` with a scalar argument is not lowered to vfmadd
            return r
        }
        let low = SIMD16<Float>(repeating: -87.33654), high = SIMD16<Float>(repeating: 88.0)
        let negated = -x
        let raised = negated.replacing(with: low, where: negated .< low)
        let xc = raised.replacing(with: high, where: high .< raised)
        let t = fma(xc, SIMD16(repeating: 1.44269504088896341), SIMD16(repeating: 12_582_912.0))
        let n = t - 12_582_912.0
        let r = fma(n, SIMD16(repeating: 2.12194440e-4), fma(n, SIMD16(repeating: -0.693359375), xc))
        var p = fma(SIMD16(repeating: 1.9875691500e-4), r, SIMD16(repeating: 1.3981999507e-3))
        p = fma(p, r, SIMD16(repeating: 8.3334519073e-3))
        p = fma(p, r, SIMD16(repeating: 4.1665795894e-2))
        p = fma(p, r, SIMD16(repeating: 1.6666665459e-1))
        p = fma(p, r, SIMD16(repeating: 5.0000001201e-1))
        let e = fma(p, r * r, r) + 1
        let scale = (unsafeBitCast(t, to: SIMD16<Int32>.self) &- 0x4B40_0000 &+ 127) &<< 23
        return x / (1 + e * unsafeBitCast(scale, to: SIMD16<Float>.self))
    }

    /// Whether this build runs vector fused multiply-adds as single instructions: the Swift GEMM's micro-kernel
    /// (all `addProduct`) measured fast, as in a build for the CPU.
    static let fusedMultiplyAddIsFast = SwiftGEMM.isVectorized

    /// mish: x · tanh(softplus(x)). With e = e^x, tanh(log(1 + e)) = e(e + 2) / (e(e + 2) + 2); above 20 it is x
    /// (as Darknet/OpenCV threshold softplus).
    @_transparent  // inlined where it is used, always: an out-of-line call passes 16 lanes through memory
    public static func mish(_ x: SIMD16<Float>) -> SIMD16<Float> {
        let e = exp(x)
        let n = e * (e + 2)
        return (x * n / (n + 2)).replacing(with: x, where: x .> 20)
    }
}
