import Foundation

/// Turns a `--model` value into a loaded `DetectionModel`: the one place that maps a kind of model file to the
/// type that runs it (a new kind of file is one more case here and one new conforming type).
public enum ModelFile {
    /// `nameOrPath`: a registered name (`ModelRegistry`), an Ultralytics `.pt` checkpoint, or a Darknet `.cfg` with its
    /// `.weights` beside it, or an exported `.safetensors` of either. `imageSize`: nil keeps the model's own (the cfg's size; the checkpoint's training imgsz).
    /// `endToEnd`: YOLO26 heads only — true runs the NMS-free one-to-one branch.
    /// `options.precision` bf16 wraps the model in a `BF16DetectionModel` (fp32 models only).
    public static func load(_ nameOrPath: String, imageSize: Int? = nil, endToEnd: Bool? = nil,
                            options: ExecutionOptions = ExecutionOptions()) throws -> any DetectionModel {
        let model = try loadStored(nameOrPath, imageSize: imageSize, endToEnd: endToEnd, options: options)
        guard options.precision == .bf16 else { return model }
        guard !(model is QuantizedDetectionModel) else {
            throw ModelLoadError(path: nameOrPath, reason: "is an int8 model; precision bf16 runs fp32 models")
        }
        return try BF16DetectionModel(base: model)
    }

    /// The model as its file stores it.
    static func loadStored(_ nameOrPath: String, imageSize: Int?, endToEnd: Bool?, options: ExecutionOptions) throws -> any DetectionModel {
        let path = FileManager.default.fileExists(atPath: nameOrPath) ? nameOrPath : try ModelRegistry.resolve(nameOrPath)
        switch (path as NSString).pathExtension.lowercased() {
        case "cfg":
            guard endToEnd != true else { throw ModelLoadError(path: path, reason: "Darknet models have no end-to-end (NMS-free) head") }
            return try DarknetDetectionModel.load(cfgPath: path, inputSize: imageSize, options: options)
        case "safetensors":
            // An export names its kind in `__metadata__.format`: Darknet (DarknetExport) or Ultralytics.
            let file = try SafetensorsFile(path: path)
            if QuantizedModelFile.isQuantized(file) {  // `yolo quantize`'s int8 file
                return try QuantizedModelFile.load(file, imageSize: imageSize, endToEnd: endToEnd, options: options)
            }
            if file.metadata["format"] == DarknetExport.formatTag {
                guard endToEnd != true else { throw ModelLoadError(path: path, reason: "Darknet models have no end-to-end (NMS-free) head") }
                return try DarknetExport.load(file, inputSize: imageSize, options: options)
            }
            return try UltralyticsDetectionModel(path: path, imageSize: imageSize, endToEnd: endToEnd, options: options)
        case "pt":
            return try UltralyticsDetectionModel(path: path, imageSize: imageSize, endToEnd: endToEnd, options: options)
        default:
            throw ModelLoadError(path: path, reason: "unsupported model file type (expected an Ultralytics .pt checkpoint or its .safetensors export, or a Darknet .cfg with its .weights beside it)")
        }
    }
}
