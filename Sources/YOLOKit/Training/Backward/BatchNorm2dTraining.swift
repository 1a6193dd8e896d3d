import Foundation

/// BatchNorm2d for training, PyTorch semantics with Ultralytics' constants (eps 1e-3, momentum 0.03, set by
/// `initialize_weights`). Per channel c over the M = N·H·W values of the batch:
///   training  μ = mean(x), σ² = mean((x − μ)²) (biased), x̂ = (x − μ)/√(σ² + eps), y = γ·x̂ + β;
///             running_mean = (1 − momentum)·running_mean + momentum·μ,
///             running_var  = (1 − momentum)·running_var  + momentum·σ²·M/(M − 1)   (the UNBIASED variance);
///             dβ = Σ dy, dγ = Σ dy·x̂, dx = γ/√(σ² + eps) · (dy − dβ/M − x̂·dγ/M).
///   eval      (frozen layers) the running statistics instead of the batch's: y = γ·(x − μ_run)/√(σ²_run + eps) + β,
///             dx = dy·γ/√(σ²_run + eps); nothing is updated.
/// Sums run in Double, 8 lanes at a time. Channels are split over `threads`.
public struct BatchNorm2dTraining: Sendable, Equatable {
    public let channels: Int
    public let epsilon: Float
    public let momentum: Float

    public init(channels: Int, epsilon: Float = 1e-3, momentum: Float = 0.03) {
        precondition(channels > 0, "BatchNorm2dTraining: channels must be positive")
        self.channels = channels
        self.epsilon = epsilon
        self.momentum = momentum
    }

    /// running_mean and running_var, [C] each.
    public struct RunningStatistics: Sendable, Equatable {
        public var mean: [Float]
        public var variance: [Float]
        public init(mean: [Float], variance: [Float]) { self.mean = mean; self.variance = variance }
        /// PyTorch's initial state: mean 0, variance 1.
        public init(channels: Int) { self.init(mean: [Float](repeating: 0, count: channels), variance: [Float](repeating: 1, count: channels)) }
    }

    /// Kept for the training backward: x̂ (N·C·H·W floats) and 1/√(σ² + eps) per channel (C floats).
    public struct Context: Sendable {
        public let normalized: BatchTensor
        public let inverseStd: [Float]
    }

    public struct Gradients: Sendable {
        public var input: BatchTensor
        public var gamma: [Float]
        public var beta: [Float]
    }

    private func check(_ x: BatchTensor, gamma: [Float], beta: [Float]) {
        precondition(x.channels == channels, "BatchNorm2dTraining: input has \(x.channels) channels, expected \(channels)")
        precondition(gamma.count == channels && beta.count == channels, "BatchNorm2dTraining: γ/β of \(gamma.count)/\(beta.count) for \(channels) channels")
    }

