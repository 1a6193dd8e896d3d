/// Max pooling for training with PyTorch's `nn.MaxPool2d` conventions (SPPF: kernel 5, stride 1, padding 2):
/// symmetric implicit −∞ padding, output side ⌊(H + 2·pad − k)/stride⌋ + 1, padding ≤ k/2. The forward records
/// the argmax of every window; ties go to the first maximum in scan order (rows top to bottom, each left to right),
/// as PyTorch's CPU kernel (`val > max` keeps the earlier one) — checked by the golden. A NaN wins its window, as
/// in PyTorch. Backward: dX[argmax] += dY (overlapping windows add up). Planes are split over `threads`.
public struct MaxPool2dTraining: Sendable, Equatable {
    public let kernel: Int
    public let stride: Int
    public let pad: Int

    public init(kernel: Int, stride: Int, pad: Int) {
        precondition(kernel > 0 && stride > 0, "MaxPool2dTraining: kernel and stride must be positive")
        precondition(pad >= 0 && pad <= kernel / 2, "MaxPool2dTraining: padding \(pad) must be in 0...kernel/2 (PyTorch's rule)")
        self.kernel = kernel
        self.stride = stride
        self.pad = pad
    }

    /// The winning input cell (y·W + x within its plane) of every output (N·C·outH·outW Int32), and the input's shape.
    public struct Context: Sendable {
        public let argmax: [Int32]
        public let inputShape: [Int]
    }

    public func outputSize(_ n: Int) -> Int { (n + 2 * pad - kernel) / stride + 1 }

    public func forward(_ x: BatchTensor, threads: Int = 1) -> (output: BatchTensor, context: Context) {
        let outH = outputSize(x.height), outW = outputSize(x.width)
        precondition(outH > 0 && outW > 0, "MaxPool2dTraining: a \(x.height)×\(x.width) input is smaller than the window")
        var y = BatchTensor(zerosBatch: x.batch, channels: x.channels, height: outH, width: outW)
        var argmax = [Int32](repeating: 0, count: y.count)
        let (k, s, p, h, w) = (kernel, stride, pad, x.height, x.width)
        let workers = y.count < 16_384 ? 1 : threads
        if y.count > 0 {
            x.values.withUnsafeBufferPointer { xs in
            y.values.withUnsafeMutableBufferPointer { ys in
            argmax.withUnsafeMutableBufferPointer { am in
                let (xp, yp, ap) = (xs.baseAddress!, ys.baseAddress!, am.baseAddress!)
                parallelChunks(x.batch * x.channels, threads: workers) { planes in
                    for plane in planes {
                        let src = xp + plane * h * w, dst = yp + plane * outH * outW, arg = ap + plane * outH * outW
                        for oy in 0..<outH {
                            let y0 = max(oy * s - p, 0), y1 = min(oy * s - p + k, h)
                            for ox in 0..<outW {
                                let x0 = max(ox * s - p, 0), x1 = min(ox * s - p + k, w)
                                var best = y0 * w + x0, bestValue = src[best]
                                for iy in y0..<y1 {
                                    for ix in x0..<x1 {
                                        let v = src[iy * w + ix]
                                        if v > bestValue || v.isNaN && !bestValue.isNaN { best = iy * w + ix; bestValue = v }
                                    }
                                }
                                dst[oy * outW + ox] = bestValue
                                arg[oy * outW + ox] = Int32(best)
                            }
                        }
                    }
                }
            }}}
        }
        return (y, Context(argmax: argmax, inputShape: x.shape))
    }

    /// dX [N, C, H, W] from dY [N, C, outH, outW].
    public func backward(_ dY: BatchTensor, context: Context, threads: Int = 1) -> BatchTensor {
        let shape = context.inputShape
        precondition(dY.count == context.argmax.count && dY.batch == shape[0] && dY.channels == shape[1],
                     "MaxPool2dTraining: gradient \(dY.shape) does not match the forward's output")
        var dX = BatchTensor(zerosBatch: shape[0], channels: shape[1], height: shape[2], width: shape[3])
        let inPlane = shape[2] * shape[3], outPlane = dY.planeSize
        guard dY.count > 0 else { return dX }
        dY.values.withUnsafeBufferPointer { dys in
        dX.values.withUnsafeMutableBufferPointer { dxs in
        context.argmax.withUnsafeBufferPointer { am in
            let (dyp, dxp, ap) = (dys.baseAddress!, dxs.baseAddress!, am.baseAddress!)
            parallelChunks(dY.batch * dY.channels, threads: dY.count < 16_384 ? 1 : threads) { planes in
                for plane in planes {
                    let dst = dxp + plane * inPlane, src = dyp + plane * outPlane, arg = ap + plane * outPlane
                    for i in 0..<outPlane { dst[Int(arg[i])] += src[i] }
                }
            }
        }}}
        return dX
    }
}
