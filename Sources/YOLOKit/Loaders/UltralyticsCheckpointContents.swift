import Foundation

/// What an Ultralytics detection checkpoint holds, read from its unpickled module tree without building anything:
/// the `DetectionModel.model` layers, class names, strides, the Detect head's form, and the training settings
/// Ultralytics keeps as the model's defaults (`Model._reset_ckpt_args`: imgsz, data, task, single_cls).
struct UltralyticsCheckpointContents {
    let layers: [TorchModule]  // DetectionModel.model children, in order
    /// The DetectionModel module itself (its `model` child holds `layers`).
    let detectionModel: TorchModule
    let names: [String]
    let strides: [Int]
    let regMax: Int
    /// YOLO26's one-to-one (NMS-free) branch, and the one-to-many branch beside it.
    let hasOneToOneHead: Bool
    let hasOneToManyHead: Bool
    /// The kept training settings, by Ultralytics' names, values as text.
    let trainArguments: [(key: String, value: String)]
    /// `imgsz` of the training run: what `YOLO(checkpoint).predict` uses when not told (the largest side of a pair).
    let trainingImageSize: Int?

    static let keptTrainArguments = ["imgsz", "data", "task", "single_cls"]

    init(_ checkpoint: TorchCheckpoint, limits: ModelLimits) throws {
        try self.init(root: checkpoint.root, tensors: checkpoint, limits: limits)
    }

    /// `root`: the checkpoint's top-level dict (for an exported file, the one rebuilt from its metadata).
    init(root: PickleValue, tensors checkpoint: any TorchTensorSource, limits: ModelLimits) throws {
        let path = checkpoint.path
        let fail = { (reason: String) in ModelLoadError(path: path, reason: reason) }
        // The model lives under "model" (released/stripped checkpoints) or "ema" (training checkpoints).
        let candidates = ["model", "ema"].compactMap { key -> PickleObject? in
            if case .object(let o)? = root.value(forKey: key) { return o }
            return nil
        }
        guard let object = candidates.first else {
            throw fail("not an Ultralytics checkpoint: no 'model' or 'ema' module in the top-level dict")
        }
        let model = try TorchModule(object, path: path)
        guard model.className == "DetectionModel" else {
            throw fail("unsupported task model \(model.typeName) (only DetectionModel — object detection — is supported)")
        }
        guard let sequential = model.child("model") else { throw fail("DetectionModel has no 'model' Sequential") }
        detectionModel = model
        layers = sequential.children.map(\.module)
        guard let head = layers.last, head.className == "Detect" else {
            throw fail("the last layer is \(layers.last?.typeName ?? "missing"), expected an ultralytics Detect head")
        }
        // Class names: DetectionModel.names ({index: name}); else "class0", ….
        let nc = try head.int("nc")
        guard (1...limits.maxDimension).contains(nc) else { throw fail("Detect head: nc (number of classes) is \(nc), outside 1...\(limits.maxDimension)") }
        var names = (0..<nc).map { "class\($0)" }
        if case .dict(let pairs)? = model.attributes["names"] {
            for (k, v) in pairs { if let i = k.intValue, (0..<nc).contains(i), let s = v.stringValue { names[i] = s } }
        } else if case .list(let items)? = model.attributes["names"], items.count == nc {
            names = items.map { $0.stringValue ?? "" }
        }
        self.names = names
        guard case .tensor(let strideTensor)? = head.attributes["stride"] else { throw fail("Detect head has no stride tensor") }
        let strideValues = try checkpoint.floats(strideTensor)
        guard !strideValues.isEmpty, strideValues.allSatisfy({ $0.isFinite && $0 >= 1 && $0 <= Float(limits.maxDimension) }) else {
            throw fail("Detect head: strides \(strideValues.prefix(8)) must be numbers in 1...\(limits.maxDimension)")
        }
        strides = strideValues.map { Int($0.rounded()) }
        // The letterbox pads each image to a multiple of 32 (Preprocess.ultralyticsLetterbox's stride), so a head
        // whose largest stride is not 32 (P6 models: 64) would get inputs its levels cannot divide.
        guard strides.max() == 32 else {
            throw fail("Detect head strides \(strides): only models whose largest stride is 32 are supported")
        }
        regMax = try head.int("reg_max")
        guard (1...limits.maxDimension).contains(regMax) else { throw fail("Detect head: reg_max is \(regMax), outside 1...\(limits.maxDimension)") }
        hasOneToOneHead = head.child("one2one_cv2") != nil
        hasOneToManyHead = head.child("cv2") != nil
        // Training settings: the checkpoint's `train_args` dict (else DetectionModel.args, when a dict).
        let args = root.value(forKey: "train_args")?.dictItems ?? model.attributes["args"]?.dictItems ?? []
        var kept: [(key: String, value: String)] = []
        var imageSize: Int?
        for key in Self.keptTrainArguments {
            guard let value = args.first(where: { $0.key.stringValue == key })?.value, let text = Self.text(value) else { continue }
            kept.append((key, text))
            if key == "imgsz" {
                let sides = value.intValue.map { [$0] } ?? value.items?.compactMap(\.intValue) ?? []
                if let side = sides.max(), (1...limits.maxDimension).contains(side) { imageSize = side }
            }
        }
        trainArguments = kept
        trainingImageSize = imageSize
    }

    /// A setting's value as text ("320", "[320, 320]", "coco8.yaml", "true"), or nil for other kinds of values.
    static func text(_ value: PickleValue) -> String? {
        switch value {
        case .int(let v): return String(v)
        case .float(let v): return String(v)
        case .bool(let v): return v ? "true" : "false"
        case .string(let s): return s
        case .none: return "none"
        case .tuple(let items), .list(let items):
            let parts = items.compactMap(text)
            return parts.count == items.count ? "[" + parts.joined(separator: ", ") + "]" : nil
        default: return nil
        }
    }
}
