/// The shapes of one 2-D convolution, in one place for the layer, the GEMM planning and the loaders:
/// input [C, H, W] → output [filters, outH, outW]; per group g the GEMM is
/// output_g[M = filters/groups, N = outH·outW] = weights_g[M, K = C/groups·k·k] × im2col(input_g)[K, N].
public struct ConvolutionGeometry: Sendable, Equatable {
    public let inputShape: TensorShape
    public let outputShape: TensorShape
    public let size: Int
    public let stride: Int
    public let pad: Int
    public let groups: Int

    public init(inputShape: TensorShape, filters: Int, size: Int, stride: Int, pad: Int, groups: Int) {
        self.inputShape = inputShape
        self.size = size
        self.stride = stride
        self.pad = pad
        self.groups = groups
        outputShape = TensorShape(channels: filters,
                                  height: Self.outputSize(inputShape.height, size: size, stride: stride, pad: pad),
                                  width: Self.outputSize(inputShape.width, size: size, stride: stride, pad: pad))
    }

    /// Output side for an input side `n` (floor, as Darknet, OpenCV and PyTorch).
    public static func outputSize(_ n: Int, size: Int, stride: Int, pad: Int) -> Int { (n + 2 * pad - size) / stride + 1 }

    public var filters: Int { outputShape.channels }
    /// Input channels one group reads.
    public var groupInputChannels: Int { inputShape.channels / groups }
    /// A 1×1 stride-1 unpadded conv reads its input directly as the GEMM's B matrix.
    public var needsIm2col: Bool { !(size == 1 && stride == 1 && pad == 0) }
    /// The GEMM of one group: M = filters/groups, N = outH·outW, K = C/groups·k·k.
    public var gemmShape: (m: Int, n: Int, k: Int) { (filters / groups, outputShape.planeSize, groupInputChannels * size * size) }
    /// Weights [filters, C/groups·k·k].
    public var weightCount: Int { filters * groupInputChannels * size * size }
    public var macs: Int { weightCount * outputShape.planeSize }

    /// Scratch floats a forward pass needs: one group's im2col matrix [K, N] (0 for a 1×1 conv), or the Winograd
    /// batch buffers when the conv runs as Winograd.
    public func workspaceSize(winograd: WinogradTile?) -> Int {
        if let tile = winograd { return Winograd.workspaceSize(tile, inputShape: inputShape, outputShape: outputShape) }
        let (_, n, k) = gemmShape
        return needsIm2col ? k * n : 0
    }

    /// Weight and im2col floats computed with overflow checks, for loaders validating untrusted sizes before
    /// anything is allocated (nil: a product overflows `Int`).
    public static func checkedCounts(inputShape: TensorShape, filters: Int, size: Int, stride: Int, pad: Int, groups: Int)
        -> (weights: Int, columns: Int)? {
        let outH = outputSize(inputShape.height, size: size, stride: stride, pad: pad)
        let outW = outputSize(inputShape.width, size: size, stride: stride, pad: pad)
        guard groups > 0, let weights = NetworkBudget.product(filters, inputShape.channels / groups, size, size),
              let columns = NetworkBudget.product(inputShape.channels / groups, size, size, outH, outW),
              NetworkBudget.product(weights, outH, outW) != nil else { return nil }
        let needsIm2col = !(size == 1 && stride == 1 && pad == 0)
        return (weights, needsIm2col ? columns : 0)
    }
}
