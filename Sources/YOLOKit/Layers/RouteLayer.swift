/// Channel concatenation of several same-sized maps (Darknet [route], Ultralytics Concat). With
/// `groups` > 1 each input contributes only its channel slice `groupID` of `groups` (yolov4-tiny's split).
public final class RouteLayer: NetworkLayer {
    public let kind = "route"
    public let inputShapes: [TensorShape]
    public let outputShape: TensorShape
    public let groups: Int
    public let groupID: Int

    public init(inputShapes: [TensorShape], groups: Int = 1, groupID: Int = 0) {
        precondition(!inputShapes.isEmpty && groups >= 1 && (0..<groups).contains(groupID))
        self.inputShapes = inputShapes
        self.groups = groups
        self.groupID = groupID
        let first = inputShapes[0]
        outputShape = TensorShape(channels: inputShapes.reduce(0) { $0 + $1.channels / groups },
                                  height: first.height, width: first.width)
    }

    public func forward(_ inputs: [FeatureMap], into output: FeatureMap, context: ExecutionContext) {
        var dst = output.pointer
        for input in inputs {
            let sliceCount = input.shape.count / groups  // contiguous: channels are the outer dimension
            dst.update(from: input.pointer + groupID * sliceCount, count: sliceCount)
            dst += sliceCount
        }
    }
}