    /// Training mode: normalises with the batch statistics and returns the updated running statistics.
    public func forwardTraining(_ x: BatchTensor, gamma: [Float], beta: [Float], running: RunningStatistics, threads: Int = 1)
        -> (output: BatchTensor, running: RunningStatistics, context: Context) {
        check(x, gamma: gamma, beta: beta)
        precondition(running.mean.count == channels && running.variance.count == channels, "BatchNorm2dTraining: running statistics of the wrong size")
        let count = x.batch * x.planeSize
        precondition(count > 1, "BatchNorm2dTraining: training needs more than one value per channel (got N·H·W = \(count))")
        let plane = x.planeSize, image = x.imageSize
        var y = BatchTensor(uninitializedLike: x), normalized = BatchTensor(uninitializedLike: x)
        var inverseStd = [Float](repeating: 0, count: channels)
        var updated = running
        let keep = 1 - momentum
        x.values.withUnsafeBufferPointer { xs in
        y.values.withUnsafeMutableBufferPointer { ys in
        normalized.values.withUnsafeMutableBufferPointer { hs in
        inverseStd.withUnsafeMutableBufferPointer { invs in
        updated.mean.withUnsafeMutableBufferPointer { rm in
        updated.variance.withUnsafeMutableBufferPointer { rv in
            let (xp, yp, hp, ip, rmp, rvp) = (xs.baseAddress!, ys.baseAddress!, hs.baseAddress!, invs.baseAddress!, rm.baseAddress!, rv.baseAddress!)
            parallelChunks(channels, threads: x.count < 32_768 ? 1 : threads) { range in
                for c in range {
                    var sum = 0.0
                    for n in 0..<x.batch { sum += Self.sum(xp + n * image + c * plane, count: plane) }
                    let mean = sum / Double(count)
                    var squares = 0.0
                    for n in 0..<x.batch { squares += Self.squaredDeviations(xp + n * image + c * plane, count: plane, from: mean) }
                    let variance = squares / Double(count)
                    let inv = Float(1 / (variance + Double(epsilon)).squareRoot())
                    ip[c] = inv
                    let m = Float(mean), g = gamma[c], b = beta[c]
                    for n in 0..<x.batch {
                        let offset = n * image + c * plane
                        for i in 0..<plane {
                            let h = (xp[offset + i] - m) * inv
                            hp[offset + i] = h
                            yp[offset + i] = g * h + b
                        }
                    }
                    rmp[c] = keep * rmp[c] + momentum * m
                    rvp[c] = keep * rvp[c] + momentum * Float(variance * Double(count) / Double(count - 1))
                }
            }
        }}}}}}
        return (y, updated, Context(normalized: normalized, inverseStd: inverseStd))
    }

    /// Training-mode backward: dX, dγ, dβ from dY and the forward's context.
    public func backwardTraining(_ dY: BatchTensor, context: Context, gamma: [Float], threads: Int = 1) -> Gradients {
        let h = context.normalized
        precondition(dY.hasShape(of: h), "BatchNorm2dTraining: gradient of shape \(dY.shape), input was \(h.shape)")
        precondition(gamma.count == channels, "BatchNorm2dTraining: γ of \(gamma.count) for \(channels) channels")
        let plane = h.planeSize, image = h.imageSize, count = h.batch * plane
        var dX = BatchTensor(uninitializedLike: h)
        var dGamma = [Float](repeating: 0, count: channels), dBeta = [Float](repeating: 0, count: channels)
        h.values.withUnsafeBufferPointer { hs in
        dY.values.withUnsafeBufferPointer { dys in
        dX.values.withUnsafeMutableBufferPointer { dxs in
        dGamma.withUnsafeMutableBufferPointer { dgs in
        dBeta.withUnsafeMutableBufferPointer { dbs in
            let (hp, dyp, dxp, dgp, dbp) = (hs.baseAddress!, dys.baseAddress!, dxs.baseAddress!, dgs.baseAddress!, dbs.baseAddress!)
            parallelChunks(channels, threads: h.count < 32_768 ? 1 : threads) { range in
                for c in range {
                    var sumDy = 0.0, sumDyH = 0.0
                    for n in 0..<h.batch {
                        let offset = n * image + c * plane
                        let sums = Self.sums(dyp + offset, times: hp + offset, count: plane)
                        sumDy += sums.plain
                        sumDyH += sums.weighted
                    }
                    dgp[c] = Float(sumDyH)
                    dbp[c] = Float(sumDy)
                    let scale = gamma[c] * context.inverseStd[c]
                    let meanDy = Float(sumDy / Double(count)), meanDyH = Float(sumDyH / Double(count))
                    for n in 0..<h.batch {
                        let offset = n * image + c * plane
                        for i in 0..<plane { dxp[offset + i] = scale * (dyp[offset + i] - meanDy - hp[offset + i] * meanDyH) }
                    }
                }
            }
        }}}}}
        return Gradients(input: dX, gamma: dGamma, beta: dBeta)
    }

