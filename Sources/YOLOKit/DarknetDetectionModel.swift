import Foundation

/// Darknet cfg/weights model: one network at the cfg's (or the caller's) input size, stretch or letterbox resize
/// as the cfg says, [yolo] heads.
public final class DarknetDetectionModel: DetectionModel {
    public let model: DarknetModel
    public let names: [String]
    public var network: Network { model.network }
    public var defaultIoU: Float { 0.45 }
    public var usesNMS: Bool { true }

    /// How to read the unfused weights again (info and export need them; the network holds them folded).
    let reloadWeights: () throws -> DarknetWeights
    /// The cfg the network was built from.
    public var config: DarknetConfig { model.config }

    /// Shares layer-output memory in `model.network` (`Network.shareBuffers`): only the heads' outputs stay readable.
    /// `reloadWeights`: nil reads `model.weightsPath` again.
    public init(_ model: DarknetModel, names: [String], reloadWeights: (() throws -> DarknetWeights)? = nil) {
        self.model = model
        self.names = names
        let weightsPath = model.weightsPath
        self.reloadWeights = reloadWeights ?? { try DarknetWeights(path: weightsPath) }
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
    /// The layers of the cfg at the network's input size (`imageSize` is the size it was loaded at; another size
    /// needs a reload). Parameters are the cfg's unfused trainable values: conv weights and biases, plus the BatchNorm
    /// scales of `batch_normalize=1` layers (their rolling mean and variance are statistics, as Ultralytics leaves
    /// buffers out). GFLOPs: 2 × the convolutions' multiply-accumulates, as Darknet prints BFLOPs.
    /// (Export: DarknetExport.swift.)
    public func info(imageSize: Int?) throws -> ModelInfo {
        let sections = config.sections.filter { $0.name != "net" && $0.name != "network" }
        let nodes = network.nodes
        var rows: [ModelInfo.Layer] = []
        var total = 0, macs = 0
        for (i, node) in nodes.enumerated() {
            let section = sections.count == nodes.count ? sections[i] : nil
            var params = node.layer.parameterCount
            var args: [String] = []
            if let section {
                for key in ["filters", "size", "stride", "layers", "from", "activation", "mask"] {
                    if let v = section.options[key]?.value { args.append("\(key)=\(v)") }
                }
                if section.name.hasPrefix("conv"), section.options["batch_normalize"]?.value == "1" {
                    params += node.layer.outputShape.channels
                    args.append("bn")
                }
            }
            total += params
            macs += node.layer.macs
            let s = node.layer.outputShape
            rows.append(ModelInfo.Layer(index: i, from: node.inputs.map { $0 == i - 1 ? -1 : $0 }, kind: section?.name ?? node.layer.kind,
                                        arguments: args.joined(separator: ", "), parameters: params,
                                        outputShape: [s.channels, s.height, s.width], gflops: ModelInfo.gflops(macs: node.layer.macs)))
        }
        var metadata: [(key: String, value: String)] = [("cfg", model.configPath), ("weights", model.weightsPath)]
        if let w = try? reloadWeights() {  // the .weights file, or the stream an exported .safetensors stands for
            metadata += [("version", "\(w.major).\(w.minor).\(w.revision)"), ("seen", "\(w.seen)")]
        }
        let s = network.inputShape
        return ModelInfo(family: "Darknet", file: model.configPath, task: "detect", inputShape: [3, s.height, s.width],
                         layers: rows, parameters: total, gflops: ModelInfo.gflops(macs: macs), names: names,
                         strides: model.heads.map { s.height / max(1, $0.outputShape.height) }, metadata: metadata,
                         notes: ["parameters: conv weights + biases + BatchNorm scales of the cfg (rolling mean/variance not counted)",
                                 "GFLOPs: 2 × convolution multiply-accumulates at \(s.width)×\(s.height), as Darknet's BFLOPs"])
    }

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
