import Foundation

/// Darknet cfg/weights model: one network at the cfg's (or the caller's) input size, stretch or letterbox resize
/// as the cfg says, [yolo] heads.
public final class DarknetDetectionModel: DetectionModel {
    public let model: DarknetModel
    public let names: [String]
    public var network: Network { model.network }
    public var defaultIoU: Float { 0.45 }
    public var usesNMS: Bool { true }

    /// Shares layer-output memory in `model.network` (`Network.shareBuffers`): only the heads' outputs stay readable.
    public init(_ model: DarknetModel, names: [String]) {
        self.model = model
        self.names = names
        model.network.shareBuffers()
    }

    public var summary: String {
        let s = network.inputShape
        return "Darknet \((model.configPath as NSString).lastPathComponent), \(s.width)×\(s.height), \(names.count) classes"
    }

    public var fileDefaults: [(key: String, value: String)] {
        [("imgsz", "\(network.inputShape.width)×\(network.inputShape.height)"), ("task", "detect")]
    }

    public func inputShape(imageWidth: Int, imageHeight: Int) -> TensorShape { network.inputShape }

    public func placeImage(_ image: RGBImage, into input: FeatureMap) -> InputTransform {
        model.letterbox ? Preprocess.darknetLetterbox(image, into: input) : Preprocess.stretch(image, into: input)
    }

    public func network(for shape: TensorShape) -> Network {
        precondition(shape == network.inputShape, "DarknetDetectionModel: the network runs \(network.inputShape) inputs, not \(shape)")
        return network
    }
}

extension DarknetDetectionModel {
    /// Loads a cfg with weights beside it (same stem) and class names from `<stem>.names`, or `coco.names`
    /// beside it for 80-class models; other models without a names file get "class0", "class1", ….
    public static func load(cfgPath: String, weightsPath: String? = nil, inputSize: Int? = nil,
                            options: ExecutionOptions = ExecutionOptions()) throws -> DarknetDetectionModel {
        let model = try DarknetLoader.load(cfgPath: cfgPath, weightsPath: weightsPath, inputSize: inputSize, options: options)
        let classes = model.heads[0].classes
        let folder = (cfgPath as NSString).deletingLastPathComponent
        let stem = ((cfgPath as NSString).lastPathComponent as NSString).deletingPathExtension
        var candidates = [(folder as NSString).appendingPathComponent(stem + ".names")]
        if classes == 80 { candidates.append((folder as NSString).appendingPathComponent("coco.names")) }
        var names = (0..<classes).map { "class\($0)" }
        if let path = candidates.first(where: { FileManager.default.fileExists(atPath: $0) }) {
            let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
            let lines = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            guard lines.count == classes else {
                throw ModelLoadError(path: path, reason: "has \(lines.count) class names but the model has \(classes) classes")
            }
            names = lines
        }
        return DarknetDetectionModel(model, names: names)
    }
}
