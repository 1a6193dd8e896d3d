import COpenBLAS

/// The thin singular value decomposition A[M×N] = U[M×p]·diag(σ)·Vᵀ[p×N] (p = min(M, N), σ descending), by
/// LAPACKE `sgesdd` (divide and conquer) on a row-major copy of A.
struct SingularValueDecomposition {
    let rows: Int, columns: Int
    /// U, row-major [rows × p].
    let u: [Float]
    /// σ, descending, [p].
    let sigma: [Float]
    /// Vᵀ, row-major [p × columns].
    let vt: [Float]
    var p: Int { sigma.count }

    /// `what` names the matrix in errors (the conv's weight tensor). `leadingDimension` is LAPACKE's lda (the row
    /// stride of A; `columns`, unless a test wants LAPACKE to reject it).
    init(_ a: [Float], rows: Int, columns: Int, what: String, leadingDimension: Int? = nil) throws {
        guard rows > 0, columns > 0, a.count == rows * columns else {
            throw CompressionError(reason: "\(what): a \(rows)×\(columns) matrix cannot hold \(a.count) values")
        }
        guard a.allSatisfy(\.isFinite) else { throw CompressionError(reason: "\(what): the weights hold NaN or infinity; no SVD") }
        let p = min(rows, columns)
        var work = a
        var s = [Float](repeating: 0, count: p), u = [Float](repeating: 0, count: rows * p), vt = [Float](repeating: 0, count: p * columns)
        guard cob_load_lapacke() == 0 else {
            throw CompressionError(reason: "\(what): no SVD: \(String(cString: cob_lapacke_error())); install it with `apt-get install liblapacke`")
        }
        let info = cob_sgesdd(Int8(UInt8(ascii: "S")), Int32(rows), Int32(columns), &work,
                              Int32(leadingDimension ?? columns), &s, &u, Int32(p), &vt, Int32(columns))
        try Self.check(info, what: what)
        self.rows = rows
        self.columns = columns
        self.u = u
        self.sigma = s
        self.vt = vt
    }

    /// LAPACKE's status as an error: < 0 an illegal argument (its position), > 0 no convergence.
    static func check(_ info: Int32, what: String) throws {
        if info < 0 { throw CompressionError(reason: "\(what): LAPACKE_sgesdd rejected argument \(-info) (info \(info))") }
        if info > 0 { throw CompressionError(reason: "\(what): LAPACKE_sgesdd did not converge (info \(info): \(info) superdiagonals did not reach zero)") }
    }

    /// Σ σᵢ² over i ≥ rank: the squared Frobenius norm of A − (its best rank-`rank` approximation).
    func discardedEnergy(rank: Int) -> Double { sigma[min(rank, p)...].reduce(0) { $0 + Double($1) * Double($1) } }

    /// The smallest rank keeping at least `fraction` of Σ σᵢ².
    func rank(keepingEnergy fraction: Double) -> Int {
        let total = sigma.reduce(0) { $0 + Double($1) * Double($1) }
        guard total > 0 else { return 1 }
        var kept = 0.0
        for (i, s) in sigma.enumerated() {
            kept += Double(s) * Double(s)
            if kept >= fraction * total { return i + 1 }
        }
        return p
    }

    /// A ≈ left·right with left = U_r·√σ_r [rows × r] and right = √σ_r·V_rᵀ [r × columns].
    func factors(rank r: Int) -> (left: [Float], right: [Float]) {
        var left = [Float](repeating: 0, count: rows * r), right = [Float](repeating: 0, count: r * columns)
        for j in 0..<r {
            let root = sigma[j].squareRoot()
            for i in 0..<rows { left[i * r + j] = u[i * p + j] * root }
            for c in 0..<columns { right[j * columns + c] = vt[j * columns + c] * root }
        }
        return (left, right)
    }
}
