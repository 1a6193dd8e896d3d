/// Nearest-neighbour upsampling by an integer factor (`nn.Upsample(scale_factor=2, mode="nearest")` in the neck):
/// y[n, c, y, x] = x[n, c, ⌊y/f⌋, ⌊x/f⌋]. Backward: each input cell receives the sum of dY over its f×f block.
/// Keeps nothing. Planes are split over `threads`.
public struct NearestUpsampleTraining: Sendable, Equatable {
    public let factor: Int

    public init(factor: Int) {
        precondition(factor > 0, "NearestUpsampleTraining: factor must be positive")
        self.factor = factor
    }

    public func forward(_ x: BatchTensor, threads: Int = 1) -> BatchTensor {
        let f = factor, outW = x.width * f, outPlane = x.planeSize * f * f
        var y = BatchTensor(zerosBatch: x.batch, channels: x.channels, height: x.height * f, width: outW)
        guard y.count > 0 else { return y }
        let workers = y.count < 65_536 ? 1 : threads
        x.values.withUnsafeBufferPointer { xs in
            y.values.withUnsafeMutableBufferPointer { ys in
                let (xp, yp) = (xs.baseAddress!, ys.baseAddress!)
                parallelChunks(x.batch * x.channels, threads: workers) { planes in
                    for p in planes {
                        let src = xp + p * x.planeSize, dst = yp + p * outPlane
                        for oy in 0..<(x.height * f) {
                            let row = src + (oy / f) * x.width, out = dst + oy * outW
                            for ox in 0..<outW { out[ox] = row[ox / f] }
                        }
                    }
                }
            }
        }
        return y
    }

    /// dX [N, C, H, W] from dY [N, C, H·f, W·f].
    public func backward(_ dY: BatchTensor, threads: Int = 1) -> BatchTensor {
        let f = factor
        precondition(dY.height % f == 0 && dY.width % f == 0, "NearestUpsampleTraining: gradient \(dY.shape) is not a multiple of \(f)")
        let h = dY.height / f, w = dY.width / f
        var dX = BatchTensor(zerosBatch: dY.batch, channels: dY.channels, height: h, width: w)
        guard dX.count > 0 else { return dX }
        dY.values.withUnsafeBufferPointer { dys in
            dX.values.withUnsafeMutableBufferPointer { dxs in
                let (dyp, dxp) = (dys.baseAddress!, dxs.baseAddress!)
                parallelChunks(dY.batch * dY.channels, threads: dY.count < 65_536 ? 1 : threads) { planes in
                    for p in planes {
                        let src = dyp + p * dY.planeSize, dst = dxp + p * h * w
                        for oy in 0..<dY.height {
                            let row = src + oy * dY.width, out = dst + (oy / f) * w
                            for ox in 0..<dY.width { out[ox / f] += row[ox] }
                        }
                    }
                }
            }
        }
        return dX
    }
}
