/// dst[i] = sigmoid(src[i]) for i in 0..<count, 16 lanes at a time (`VectorMath.sigmoid`).
func sigmoidRow(_ src: UnsafePointer<Float>, into dst: UnsafeMutablePointer<Float>, count: Int) {
    var i = 0
    while i + 16 <= count {
        storeV(VectorMath.sigmoid(loadV(src + i)), dst + i)
        i += 16
    }
    if i < count {
        var v = SIMD16<Float>()
        for j in 0..<(count - i) { v[j] = src[i + j] }
        v = VectorMath.sigmoid(v)
        for j in 0..<(count - i) { dst[i + j] = v[j] }
    }
}

/// Distribution Focal Loss decode (Ultralytics DFL): for every cell, the expectation Σ_b b · softmax(bins)_b of
/// its `bins` logits, read as logits[b · plane + cell]; written to out[cell]. Max-subtracted softmax as PyTorch;
/// 16 cells at a time.
func softmaxExpectation(_ logits: UnsafePointer<Float>, bins: Int, plane: Int, into out: UnsafeMutablePointer<Float>) {
    var cell = 0
    while cell < plane {
        let lanes = min(16, plane - cell)
        @inline(__always) func load(_ b: Int) -> SIMD16<Float> {
            let p = logits + b * plane + cell
            if lanes == 16 { return loadV(p) }
            var v = SIMD16<Float>()
            for j in 0..<lanes { v[j] = p[j] }
            return v
        }
        var m = load(0)
        for b in 1..<max(bins, 1) { m = vmax(m, load(b)) }
        var sum = SIMD16<Float>(), weighted = SIMD16<Float>()
        for b in 0..<bins {
            let e = VectorMath.exp(load(b) - m)
            sum += e
            weighted.addProduct(SIMD16(repeating: Float(b)), e)
        }
        let d = weighted / sum
        if lanes == 16 { storeV(d, out + cell) } else { for j in 0..<lanes { out[cell + j] = d[j] } }
        cell += 16
    }
}
