import ArgumentParser
import Foundation
import YOLOKit

/// What `yolo prune` and `yolo compress` share: where the result goes, and what the before/after report measures.
struct CompressionReportOptions: ParsableArguments {
    @OptionGroup(title: "Model")
    var modelOptions: ModelOptions

    @Option(help: "Output .safetensors (default: the model's stem with -pruned / -lowrank, in the current folder).")
    var output: String?

    @Option(help: "fp32, fp16 or bf16 for the written weights (default: the model's own — fp16 for most .pt checkpoints, fp32 for Darknet).")
    var dtype: String?

    @Option(help: "Dataset yaml: mAP50-95 of the original and of the result on its --split.")
    var data: String?

    @Option(help: "Split of --data: val, test or train.")
    var split: String = "val"

    @Option(help: "Folder of photos: agreement — mAP50-95 of the result (and of the original: 1) with the original's detections at its predict defaults as labels.")
    var images: String?

    @Option(help: "Forward passes timed per model, alternating the two (the median is reported).")
    var rounds: Int = 5

    @Option(help: "Photo the forward passes run on (default: Models/samples/bus.jpg).")
    var sample: String?

    var weightDType: WeightDType? { dtype.flatMap { ["fp32": .float32, "fp16": .float16, "bf16": .bfloat16][$0] } }

    func validate() throws {
        if modelOptions.backend == .both { throw ValidationError("--backend both is for `yolo bench`; give blas or swift") }
        if let dtype, weightDType == nil { throw ValidationError("--dtype must be fp32, fp16 or bf16 (got \(dtype))") }
        guard DatasetSplit(rawValue: split) != nil else { throw ValidationError("--split must be val, test or train (got \(split))") }
        guard rounds >= 1 else { throw ValidationError("--rounds must be at least 1 (got \(rounds))") }
        if let output, (output as NSString).pathExtension.lowercased() != "safetensors" {
            throw ValidationError("--output must be a .safetensors file (got \(output))")
        }
    }

