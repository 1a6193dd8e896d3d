/// A batch of feature maps for training, channel-major: [batch, channels, height, width], one contiguous
/// row-major Float array (element (n, c, y, x) at ((n·C + c)·H + y)·W + x). A value type: kernels take tensors
/// and return new ones, so a forward's context can keep its inputs without anyone overwriting them.
public struct BatchTensor: Equatable, Sendable {
    public let batch: Int
    public let channels: Int
    public let height: Int
    public let width: Int
    public var values: [Float]

    public init(batch: Int, channels: Int, height: Int, width: Int, values: [Float]) {
        precondition(batch >= 0 && channels >= 0 && height >= 0 && width >= 0, "BatchTensor: negative dimension")
        precondition(values.count == batch * channels * height * width,
                     "BatchTensor: \(values.count) values for [\(batch), \(channels), \(height), \(width)]")
        self.batch = batch
        self.channels = channels
        self.height = height
        self.width = width
        self.values = values
    }

    /// All zeros.
    public init(zerosBatch batch: Int, channels: Int, height: Int, width: Int) {
        self.init(batch: batch, channels: channels, height: height, width: width,
                  values: [Float](repeating: 0, count: batch * channels * height * width))
    }

    /// Zeros of the same shape as `other`.
    public init(zerosLike other: BatchTensor) {
        self.init(zerosBatch: other.batch, channels: other.channels, height: other.height, width: other.width)
    }

    /// Values not initialized: for a kernel's output that it writes whole before anyone reads it (saves the
    /// zeroing pass, ~3 % of a training step).
    init(uninitializedBatch batch: Int, channels: Int, height: Int, width: Int) {
        let count = batch * channels * height * width
        self.init(batch: batch, channels: channels, height: height, width: width,
                  values: [Float](unsafeUninitializedCapacity: count) { _, initialized in initialized = count })
    }

    /// Uninitialized, of the same shape as `other` (see `init(uninitializedBatch:…)`).
    init(uninitializedLike other: BatchTensor) {
        self.init(uninitializedBatch: other.batch, channels: other.channels, height: other.height, width: other.width)
    }

    public var count: Int { values.count }
    /// H·W.
    public var planeSize: Int { height * width }
    /// C·H·W: one image.
    public var imageSize: Int { channels * height * width }
    public var shape: [Int] { [batch, channels, height, width] }

    /// Whether `other` has the same [N, C, H, W].
    public func hasShape(of other: BatchTensor) -> Bool { shape == other.shape }
}
