import ArgumentParser
import Foundation
import YOLOKit

extension CalibrationMethod: ExpressibleByArgument {}

/// `yolo quantize`: post-training int8 quantization into a safetensors model that `--model` loads alone.
struct QuantizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quantize",
        abstract: "Quantize a model's convolutions to int8 (post-training, calibrated on images) and write it as safetensors.",
        discussion: """
        Weights become int8, symmetric per output channel; each conv's input is quantized per tensor to uint8 with a \
        zero point, its range calibrated on --images images of --calib (a folder, or a dataset yaml's --calib-split) by \
        --method: minmax, percentile (0.01 % / 99.99 %) or entropy (KL divergence). A sensitivity pass then runs each \
        conv alone in int8 on --sensitivity-images images and keeps the --keep-fp32 convs that change the outputs most \
        in fp32 (grouped convs, attention, the heads' box decoding always stay fp32). The file is the model's export \
        with int8 weights, their scales and the input scales and zero points; `yolo detect|val|bench --model FILE` runs it. \
        The report gives file size, forward time (fp32 and int8 alternating, same run), mAP50-95 on --data and \
        agreement with the fp32 model on --photos. Exit status: 0, 1 when the file could not be written or images \
        were left out, 2 for a bad model, calibration set or usage.
        """)

    @OptionGroup(title: "Model")
    var modelOptions: ModelOptions

    @Option(help: "Calibration images: a folder, or a dataset yaml (its --calib-split images).")
    var calib: String

    @Option(name: .customLong("calib-split"), help: "Split of a --calib yaml: train, val or test.")
    var calibSplit: String = "train"

    @Option(help: "Calibration images used (the first N, sorted by path).")
    var images: Int = 64

    @Option(help: "Range calibration: minmax, percentile or entropy.")
    var method: CalibrationMethod = .minmax

    @Option(name: .customLong("keep-fp32"), help: "How many of the most sensitive convs stay fp32.")
    var keepFP32: Int = 3

    @Option(name: .customLong("sensitivity-images"), help: "Calibration images the per-layer sensitivity pass runs on.")
    var sensitivityImages: Int = 4

    @Option(help: "Output .safetensors (default: the model's stem with -int8, in the current folder).")
    var output: String?

    @OptionGroup(title: "Report")
    var comparison: ComparisonOptions

    @Option(help: "Folder of photos: agreement — mAP50-95 of the int8 model (and of fp32: 0.995, a perfect match) with the fp32 model's detections as labels.")
    var photos: String?

    func validate() throws {
        if modelOptions.backend == .both { throw ValidationError("--backend both is for `yolo bench`; give blas or swift") }
        if modelOptions.precision != .fp32 { throw ValidationError("--precision must be fp32 for `yolo quantize` (it quantizes the fp32 model)") }
        guard images >= 1 else { throw ValidationError("--images must be at least 1 (got \(images))") }
        guard keepFP32 >= 0 else { throw ValidationError("--keep-fp32 must be at least 0 (got \(keepFP32))") }
        guard sensitivityImages >= 1 else { throw ValidationError("--sensitivity-images must be at least 1 (got \(sensitivityImages))") }
        guard DatasetSplit(rawValue: calibSplit) != nil else { throw ValidationError("--calib-split must be val, test or train (got \(calibSplit))") }
        if let output, (output as NSString).pathExtension.lowercased() != "safetensors" {
            throw ValidationError("--output must be a .safetensors file (got \(output))")
        }
    }

    /// The calibration image files: a yaml's split, or a folder's images; the first `images` of them.
    func calibrationFiles() throws -> [String] {
        let ext = (calib as NSString).pathExtension.lowercased()
        let list = ext == "yaml" || ext == "yml"
            ? try DatasetConfig.load(path: calib).images(for: DatasetSplit(rawValue: calibSplit)!)
            : try DatasetImages.list([calib])
        return Array(list.files.prefix(images))
    }

    func run() throws {
        let imageSize = modelOptions.roundedImageSize()
        let backend = modelOptions.selectedBackend
        let original: Detector
        do { original = try modelOptions.detector(backend: backend, imageSize: imageSize) } catch {
            printError("error: \(error)")
            throw ExitCode(2)
        }
        guard !(original.model is QuantizedDetectionModel) else {
            printError("error: \(modelOptions.model): is already an int8 model; quantize the fp32 model it came from")
            throw ExitCode(2)
        }
        let files: [String]
        do { files = try calibrationFiles() } catch {
            printError("error: --calib \(calib): \(error)")
            throw ExitCode(2)
        }
        guard !files.isEmpty else {
            printError("error: --calib \(calib): no images")
            throw ExitCode(2)
        }
        let stem = ((modelOptions.model as NSString).lastPathComponent as NSString).deletingPathExtension
        let path = output ?? "\(stem)-int8.safetensors"
        let sourcePath = FileManager.default.fileExists(atPath: modelOptions.model) ? modelOptions.model : ((try? ModelRegistry.resolve(modelOptions.model)) ?? modelOptions.model)
        if URL(fileURLWithPath: path).standardizedFileURL.path == URL(fileURLWithPath: sourcePath).standardizedFileURL.path {
            printError("error: \(path): is the model being quantized: choose another --output")
            throw ExitCode(2)
        }

        let quantization = PostTrainingQuantization(method: method, keepFP32: keepFP32, sensitivityImages: sensitivityImages)
        let result: PostTrainingQuantization.Result
        do {
            result = try quantization.run(original.model, imageCount: files.count, image: { try ImageDecoder.decode(contentsOf: files[$0]) },
                                          options: original.execution) { stage, done, total in
                if done == total || done % 16 == 0 { printError("calibration \(stage): \(done)/\(total) images") }
            }
        } catch {
            printError("error: calibration failed: \(error)")
            throw ExitCode(2)
        }
        let fileSize: Int
        do {
            fileSize = try QuantizedModelFile.write(original.model, plan: result.plan, notes: [
                "method": method.rawValue, "images": String(files.count),
                "fp32_layers": result.keptFP32.sorted().map { result.names[$0] ?? "node \($0)" }.joined(separator: ","),
            ], to: path)
        } catch {
            printError("error: \(error)")
            throw ExitCode(1)
        }
        let quantized: Detector
        do {
            quantized = try Detector(model: path, execution: original.execution, imageSize: imageSize, endToEnd: modelOptions.end2end ? true : nil)
        } catch {
            printError("error: the written file does not load: \(error)")
            throw ExitCode(1)
        }

        print("wrote \(path) (\(result.plan.count) convs int8, calibrated on \(files.count) images, \(method.rawValue))")
        printSensitivity(result)
        let incomplete = printReport(original, quantized, sourcePath: sourcePath, fileSize: fileSize)
        if incomplete { throw ExitCode(1) }
    }

    /// The sensitivity table: the first conv, the head inputs, and the most sensitive others; which stay fp32.
    func printSensitivity(_ result: PostTrainingQuantization.Result) {
        let ranked = result.sensitivity.sorted { $0.error > $1.error }
        let shown = ranked.prefix(max(8, keepFP32)).map(\.node)
        let rows = result.sensitivity.filter { $0.role != nil || shown.contains($0.node) }
        print("sensitivity (each conv alone in int8; mean relative squared error of the raw outputs, \(sensitivityImages) images):")
        for row in rows {
            let rank = (ranked.firstIndex { $0.node == row.node } ?? 0) + 1
            let name = result.names[row.node] ?? "node \(row.node)"
            let note = [row.role?.rawValue, result.keptFP32.contains(row.node) ? "kept fp32" : nil].compactMap { $0 }.joined(separator: ", ")
            print("  #\(rank) \(name) (node \(row.node)): \(String(format: "%.3g", row.error))\(note.isEmpty ? "" : "  [\(note)]")")
        }
        let median = ranked.isEmpty ? 0 : ranked[ranked.count / 2].error
        print("  median of \(ranked.count) convs: \(String(format: "%.3g", median)); attention and \(result.ineligible.count) grouped convs stay fp32")
    }

    /// The fp32 vs int8 table; returns true when some measurement left images out.
    func printReport(_ original: Detector, _ quantized: Detector, sourcePath: String, fileSize: Int) -> Bool {
        var table = ModelComparison(original, quantized)
        let before = ModelComparison.fileSize(of: sourcePath)
        table.add("file size", ModelComparison.megabytes(before), ModelComparison.megabytes(fileSize), ModelComparison.change(Double(before), Double(fileSize)))
        comparison.measure(into: &table)
        if let photos { table.addAgreement(folder: photos, originalName: "fp32") }
        table.print(columns: ("fp32", "int8"))
        return table.incomplete
    }
}
