import CQuantKernels

extension GEMMBackend {
    /// C[M×N] = alpha · A[M×K] · Bᵀ + beta · C with B stored N × K (row-major, ldb ≥ K). The backward passes need
    /// this product (dW = dY · colsᵀ, attention's v · attnᵀ); the `GEMMBackend` protocol has only A transposed, so
    /// B is transposed into a [K, N] scratch buffer (K·N floats, split over `threads`) and the backend's plain
    /// `sgemm` runs.
    func sgemmTransposingB(m: Int, n: Int, k: Int, alpha: Float,
                           a: UnsafePointer<Float>, lda: Int,
                           b: UnsafePointer<Float>, ldb: Int,
                           beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int, threads: Int = 1) {
        guard m > 0, n > 0 else { return }
        let transposed = UnsafeMutablePointer<Float>.allocate(capacity: max(1, k * n))
        defer { transposed.deallocate() }
        transposeMatrix(b, rows: n, columns: k, sourceStride: ldb, into: transposed, threads: threads)
        sgemm(m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: transposed, ldb: max(1, n), beta: beta, c: c, ldc: ldc)
    }
}

/// out[j, i] = source[i, j] for a [rows, columns] matrix with row stride `sourceStride`; out is [columns, rows],
/// dense. 8 × 8 register transposes (`cqk_transpose`); strips of rows are split over `threads` (each writes its
/// own columns of out) when the matrix is large.
func transposeMatrix(_ source: UnsafePointer<Float>, rows: Int, columns: Int, sourceStride: Int,
                     into out: UnsafeMutablePointer<Float>, threads: Int = 1) {
    let strip = 64
    let strips = (rows + strip - 1) / strip
    parallelChunks(strips, threads: rows * columns < 65_536 ? 1 : threads) { range in
        cqk_transpose(source, Int64(rows), Int64(columns), Int64(sourceStride), out,
                      Int64(range.lowerBound * strip), Int64(min(rows, range.upperBound * strip)))
    }
}
