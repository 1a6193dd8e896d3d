/// Element-wise sum of two same-shaped maps followed by an activation (Darknet [shortcut]).
public final class ShortcutLayer: NetworkLayer {
    public let kind = "shortcut"
    public let outputShape: TensorShape
    public let activation: Activation

    public init(shape: TensorShape, activation: Activation) {
        outputShape = shape
        self.activation = activation
    }

    public func forward(_ inputs: [FeatureMap], into output: FeatureMap, context: ExecutionContext) {
        let a = inputs[0].pointer, b = inputs[1].pointer, out = output.pointer
        for i in 0..<outputShape.count { out[i] = a[i] + b[i] }
        activation.applyWithBias(out, bias: nil, channels: outputShape.channels, plane: outputShape.planeSize, threads: context.threads)
    }
}
