import CQuantKernels

/// A conv's im2col as a low-precision GEMM's X (`GEMMActivations.columns`): X [C·k·k, outH·outW], row
/// r = (c·k + ky)·k + kx and column p = oy·outW + ox holding input[c, oy·stride − pad + ky, ox·stride − pad + kx],
/// written one block of columns at a time by `cqk_u8_im2col` / `cqk_f32_im2col` (AVX512BW masked row copies for
/// stride 1 where the CPU has them; the same values either way).
struct Im2colColumns {
    let height: Int, width: Int, kernel: Int, stride: Int, pad: Int, outWidth: Int
    /// C·k·k.
    let rows: Int
    let vector: Bool

    init(_ geometry: ConvolutionGeometry, vector: Bool = CPUFeatures.current.contains(.avx512bw)) {
        self.init(height: geometry.inputShape.height, width: geometry.inputShape.width, kernel: geometry.size, stride: geometry.stride,
                  pad: geometry.pad, outWidth: geometry.outputShape.width, rows: geometry.gemmShape.k, vector: vector)
    }

    init(height: Int, width: Int, kernel: Int, stride: Int, pad: Int, outWidth: Int, rows: Int, vector: Bool) {
        (self.height, self.width, self.kernel, self.stride, self.pad, self.outWidth, self.rows, self.vector) =
            (height, width, kernel, stride, pad, outWidth, rows, vector)
    }

    /// Of quantized activations [C, H, W]: the zero point outside the input (the quantized 0, so padding adds exactly
    /// what fp32 zero padding does).
    func quantized(_ input: UnsafePointer<UInt8>, zeroPoint: UInt8) -> GEMMActivations<UInt8> {
        let s = self
        return .columns { col0, col1, block in
            cqk_u8_im2col(input, Int64(s.height), Int64(s.width), Int64(s.kernel), Int64(s.stride), Int64(s.pad), Int64(s.outWidth), zeroPoint,
                          s.vector ? 1 : 0, 0, Int64(s.rows), Int64(col0), Int64(col1), block, Int64(col1 - col0))
        }
    }

    /// Of fp32 activations [C, H, W]: 0 outside the input.
    func float(_ input: UnsafePointer<Float>) -> GEMMActivations<Float> {
        let s = self
        return .columns { col0, col1, block in
            cqk_f32_im2col(input, Int64(s.height), Int64(s.width), Int64(s.kernel), Int64(s.stride), Int64(s.pad), Int64(s.outWidth),
                           s.vector ? 1 : 0, 0, Int64(s.rows), Int64(col0), Int64(col1), block, Int64(col1 - col0))
        }
    }
}
