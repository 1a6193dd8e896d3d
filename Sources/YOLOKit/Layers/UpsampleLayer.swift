/// Nearest-neighbour upsampling by an integer factor: [C, H, W] → [C, H·f, W·f].
public final class UpsampleLayer: NetworkLayer {
    public let kind = "upsample"
    public let inputShape: TensorShape
    public let outputShape: TensorShape
    public let factor: Int
    public let scale: Float

    public init(inputShape: TensorShape, factor: Int, scale: Float = 1) {
        self.inputShape = inputShape
        self.factor = factor
        self.scale = scale
        outputShape = TensorShape(channels: inputShape.channels, height: inputShape.height * factor, width: inputShape.width * factor)
    }

    public func forward(_ inputs: [FeatureMap], into output: FeatureMap, context: ExecutionContext) {
        upsampleNearest(inputs[0].pointer, channels: inputShape.channels, height: inputShape.height, width: inputShape.width,
                        factor: factor, scale: scale, into: output.pointer, threads: context.threads)
    }
}
