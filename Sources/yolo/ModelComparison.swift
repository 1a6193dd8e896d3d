import ArgumentParser
import Foundation
import YOLOKit

/// The report options `yolo prune`, `yolo compress` and `yolo quantize` share: the forward timing and the labelled set.
struct ComparisonOptions: ParsableArguments {
    @Option(help: "Dataset yaml: mAP50-95 of both models (the original and the smaller one) on its --split.")
    var data: String?

    @Option(help: "Split of --data: val, test or train.")
    var split: String = "val"

    @Option(help: "Forward passes timed per model, alternating the two (the median is reported).")
    var rounds: Int = 5

    @Option(help: "Photo the forward passes run on (default: Models/samples/bus.jpg).")
    var sample: String?

    func validate() throws {
        guard DatasetSplit(rawValue: split) != nil else { throw ValidationError("--split must be val, test or train (got \(split))") }
        guard rounds >= 1 else { throw ValidationError("--rounds must be at least 1 (got \(rounds))") }
    }

    /// The forward-time row, then the mAP rows when --data is given.
    func measure(into table: inout ModelComparison) {
        table.addForwardTime(sample: sample, rounds: rounds)
        if let data { table.addAccuracy(data: data, split: DatasetSplit(rawValue: split)!) }
    }
}

/// The before/after table `yolo prune`, `yolo compress` and `yolo quantize` print: an original model and its smaller
/// copy measured in one run — forward time (the two alternating), mAP on a labelled set, agreement on photos.
struct ModelComparison {
    let original: Detector, other: Detector
    private(set) var rows: [(name: String, original: String, other: String, change: String)] = []
    /// Some measurement left images out (the command then exits 1).
    private(set) var incomplete = false

    init(_ original: Detector, _ other: Detector) {
        self.original = original
        self.other = other
    }

    static func change(_ a: Double, _ b: Double) -> String { a == 0 ? "" : String(format: "%+.1f %%", (b / a - 1) * 100) }

    mutating func add(_ name: String, _ a: String, _ b: String, _ change: String) { rows.append((name, a, b, change)) }

    /// Median forward milliseconds on `sample` (default: the bus photo).
    mutating func addForwardTime(sample: String?, rounds: Int) {
        let photo = sample ?? (try? ModelRegistry.samplePhoto("bus.jpg")) ?? "Models/samples/bus.jpg"
        guard let image = try? ImageDecoder.decode(contentsOf: photo) else {
            printError("warning: \(photo): cannot be read; forward time not measured (--sample PHOTO)")
            return
        }
        let (a, b) = Self.forwardMilliseconds(original, other, image: image, rounds: rounds)
        add("forward ms (\((photo as NSString).lastPathComponent), median of \(rounds), alternating)", String(format: "%.1f", a), String(format: "%.1f", b),
            Self.change(a, b))
    }

    /// mAP50-95 and mAP50 of both on the `split` of dataset yaml `data`.
    mutating func addAccuracy(data: String, split: DatasetSplit) {
        do {
            let (inputs, skipped) = try ValidationInputs.dataset(data, split: split, classCount: original.names.count)
            let a = Validator.run(original, images: inputs), b = Validator.run(other, images: inputs)
            incomplete = incomplete || skipped > 0 || !a.failures.isEmpty || !b.failures.isEmpty
            addMetrics(a, b, name: "mAP50-95 (\(data), \(inputs.count) images)", short: "mAP50")
        } catch {
            printError("error: \(error) (no mAP)")
            incomplete = true
        }
    }

    /// Agreement: both models against the original's predict-default detections on the photos of `folder`, both run
    /// as detection runs them (its letterbox, single-label NMS at the model's IoU) at val's conf 0.001 — the original
    /// scores 0.995, the 101-point AP of a perfect match.
    mutating func addAgreement(folder: String, originalName: String) {
        do {
            let inputs = try ValidationInputs.reference(original, folder: folder)
            var options = ValidationOptions()
            options.asDetected = true
            options.iou = nil
            let a = Validator.run(original, images: inputs, options: options), b = Validator.run(other, images: inputs, options: options)
            incomplete = incomplete || !b.failures.isEmpty
            addMetrics(a, b, name: "agreement mAP50-95 vs \(originalName) (\(inputs.count) photos)", short: "agreement mAP50")
        } catch {
            printError("error: \(error) (no agreement)")
            incomplete = true
        }
    }

    private mutating func addMetrics(_ a: ValidationReport, _ b: ValidationReport, name: String, short: String) {
        add(name, String(format: "%.4f", a.metrics.mAP50_95), String(format: "%.4f", b.metrics.mAP50_95), String(format: "%+.4f", b.metrics.mAP50_95 - a.metrics.mAP50_95))
        add(short, String(format: "%.4f", a.metrics.mAP50), String(format: "%.4f", b.metrics.mAP50), String(format: "%+.4f", b.metrics.mAP50 - a.metrics.mAP50))
    }

    /// The table, with `columns` naming the two models.
    func print(columns: (String, String)) {
        let width = rows.map(\.name.count).max() ?? 10
        func pad(_ s: String, _ n: Int, right: Bool = false) -> String {
            s.count >= n ? s : (right ? String(repeating: " ", count: n - s.count) + s : s + String(repeating: " ", count: n - s.count))
        }
        Swift.print(pad("", width) + pad(columns.0, 14, right: true) + pad(columns.1, 14, right: true) + pad("change", 11, right: true))
        for r in rows { Swift.print(pad(r.name, width) + pad(r.original, 14, right: true) + pad(r.other, 14, right: true) + pad(r.change, 11, right: true)) }
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

    static func megabytes(_ bytes: Int) -> String { String(format: "%.2f MB", Double(bytes) / 1e6) }

    /// Bytes of a model (links followed): the file, and for a Darknet cfg its .weights beside it.
    static func fileSize(of path: String) -> Int {
        var files = [URL(fileURLWithPath: path).resolvingSymlinksInPath().path]
        if (path as NSString).pathExtension.lowercased() == "cfg" {
            files.append(URL(fileURLWithPath: (path as NSString).deletingPathExtension + ".weights").resolvingSymlinksInPath().path)
        }
        return files.reduce(0) { $0 + ((try? FileManager.default.attributesOfItem(atPath: $1)[.size] as? Int) ?? 0) }
    }
}
