import ArgumentParser
import Foundation
import YOLOKit

/// What `yolo prune` and `yolo compress` share: where the result goes, and what the before/after report measures.
struct CompressionReportOptions: ParsableArguments {
    @OptionGroup(title: "Model")
    var modelOptions: ModelOptions

    @OptionGroup(title: "Report")
    var comparison: ComparisonOptions

    @Option(help: "Output .safetensors (default: the model's stem with -pruned / -lowrank, in the current folder).")
    var output: String?

    @Option(help: "fp32, fp16 or bf16 for the written weights (default: the model's own — fp16 for most .pt checkpoints, fp32 for Darknet).")
    var dtype: String?

    @Option(help: "Folder of photos: agreement — mAP50-95 of the result (and of the original: 0.995, a perfect match) with the original's detections at its predict defaults as labels.")
    var images: String?

    var weightDType: WeightDType? { dtype.flatMap { ["fp32": .float32, "fp16": .float16, "bf16": .bfloat16][$0] } }

    func validate() throws {
        if modelOptions.backend == .both { throw ValidationError("--backend both is for `yolo bench`; give blas or swift") }
        if let dtype, weightDType == nil { throw ValidationError("--dtype must be fp32, fp16 or bf16 (got \(dtype))") }
        if let output, (output as NSString).pathExtension.lowercased() != "safetensors" {
            throw ValidationError("--output must be a .safetensors file (got \(output))")
        }
    }

    /// Writes the compressed model with `write`, loads it back, and prints the before/after table. `suffix` names the
    /// default output ("pruned", "lowrank"); `unit` what a layer row counts ("channels", "rank").
    func run(suffix: String, unit: String, write: (any DetectionModel, String, WeightDType?) throws -> CompressionResult) throws {
        let imageSize = modelOptions.roundedImageSize()
        let backend = modelOptions.selectedBackend
        let original: Detector
        do { original = try modelOptions.detector(backend: backend, imageSize: imageSize) } catch {
            printError("error: \(error)")
            throw ExitCode(2)
        }
        let stem = ((modelOptions.model as NSString).lastPathComponent as NSString).deletingPathExtension
        let path = output ?? "\(stem)-\(suffix).safetensors"
        let sourcePath = FileManager.default.fileExists(atPath: modelOptions.model) ? modelOptions.model : ((try? ModelRegistry.resolve(modelOptions.model)) ?? modelOptions.model)
        if URL(fileURLWithPath: path).standardizedFileURL.path == URL(fileURLWithPath: sourcePath).standardizedFileURL.path {
            printError("error: \(path): is the model being compressed: choose another --output")
            throw ExitCode(2)
        }
        let result: CompressionResult
        do { result = try write(original.model, path, weightDType) } catch let error as WeightsWriteError where error.path == path {
            printError("error: \(error)")
            throw ExitCode(1)
        } catch {
            printError("error: \(modelOptions.model): \(error)")
            throw ExitCode(2)
        }
        let compressed: Detector
        do {
            compressed = try Detector(model: path, execution: original.execution, imageSize: imageSize, endToEnd: modelOptions.end2end ? true : nil)
        } catch {
            printError("error: the written file does not load: \(error)")
            throw ExitCode(1)
        }
        let before = try original.model.info(imageSize: imageSize), after = try compressed.model.info(imageSize: imageSize)
        var table = ModelComparison(original, compressed)
        let change = ModelComparison.change
        table.add("parameters", before.parameters.formatted, after.parameters.formatted, change(Double(before.parameters), Double(after.parameters)))
        table.add("GFLOPs (\(before.inputShape[2])×\(before.inputShape[1]))", String(format: "%.2f", before.gflops), String(format: "%.2f", after.gflops),
                  change(before.gflops, after.gflops))
        let beforeBytes = ModelComparison.fileSize(of: sourcePath)
        table.add("file size", ModelComparison.megabytes(beforeBytes), ModelComparison.megabytes(result.fileSize), change(Double(beforeBytes), Double(result.fileSize)))
        comparison.measure(into: &table)
        if let images { table.addAgreement(folder: images, originalName: "original") }
        print("wrote \(path)")
        table.print(columns: ("original", suffix))
        let changed = result.layers.filter { $0.after != $0.before }
        print("\(changed.count) of \(result.layers.count) convolutions changed (\(unit): before → after):")
        for l in result.layers where l.after != l.before || l.note != nil { print("  " + Self.describe(l)) }
        let timed = changed.compactMap { l in l.originalMilliseconds.flatMap { a in l.factoredMilliseconds.map { (a, $0) } } }
        if !timed.isEmpty {
            let a = timed.reduce(0) { $0 + $1.0 }, b = timed.reduce(0) { $0 + $1.1 }
            print(String(format: "the changed convolutions, each timed alone: %.1f → %.1f ms (", a, b) + ModelComparison.change(a, b) + ")")
        }
        if table.incomplete { throw ExitCode(1) }
    }

    /// "model.8.cv1.conv: 512 → 136 (4.21 → 2.80 ms), output error 0.0012 (estimated)", or a conv left alone and why.
    static func describe(_ l: CompressedLayer) -> String {
        var line = l.after == l.before ? "\(l.name): \(l.before) kept" : "\(l.name): \(l.before) → \(l.after)"
        if let a = l.originalMilliseconds {
            line += l.factoredMilliseconds.map { String(format: " (%.2f → %.2f ms)", a, $0) } ?? String(format: " (%.2f ms)", a)
        }
        if let note = l.note { line += ", " + note }
        return line
    }
}