    /// Writes the compressed model with `write`, loads it back, and prints the before/after table. `suffix` names the
    /// default output ("pruned", "lowrank"); `unit` what a layer row counts ("channels", "rank").
    func run(suffix: String, unit: String, write: (any DetectionModel, String, WeightDType?) throws -> CompressionResult) throws {
        let imageSize = modelOptions.roundedImageSize()
        let backend = modelOptions.backend?.kinds.first ?? .blas
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
        var rows: [(String, String, String, String)] = []
        func change(_ a: Double, _ b: Double) -> String { a == 0 ? "" : String(format: "%+.1f %%", (b / a - 1) * 100) }
        rows.append(("parameters", before.parameters.formatted, after.parameters.formatted, change(Double(before.parameters), Double(after.parameters))))
        rows.append(("GFLOPs (\(before.inputShape[2])×\(before.inputShape[1]))", String(format: "%.2f", before.gflops), String(format: "%.2f", after.gflops),
                     change(before.gflops, after.gflops)))
        let beforeBytes = Self.fileSize(of: sourcePath)
        rows.append(("file size", Self.megabytes(beforeBytes), Self.megabytes(result.fileSize), change(Double(beforeBytes), Double(result.fileSize))))
        let photo = sample ?? (try? ModelRegistry.samplePhoto("bus.jpg")) ?? "Models/samples/bus.jpg"
        if let image = try? ImageDecoder.decode(contentsOf: photo) {
            let (a, b) = Self.forwardMilliseconds(original, compressed, image: image, rounds: rounds)
            rows.append(("forward ms (\(photo), median of \(rounds))", String(format: "%.1f", a), String(format: "%.1f", b), change(a, b)))
        } else {
            printError("warning: \(photo): cannot be read; forward time not measured (--sample PHOTO)")
        }
        var incomplete = false
        if let data {
            do {
                let (inputs, skipped) = try ValidationInputs.dataset(data, split: DatasetSplit(rawValue: split)!, classCount: original.names.count)
                incomplete = incomplete || skipped > 0
                let a = Validator.run(original, images: inputs), b = Validator.run(compressed, images: inputs)
                incomplete = incomplete || !a.failures.isEmpty
                rows.append(("mAP50-95 (\(data), \(inputs.count) images)", String(format: "%.4f", a.metrics.mAP50_95), String(format: "%.4f", b.metrics.mAP50_95),
                             String(format: "%+.4f", b.metrics.mAP50_95 - a.metrics.mAP50_95)))
                rows.append(("mAP50", String(format: "%.4f", a.metrics.mAP50), String(format: "%.4f", b.metrics.mAP50), String(format: "%+.4f", b.metrics.mAP50 - a.metrics.mAP50)))
            } catch {
                printError("error: \(error) (no mAP)")
                incomplete = true
            }
        }
        if let images {
            do {
                // Both run as detection runs (its letterbox, single-label NMS, NMS IoU) at val's conf 0.001, so the original
                // against its own detections scores 1 (up to NMS ties), shown beside the result's.
                let inputs = try ValidationInputs.reference(original, folder: images)
                var options = ValidationOptions()
                options.asDetected = true
                options.iou = nil
                let a = Validator.run(original, images: inputs, options: options), b = Validator.run(compressed, images: inputs, options: options)
                incomplete = incomplete || !b.failures.isEmpty
                rows.append(("agreement mAP50-95 vs original (\(inputs.count) photos)", String(format: "%.4f", a.metrics.mAP50_95),
                             String(format: "%.4f", b.metrics.mAP50_95), String(format: "%+.4f", b.metrics.mAP50_95 - a.metrics.mAP50_95)))
                rows.append(("agreement mAP50", String(format: "%.4f", a.metrics.mAP50), String(format: "%.4f", b.metrics.mAP50),
                             String(format: "%+.4f", b.metrics.mAP50 - a.metrics.mAP50)))
            } catch {
                printError("error: \(error) (no agreement)")
                incomplete = true
            }
        }
        print("wrote \(path)")
        let width = rows.map(\.0.count).max() ?? 10
        func pad(_ s: String, _ n: Int, right: Bool = false) -> String {
            s.count >= n ? s : (right ? String(repeating: " ", count: n - s.count) + s : s + String(repeating: " ", count: n - s.count))
        }
        print(pad("", width) + pad("original", 14, right: true) + pad(suffix, 14, right: true) + pad("change", 11, right: true))
        for (name, a, b, c) in rows { print(pad(name, width) + pad(a, 14, right: true) + pad(b, 14, right: true) + pad(c, 11, right: true)) }
        let changed = result.layers.filter { $0.after != $0.before }
        print("\(changed.count) of \(result.layers.count) convolutions changed (\(unit): before → after):")
        for l in changed { print("  \(l.name): \(l.before) → \(l.after)") }
        if incomplete { throw ExitCode(1) }
    }

    /// Median forward milliseconds of each detector on `image`, the two alternating (after one untimed pass each).
    static func forwardMilliseconds(_ a: Detector, _ b: Detector, image: RGBImage, rounds: Int) -> (Double, Double) {
        let pa = a.prepare(image), pb = b.prepare(image)
        _ = a.detect(pa)
        _ = b.detect(pb)
        var ta: [Double] = [], tb: [Double] = []
        for _ in 0..<rounds {
            ta.append(a.detect(pa).times.forward)
            tb.append(b.detect(pb).times.forward)
        }
        return (median(ta), median(tb))
    }

    /// Bytes of a model: the file, and for a Darknet cfg its .weights beside it.
    static func fileSize(of path: String) -> Int {
        var files = [path]
        if (path as NSString).pathExtension.lowercased() == "cfg" { files.append((path as NSString).deletingPathExtension + ".weights") }
        return files.reduce(0) { $0 + ((try? FileManager.default.attributesOfItem(atPath: $1)[.size] as? Int) ?? 0) }
    }

    static func megabytes(_ bytes: Int) -> String { String(format: "%.2f MB", Double(bytes) / 1e6) }
}
