/// A loaded model family (Darknet, Ultralytics, …) seen by the `Detector`: how to prepare an image into
/// the network input and how to read candidate boxes off the network outputs.
public protocol DetectionModel: AnyObject {
    var names: [String] { get }
    /// IoU threshold used when the caller gives none (Darknet 0.45, Ultralytics 0.7).
    var defaultIoU: Float { get }
    /// False for end-to-end heads (YOLO26) whose candidates are already final.
    var usesNMS: Bool { get }
    /// A short description for listings ("Darknet yolov3-tiny.cfg, 416×416, 80 classes").
    var summary: String { get }
    /// Picks the network for this image (its input size may depend on the aspect ratio) and writes the
    /// image into the network's input.
    func preprocess(_ image: RGBImage) -> (Network, InputTransform)
    /// Candidate boxes (network-input pixels) scoring above `confidence`, read after `network.forward()`.
    func candidates(from network: Network, confidence: Float) -> [Detection]
}

/// Darknet cfg/weights model: stretch (or letterbox) resize, [yolo] head decoding.
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

    public func preprocess(_ image: RGBImage) -> (Network, InputTransform) {
        (network, model.letterbox ? Preprocess.darknetLetterbox(image, into: network.input) : Preprocess.stretch(image, into: network.input))
    }

    public func candidates(from network: Network, confidence: Float) -> [Detection] {
        zip(model.heads, network.outputs).flatMap { head, output in
            head.decode(output, threshold: confidence).map {
                Detection(classIndex: $0.classIndex, name: names[$0.classIndex], confidence: $0.confidence, box: $0.box)
            }
        }
    }
}

import Foundation

extension DarknetDetectionModel {
    /// Loads a cfg with weights beside it (same stem) and class names from `<stem>.names`, or `coco.names`
    /// beside it for 80-class models; other models without a names file get "class0", "class1", ….
    public static func load(cfgPath: String, weightsPath: String? = nil, inputSize: Int? = nil) throws -> DarknetDetectionModel {
        let model = try DarknetLoader.load(cfgPath: cfgPath, weightsPath: weightsPath, inputSize: inputSize)
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
