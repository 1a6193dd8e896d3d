/// Max pooling, Darknet semantics (see `maxPool`): out = (in + pad − size) / stride + 1.
public final class MaxPoolLayer: NetworkLayer {
    public let kind = "maxpool"
    public let inputShape: TensorShape
    public let outputShape: TensorShape
    public let size: Int
    public let stride: Int
    public let pad: Int  // total padding; the window is shifted by −pad/2

    public init(inputShape: TensorShape, size: Int, stride: Int, pad: Int) {
        self.inputShape = inputShape
        self.size = size
        self.stride = stride
        self.pad = pad
        outputShape = TensorShape(channels: inputShape.channels,
                                  height: (inputShape.height + pad - size) / stride + 1,
                                  width: (inputShape.width + pad - size) / stride + 1)
    }

    public func forward(_ inputs: [FeatureMap], into output: FeatureMap, context: ExecutionContext) {
        maxPool(inputs[0].pointer, channels: inputShape.channels, height: inputShape.height, width: inputShape.width,
                size: size, stride: stride, pad: pad, outHeight: outputShape.height, outWidth: outputShape.width,
                into: output.pointer, threads: context.threads)
    }
}
