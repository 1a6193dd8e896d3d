/// The shape of one feature map of a single image: channels × height × width (NCHW with N = 1).
public struct TensorShape: Equatable, Hashable, Sendable, CustomStringConvertible {
    public var channels: Int
    public var height: Int
    public var width: Int

    public init(channels: Int, height: Int, width: Int) {
        self.channels = channels
        self.height = height
        self.width = width
    }

    public var count: Int { channels * height * width }
    public var planeSize: Int { height * width }
    public var description: String { "\(channels)×\(height)×\(width)" }
}
