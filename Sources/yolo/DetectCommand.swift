import ArgumentParser
import Foundation
import YOLOKit

enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json
}

struct DetectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "detect",
        abstract: "Detect objects in images, folders, globs and lists of paths.",
        discussion: """
        Without --save-* options, prints each image's objects (class, confidence, box in original-image pixels) on \
        standard output. With them, writes results under --save-dir as it goes, with progress on standard error \
        and a summary at the end; --resume finishes an interrupted run, --shard i/n does part i of n.
        Exit status: 0 when every input succeeded, 1 when some input failed (each named on standard error, and in \
        errors.jsonl when saving), 2 for a bad model or usage.
        """
    )

    @Argument(help: ArgumentHelp("Images, folders, globs (quote them: \"photos/**/*.jpg\"), .txt lists of paths, or - for paths on stdin.",
                                 valueName: "source"))
    var sources: [String]

    // MARK: Model and thresholds

    @OptionGroup(title: "Model")
    var modelOptions: ModelOptions

    @Option(help: "Confidence threshold (0…1).")
    var conf: Float = 0.25

    @Option(help: "IoU threshold for NMS (0…1); default 0.45 for Darknet models, 0.7 for Ultralytics models.")
    var iou: Float?

    @Flag(name: .customLong("agnostic-nms"), help: "Class-agnostic NMS (one box per place, whatever the class).")
    var agnosticNMS = false

    @Option(help: "Keep only these class indices, comma-separated (e.g. 0,2,5).")
    var classes: String?

    @Option(name: .customLong("max-det"), help: "Maximum detections per image.")
    var maxDet: Int = 300

    @Option(name: .customLong("max-pixels"), help: "Refuse images with more pixels than this (checked from the header, before decoding).")
    var maxPixels: Int = ImageDecoder.defaultMaxPixels

    // MARK: Inputs

    @Flag(help: "Also take images in the subfolders of folder sources.")
    var recursive = false

    @Option(help: ArgumentHelp("Process only part i (from 0) of n disjoint parts of the inputs, chosen by a stable hash of each relative path (e.g. 3/16).",
                               valueName: "i/n"))
    var shard: String?

    // MARK: Output

    @Option(help: "Standard output: text or json (one JSON array of per-image objects). Default: text, or nothing when saving.")
    var format: OutputFormat?

    @Option(name: .customLong("save-dir"), help: "Folder for saved results (default runs/detect/predict, then predict2, …). Alone, it saves --save-jsonl.")
    var saveDir: String?

    @Flag(name: .customLong("exist-ok"), help: "Reuse the default folder runs/detect/predict, or overwrite an earlier run's results in --save-dir.")
    var existOK = false

    @Flag(help: "Finish an interrupted run in the same folder: inputs already done are skipped, and the results end up as an uninterrupted run's.")
    var resume = false

    @Flag(name: .customLong("save-jsonl"), help: "predictions.jsonl: one line per image (the object of --format json).")
    var saveJSONL = false

    @Flag(name: .customLong("save-csv"), help: "predictions.csv: one row per detection.")
    var saveCSV = false

    @Flag(name: .customLong("save-txt"), help: "labels/<path>.txt: YOLO labels (class cx cy w h, normalized), empty when nothing is found.")
    var saveTXT = false

    @Flag(name: .customLong("save-conf"), help: "Add the confidence to each --save-txt line.")
    var saveConf = false

    @Flag(name: .customLong("save-coco"), help: "coco_predictions.json: COCO results (image_id, category_id, bbox [x,y,w,h], score).")
    var saveCOCO = false

    @Flag(name: .customLong("save-image"), help: "Annotated copies (boxes, class names, confidences), mirroring the input folders.")
    var saveImage = false

    @Flag(name: .customLong("save-crop"), help: "crops/<class>/<path>_<k>.jpg: one crop per detection.")
    var saveCrop = false

    @Flag(name: .shortAndLong, help: "No progress display and no summary (errors are still printed).")
    var quiet = false

    @Option(name: .customLong("progress-interval"), help: "Seconds between progress lines when standard error is not a terminal.")
    var progressInterval: Double = 10

    // MARK: Resources

    @Option(help: "Images in the network at once, each on its own copy of the network with threads/batch threads.")
    var batch: Int = 1

    @Option(name: .customLong("decode-threads"), help: "Threads decoding and resizing the next images (and writing image files) while the network runs; 0: no read-ahead.")
    var decodeThreads: Int = 1

    var threads: Int { modelOptions.threads }

    func validate() throws {
        if modelOptions.backend == .both { throw ValidationError("--backend both is for `yolo bench`; detect runs one backend: blas or swift") }
        guard (0...1).contains(conf) else { throw ValidationError("--conf must be between 0 and 1 (got \(conf))") }
        if let iou, !(0...1).contains(iou) { throw ValidationError("--iou must be between 0 and 1 (got \(iou))") }
        guard maxDet > 0 else { throw ValidationError("--max-det must be positive (got \(maxDet))") }
        guard maxPixels > 0 else { throw ValidationError("--max-pixels must be positive (got \(maxPixels))") }
        guard batch > 0 else { throw ValidationError("--batch must be positive (got \(batch))") }
        guard decodeThreads >= 0 else { throw ValidationError("--decode-threads must be 0 or more (got \(decodeThreads))") }
        guard progressInterval > 0 else { throw ValidationError("--progress-interval must be positive (got \(progressInterval))") }
        if let shard { do { _ = try BatchShard(parsing: shard) } catch { throw ValidationError("\(error)") } }
        if saveConf && !saveTXT { throw ValidationError("--save-conf adds a column to --save-txt files: add --save-txt") }
        if (existOK || resume) && !saves { throw ValidationError("--\(resume ? "resume" : "exist-ok") applies to saved results: add --save-dir or a --save-* option") }
        if existOK && resume { throw ValidationError("--resume continues an earlier run, --exist-ok starts over: choose one") }
        if sources.filter({ $0 == "-" }).count > 1 { throw ValidationError("'-' (paths on standard input) can be given once") }
        _ = try parsedClasses()
    }

    func parsedClasses() throws -> Set<Int>? {
        guard let classes else { return nil }
        let items = classes.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        let values = items.compactMap { Int($0) }
        guard !items.isEmpty, values.count == items.count, values.allSatisfy({ $0 >= 0 }) else {
            throw ValidationError("--classes takes comma-separated class indices, e.g. 0,2 (got '\(classes)')")
        }
        return Set(values)
    }

    var outputs: BatchOutputOptions {
        var o = BatchOutputOptions()
        o.jsonl = saveJSONL; o.csv = saveCSV; o.txt = saveTXT; o.coco = saveCOCO
        o.images = saveImage; o.crops = saveCrop; o.saveConfidence = saveConf
        return o
    }

    var saves: Bool { outputs.any || saveDir != nil }

    /// The number of images when every source names one image file (no folder, glob, list or standard input): an
    /// upper bound for the run (a shard or --resume does fewer). nil when it takes enumerating to know.
    var knownImageCount: Int? {
        for source in sources {
            var isDirectory: ObjCBool = false
            guard source != "-", BatchSource.isImageName(source), FileManager.default.fileExists(atPath: source, isDirectory: &isDirectory),
                  !isDirectory.boolValue else { return nil }
        }
        return sources.count
    }

    func run() throws {
        let imageSize = modelOptions.roundedImageSize()
        let backend = modelOptions.selectedBackend
        let forwards = knownImageCount
        func load(_ threads: Int) throws -> Detector {
            try modelOptions.detector(backend: backend, threads: threads, imageSize: imageSize, forwards: forwards)
        }
        let detector: Detector
        do {
            detector = try load(max(1, threads / batch))  // each of the --batch copies gets its share
        } catch {
            printError("error: \(error)")
            throw ExitCode(2)
        }
        if let keep = try parsedClasses(), let bad = keep.first(where: { $0 >= detector.names.count }) {
            printError("error: --classes: class \(bad) does not exist (the model has \(detector.names.count) classes)")
            throw ExitCode(2)
        }

        var job = BatchJob.Configuration(sources: sources)
        job.recursive = recursive
        job.shard = try shard.map { try BatchShard(parsing: $0) }
        job.options = DetectionOptions(confidence: conf, iou: iou, maxDetections: maxDet, classes: try parsedClasses(), agnostic: agnosticNMS)
        job.outputs = outputs
        job.saveDirectory = saveDir
        job.existOK = existOK
        job.resume = resume
        job.threads = threads
        job.batch = batch
        job.decodeThreads = decodeThreads
        job.progressInterval = progressInterval
        job.maxPixels = maxPixels
        let model = modelOptions.model
        job.modelSettings = ["model": FileManager.default.fileExists(atPath: model) ? URL(fileURLWithPath: model).standardizedFileURL.path : model,
                             "imgsz": imageSize.map(String.init) ?? "model default", "end2end": "\(modelOptions.end2end)"]
        // Progress and summary on standard error: always when saving (unless --quiet); when printing results,
        // only on a terminal while the results go elsewhere.
        let stdoutIsTerminal = isatty(1) != 0, stderrIsTerminal = isatty(2) != 0
        let showProgress = !quiet && (saves || (stderrIsTerminal && !stdoutIsTerminal))
        job.progress = showProgress ? BatchProgress.automaticStyle : .off

        // Standard output: results as before (text, or one JSON array streamed item by item), unless saving
        // without an explicit --format.
        let stdoutFormat: OutputFormat? = saves ? format : (format ?? .text)
        var jsonCount = 0
        let report: BatchJob.Report
        let batchJob = BatchJob(job)
        let signals = stopCleanly(batchJob, saving: saves)
        defer { signals.forEach { $0.cancel() } }
        do {
            report = try batchJob.run(detector: detector, makeDetector: load) { result in
                switch stdoutFormat {
                case .text?: printText(result)
                case .json?:
                    writeStandardOutput((jsonCount == 0 ? "[" : ",\n ") + JSONOutput.result(result))
                    jsonCount += 1
                case nil: break
                }
                fflush(stdout)
            }
        } catch let error as BatchUsageError {
            printError("error: \(error)")
            throw ExitCode(2)
        } catch {
            printError("error: \(error)\nthe run stopped; the inputs done so far are saved: fix the cause and run the same command with --resume")
            throw ExitCode(1)
        }
        if stdoutFormat == .json { writeStandardOutput(jsonCount == 0 ? "[]\n" : "]\n") }
        if showProgress { printError(report.summary) }
        if report.cancelled { throw ExitCode(130) }
        if report.failures > 0 { throw ExitCode(1) }
    }

    /// SIGINT / SIGTERM (Ctrl-C, `kill`, a cluster evicting the job): finish the image being written, keep
    /// every output consistent, and exit with 130 — a second signal exits at once. `--resume` carries on.
    func stopCleanly(_ job: BatchJob, saving: Bool) -> [DispatchSourceSignal] {
        let queue = DispatchQueue(label: "yolo-signals")
        var seen = false  // touched only on `queue`
        return [SIGINT, SIGTERM].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
            source.setEventHandler {
                if seen { _exit(130) }
                seen = true
                printError("\nstopping\(saving ? " (run the same command with --resume to finish)" : "")…")
                job.cancel()
            }
            source.resume()
            return source
        }
    }

    func printText(_ r: DetectionResult) {
        let inputSize = r.inputShape
        func f(_ v: Float) -> String { String(format: "%.1f", v) }
        print("\(r.path): \(r.width)×\(r.height), \(r.summary) (\(inputSize.width)×\(inputSize.height) input; "
              + String(format: "decode %.1f ms, preprocess %.1f ms, forward %.1f ms, postprocess %.1f ms)",
                       r.times.decode, r.times.preprocess, r.times.forward, r.times.postprocess))
        for d in r.boxes {
            print("  \(d.name.padding(toLength: max(14, d.name.count), withPad: " ", startingAt: 0)) "
                  + String(format: "%.2f", d.confidence) + "  [\(f(d.box.x1)), \(f(d.box.y1)), \(f(d.box.x2)), \(f(d.box.y2))]")
        }
    }
}

func writeStandardOutput(_ text: String) {
    fputs(text, stdout)
}

func printError(_ message: String) {
    FileHandle.standardError.write((message + "\n").data(using: .utf8)!)
}