    /// 8 floats widened to Double, as two 4-lane vectors.
    @inline(__always)
    static func widened(_ p: UnsafePointer<Float>) -> (SIMD4<Double>, SIMD4<Double>) {
        (SIMD4(Double(p[0]), Double(p[1]), Double(p[2]), Double(p[3])), SIMD4(Double(p[4]), Double(p[5]), Double(p[6]), Double(p[7])))
    }

    /// Σ p[i], i < count, in Double over 8 lanes (independent chains: it vectorizes; the order differs from a
    /// sequential sum by Double rounding only).
    @inline(__always)
    static func sum(_ p: UnsafePointer<Float>, count: Int) -> Double {
        var low = SIMD4<Double>(repeating: 0), high = SIMD4<Double>(repeating: 0), i = 0
        while i + 8 <= count { let (a, b) = widened(p + i); low += a; high += b; i += 8 }
        var total = (low + high).sum()
        while i < count { total += Double(p[i]); i += 1 }
        return total
    }

    /// Σ (p[i] − mean)², in Double as `sum`.
    @inline(__always)
    static func squaredDeviations(_ p: UnsafePointer<Float>, count: Int, from mean: Double) -> Double {
        let m = SIMD4<Double>(repeating: mean)
        var low = SIMD4<Double>(repeating: 0), high = SIMD4<Double>(repeating: 0), i = 0
        while i + 8 <= count {
            let (a, b) = widened(p + i)
            let (da, db) = (a - m, b - m)
            low += da * da; high += db * db
            i += 8
        }
        var total = (low + high).sum()
        while i < count { let d = Double(p[i]) - mean; total += d * d; i += 1 }
        return total
    }

    /// (Σ dy[i], Σ dy[i]·h[i]), in Double as `sum` (these sums cancel: float partial sums would not do).
    @inline(__always)
    static func sums(_ dy: UnsafePointer<Float>, times h: UnsafePointer<Float>, count: Int) -> (plain: Double, weighted: Double) {
        var low = SIMD4<Double>(repeating: 0), high = SIMD4<Double>(repeating: 0)
        var weightedLow = SIMD4<Double>(repeating: 0), weightedHigh = SIMD4<Double>(repeating: 0), i = 0
        while i + 8 <= count {
            let (a, b) = widened(dy + i), (ha, hb) = widened(h + i)
            low += a; high += b
            weightedLow += a * ha; weightedHigh += b * hb
            i += 8
        }
        var plain = (low + high).sum(), weighted = (weightedLow + weightedHigh).sum()
        while i < count { plain += Double(dy[i]); weighted += Double(dy[i]) * Double(h[i]); i += 1 }
        return (plain, weighted)
    }

    /// Eval mode (a frozen layer): normalises with the running statistics; keeps nothing (the backward needs only γ
    /// and the running variance).
    public func forwardEval(_ x: BatchTensor, gamma: [Float], beta: [Float], running: RunningStatistics) -> BatchTensor {
        check(x, gamma: gamma, beta: beta)
        var y = x
        let plane = x.planeSize
        for n in 0..<x.batch {
            for c in 0..<channels {
                let scale = gamma[c] / (running.variance[c] + epsilon).squareRoot()
                let shift = beta[c] - running.mean[c] * scale
                let offset = (n * channels + c) * plane
                for i in 0..<plane { y.values[offset + i] = x.values[offset + i] * scale + shift }
            }
        }
        return y
    }

    /// Eval-mode backward: dX = dY·γ/√(σ²_run + eps).
    public func backwardEval(_ dY: BatchTensor, gamma: [Float], running: RunningStatistics) -> BatchTensor {
        precondition(dY.channels == channels && gamma.count == channels, "BatchNorm2dTraining: gradient of \(dY.channels) channels, expected \(channels)")
        var dX = dY
        let plane = dY.planeSize
        for n in 0..<dY.batch {
            for c in 0..<channels {
                let scale = gamma[c] / (running.variance[c] + epsilon).squareRoot()
                let offset = (n * channels + c) * plane
                for i in 0..<plane { dX.values[offset + i] *= scale }
            }
        }
        return dX
    }
}
