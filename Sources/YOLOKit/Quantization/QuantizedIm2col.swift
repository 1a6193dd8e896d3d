import CQuantKernels

/// The uint8 twin of `im2col`: unfolds quantized activations [C, H, W] into the int8 GEMM's X [C·k·k, outH·outW]
/// (row r = (c·k + ky)·k + kx holds q[c, oy·stride − pad + ky, ox·stride − pad + kx]). Outside the input it writes
/// the zero point: it is the quantized 0, so padding contributes exactly what fp32 zero padding does. The rows are
/// copied by `cqk_u8_im2col` (AVX512BW masked loads for stride 1 where the CPU has them, the same bytes otherwise).
func quantizedIm2col(_ input: UnsafePointer<UInt8>, channels: Int, height: Int, width: Int,
                     kernel: Int, stride: Int, pad: Int, outHeight: Int, outWidth: Int, zeroPoint: UInt8,
                     into columns: UnsafeMutablePointer<UInt8>, threads: Int, vector: Bool = CPUFeatures.current.contains(.avx512bw)) {
    let outPlane = outHeight * outWidth, rows = channels * kernel * kernel
    let workers = rows * outPlane < 1 << 20 ? 1 : threads  // bytes copied; below ~1 MB one thread is faster
    parallelChunks(rows, threads: workers) { range in
        cqk_u8_im2col(input, Int64(height), Int64(width), Int64(kernel), Int64(stride), Int64(pad), Int64(outHeight), Int64(outWidth),
                      zeroPoint, vector ? 1 : 0, Int64(range.lowerBound), Int64(range.upperBound), columns)
    }
}
