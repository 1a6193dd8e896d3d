import COpenBLAS

/// Single-precision matrix multiply, row-major: C[M×N] = alpha · A[M×K] · B[K×N] + beta · C.
/// Every convolution in the network is one call per group: weights[Cout, Cin·k·k] × columns[Cin·k·k, H·W].
public protocol GEMMBackend: Sendable {
    var name: String { get }
    func sgemm(m: Int, n: Int, k: Int, alpha: Float,
               a: UnsafePointer<Float>, lda: Int,
               b: UnsafePointer<Float>, ldb: Int,
               beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int)
}

/// OpenBLAS `cblas_sgemm` (no transposes). Thread count is process-wide: see `OpenBLAS.setThreads`.
public struct OpenBLASGEMM: GEMMBackend {
    public init() {}
    public var name: String { "blas" }

    public func sgemm(m: Int, n: Int, k: Int, alpha: Float,
                      a: UnsafePointer<Float>, lda: Int,
                      b: UnsafePointer<Float>, ldb: Int,
                      beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(m), Int32(n), Int32(k),
                    alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }
}

public enum OpenBLAS {
    /// Sets the number of threads OpenBLAS uses for every later GEMM in this process.
    public static func setThreads(_ n: Int) { openblas_set_num_threads(Int32(max(1, n))) }
    public static var threads: Int { Int(openblas_get_num_threads()) }
}
