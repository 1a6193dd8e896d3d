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
/// dense. Blocked 16 × 16 so both sides stay in cache; blocks of rows are split over `threads` (each writes its
/// own columns of out) when the matrix is large.
func transposeMatrix(_ source: UnsafePointer<Float>, rows: Int, columns: Int, sourceStride: Int,
                     into out: UnsafeMutablePointer<Float>, threads: Int = 1) {
    let block = 16
    let rowBlocks = (rows + block - 1) / block
    parallelChunks(rowBlocks, threads: rows * columns < 65_536 ? 1 : threads) { blocks in
        for rowBlock in blocks {
            let i0 = rowBlock * block, i1 = min(i0 + block, rows)
            var j0 = 0
            while j0 < columns {
                let j1 = min(j0 + block, columns)
                for i in i0..<i1 {
                    let row = source + i * sourceStride
                    for j in j0..<j1 { out[j * rows + i] = row[j] }
                }
                j0 = j1
            }
        }
    }
}
