import ArgumentParser
import Foundation
import YOLOKit

/// `yolo export`: the model's own unfused weights to safetensors (loadable alone by `--model`) or a state-dict .pt.
struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a model's weights as safetensors (with what rebuilds the network: `--model out.safetensors` loads it alone) or a PyTorch state-dict .pt.",
        discussion: "Tensors are the checkpoint's state_dict() names and values (unfused). With --dtype fp16/bf16 the report gives the largest change of any weight and of the raw network outputs on a sample photo.")

    @Option(help: "Model name (see `yolo models`), an Ultralytics .pt checkpoint, or an exported .safetensors.")
    var model: String = ModelRegistry.defaultModel

    @Option(help: "safetensors, pt, or darknet (Darknet models: a cfg with .weights and .names beside it). Default: the one --output's extension names (.safetensors, .pt, .cfg), else safetensors.")
    var format: String?

    @Option(help: "fp32, fp16 or bf16 (round-to-nearest-even).")
    var dtype: String = "fp32"

    @Option(help: "Output path (default: the model's stem with the format's extension, beside the current folder; `-<dtype>` added for fp16/bf16).")
    var output: String?

    @Option(help: "Photo the raw outputs are compared on for fp16/bf16 (default: Models/samples/bus.jpg when present).")
    var sample: String?

    /// The formats an --output extension names.
    static let formatsByExtension = ["safetensors": "safetensors", "pt": "pt", "cfg": "darknet"]
    var outputExtensionFormat: String? { output.flatMap { Self.formatsByExtension[($0 as NSString).pathExtension.lowercased()] } }
    /// --format, else the one --output's extension names, else safetensors.
    var formatName: String { format ?? outputExtensionFormat ?? "safetensors" }
    var weightsFormat: WeightsFormat? { WeightsFormat(rawValue: formatName) }
    var weightDType: WeightDType? { ["fp32": .float32, "fp16": .float16, "bf16": .bfloat16][dtype] }

    func validate() throws {
        guard weightsFormat != nil else { throw ValidationError("--format must be safetensors, pt or darknet (got \(formatName))") }
        if let format, let implied = outputExtensionFormat, implied != format {
            throw ValidationError("--output \(output!) names a \(implied) file but --format is \(format): give one or make them agree")
        }
        guard weightDType != nil else { throw ValidationError("--dtype must be fp32, fp16 or bf16 (got \(dtype))") }
        if weightsFormat == .darknet && weightDType != .float32 { throw ValidationError("--format darknet: Darknet .weights files hold float32 only (--dtype fp32)") }
    }

    func run() throws {
        let format = weightsFormat!, dtype = weightDType!
        let source: any DetectionModel
        do {
            source = try ModelFile.load(model, options: ExecutionOptions())
        } catch {
            printError("error: \(error)")
            throw ExitCode(2)  // a bad model, as `yolo detect`
        }
        let stem = ((model as NSString).lastPathComponent as NSString).deletingPathExtension
        let ext = ["pt": "pt", "safetensors": "safetensors", "darknet": "cfg"][format.rawValue]!  // darknet: the cfg; .weights and .names beside it
        let path = output ?? stem + (dtype == .float32 ? "" : "-" + self.dtype) + "." + ext
        let report: ExportReport
        do {
            report = try source.export(to: path, format: format, dtype: dtype)
        } catch let error as WeightsWriteError where error.path == path {
            printError("error: \(error)")
            throw ExitCode(1)  // the output could not be written
        } catch {
            printError("error: \(error)")
            throw ExitCode(2)  // the model cannot be exported (e.g. a Darknet model)
        }
        print("wrote \(report.path): \(report.tensorCount) tensors, \(report.dtype.rawValue), \(report.fileSize.formatted) bytes (\(String(format: "%.2f", Double(report.fileSize) / 1_048_576)) MiB)")
        guard dtype != .float32 else { return }
        print("largest change of any weight: \(report.largestWeightChange)")
        let photo = sample ?? (try? ModelRegistry.samplePhoto("bus.jpg")) ?? "Models/samples/bus.jpg"
        guard format == .safetensors, FileManager.default.fileExists(atPath: photo) else {
            if format == .safetensors { print("raw outputs not compared: no sample photo at \(photo)") }
            return
        }
        let image = try ImageDecoder.decode(contentsOf: photo)
        let before = source.rawOutputs(for: image)
        let reloaded = try ModelFile.load(path, options: ExecutionOptions())
        let after = reloaded.rawOutputs(for: image)
        guard before.count == after.count else { print("raw outputs differ in size: \(before.count) vs \(after.count)"); return }
        var largest: Float = 0, scale: Float = 0
        for i in before.indices { largest = max(largest, abs(before[i] - after[i])); scale = max(scale, abs(before[i])) }
        print("largest change of the raw outputs on \(photo): \(largest) (largest output magnitude \(scale); \(before.count) values)")
    }
}
