import ArgumentParser
import Foundation
import YOLOKit

enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json
}

struct DetectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "detect",
        abstract: "Detect objects in images.",
        discussion: "Prints each object (class, confidence, box in original-image pixels) and a summary per image. Exit status 1 when an input fails."
    )

    @Argument(help: "Image files (JPEG or PNG).")
    var sources: [String]

    @Option(help: "Model name (see `yolo models`), an Ultralytics .pt checkpoint, or a Darknet .cfg with its .weights beside it.")
    var model: String = ModelRegistry.defaultModel

    @Option(help: "Confidence threshold (0…1).")
    var conf: Float = 0.25

    @Option(help: "IoU threshold for NMS (0…1); default 0.45 for Darknet models, 0.7 for Ultralytics models.")
    var iou: Float?

    @Flag(name: .customLong("agnostic-nms"), help: "Class-agnostic NMS (one box per place, whatever the class).")
    var agnosticNMS = false

    @Flag(help: "YOLO26: run the one-to-many head with NMS (Ultralytics 8.4's default) instead of the NMS-free one-to-one head.")
    var nms = false

    @Option(help: "Network input size in pixels (multiple of 32); default: the cfg's size for Darknet, 640 for Ultralytics.")
    var imgsz: Int?

    @Option(help: "Keep only these class indices, comma-separated (e.g. 0,2,5).")
    var classes: String?

    @Option(name: .customLong("max-det"), help: "Maximum detections per image.")
    var maxDet: Int = 300

    @Option(help: "Output format: text or json (one JSON array of per-image objects on stdout).")
    var format: OutputFormat = .text

    @Option(help: "Threads (default: all cores).")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    func validate() throws {
        guard (0...1).contains(conf) else { throw ValidationError("--conf must be between 0 and 1 (got \(conf))") }
        if let iou, !(0...1).contains(iou) { throw ValidationError("--iou must be between 0 and 1 (got \(iou))") }
        guard maxDet > 0 else { throw ValidationError("--max-det must be positive (got \(maxDet))") }
        guard threads > 0 else { throw ValidationError("--threads must be positive (got \(threads))") }
        if let imgsz, imgsz < 32 || imgsz > 8192 { throw ValidationError("--imgsz must be between 32 and 8192 (got \(imgsz))") }
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

    func run() throws {
        let detector: Detector
        do {
            detector = try Detector(model: model, threads: threads, imageSize: roundedImageSize(), endToEnd: nms ? false : nil)
        } catch {
            printError("error: \(error)")
            throw ExitCode(2)
        }
        if let keep = try parsedClasses(), let bad = keep.first(where: { $0 >= detector.names.count }) {
            printError("error: --classes: class \(bad) does not exist (the model has \(detector.names.count) classes)")
            throw ExitCode(2)
        }
        let options = DetectionOptions(confidence: conf, iou: iou, maxDetections: maxDet, classes: try parsedClasses(), agnostic: agnosticNMS)
        var failures = 0
        var jsonItems: [String] = []
        for source in sources {
            do {
                let result = try detector.detect(imageAt: source, options: options)
                switch format {
                case .json: jsonItems.append(JSONOutput.result(result))
                case .text: printText(result)
                }
            } catch {
                failures += 1
                printError("error: \(error)")
            }
        }
        if format == .json { print("[" + jsonItems.joined(separator: ",\n ") + "]") }
        if failures > 0 { throw ExitCode(1) }
    }

    /// Ultralytics rounds an --imgsz that is not a multiple of the stride up, with a warning.
    func roundedImageSize() -> Int? {
        guard let imgsz else { return nil }
        let rounded = (imgsz + 31) / 32 * 32
        if rounded != imgsz { printError("warning: --imgsz \(imgsz) must be a multiple of 32, using \(rounded)") }
        return rounded
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

func printError(_ message: String) {
    FileHandle.standardError.write((message + "\n").data(using: .utf8)!)
}
