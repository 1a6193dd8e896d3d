import Foundation

/// Which files a batch run writes under its save directory.
public struct BatchOutputOptions: Sendable, Equatable {
    /// `predictions.jsonl`: one line per image, the object of `--format json`.
    public var jsonl = false
    /// `predictions.csv`: one row per detection.
    public var csv = false
    /// `labels/<relative path>.txt`: YOLO label files (empty for images without detections).
    public var txt = false
    /// `coco_predictions.json`: COCO results.
    public var coco = false
    /// Annotated copies, mirroring the input tree.
    public var images = false
    /// `crops/<class>/…`: one crop per detection.
    public var crops = false
    /// Confidence as a sixth column of the label files.
    public var saveConfidence = false

    public init() {}

    public var any: Bool { jsonl || csv || txt || coco || images || crops }
    /// Per-image files, written as soon as an image is done (in parallel, off the ordered path).
    var perImage: Bool { txt || images || crops }
    var needsPixels: Bool { images || crops }

    var names: [String] {
        [(jsonl, "jsonl"), (csv, "csv"), (txt, "txt"), (coco, "coco"), (images, "image"), (crops, "crop")].filter(\.0).map(\.1)
    }
}

/// The save directory of a batch run: picks it, opens or recovers its state, writes every output of every
/// input (per-image files atomically; appended files record by record, in input order, each input sealed by
/// a journal checkpoint), and finishes the whole-run files at the end.
///
/// Layout: `predictions.jsonl`, `predictions.csv`, `coco_predictions.json`, `errors.jsonl` (always; one
/// `{"path": …, "reason": …}` per failed input), `labels/…`, annotated copies, `crops/…`, and `.yolo/` (the
/// journal, the COCO records until the end, and `tmp/` for files being written).
final class BatchSaveDirectory {
    static let jsonlName = "predictions.jsonl"
    static let csvName = "predictions.csv"
    static let cocoName = "coco_predictions.json"
    static let errorsName = "errors.jsonl"
    static let stateName = ".yolo"

    let path: String
    let options: BatchOutputOptions
    let categoryIDs: [Int]
    let files: AtomicFileWriter
    /// Appended files in journal order: predictions.jsonl, predictions.csv, errors.jsonl, .yolo/coco.jsonl.
    private let logs: [AppendFile?]
    private let journal: BatchJournal
    /// Inputs finished by an earlier run of this save directory (relative paths) and their counts.
    let recovered: BatchJournal.Recovered?

    var statePath: String { (path as NSString).appendingPathComponent(BatchSaveDirectory.stateName) }
    var temporaryPath: String { (statePath as NSString).appendingPathComponent("tmp") }
    private var cocoRecordsPath: String { (statePath as NSString).appendingPathComponent("coco.jsonl") }
    private var journalPath: String { (statePath as NSString).appendingPathComponent("journal.jsonl") }

    /// The folder to use: `explicit`, or the next `runs/detect/predictN` (`RunFolder.choose`).
    static func choose(explicit: String?, existOK: Bool, resume: Bool) -> String {
        RunFolder.choose(explicit: explicit, existOK: existOK, resume: resume, name: "predict")
    }

    /// Opens the directory. Without `resume`, a directory holding an earlier run's journal is refused unless
    /// `existOK` (then that run's appended files start over; its other files are overwritten as inputs come).
    init(path: String, options: BatchOutputOptions, settings: [String: String], names: [String],
         existOK: Bool, resume: Bool) throws {
        self.path = path
        self.options = options
        categoryIDs = COCOOutput.categoryIDs(names: names)
        let fm = FileManager.default
        let root = path as NSString
        let logPaths: [String?] = [options.jsonl ? root.appendingPathComponent(BatchSaveDirectory.jsonlName) : nil,
                                   options.csv ? root.appendingPathComponent(BatchSaveDirectory.csvName) : nil,
                                   root.appendingPathComponent(BatchSaveDirectory.errorsName),
                                   options.coco ? (root.appendingPathComponent(BatchSaveDirectory.stateName) as NSString).appendingPathComponent("coco.jsonl") : nil]
        let journalPath = (root.appendingPathComponent(BatchSaveDirectory.stateName) as NSString).appendingPathComponent("journal.jsonl")

        if !resume && !existOK && fm.fileExists(atPath: journalPath) {
            throw BatchUsageError("\(path) holds the outputs of an earlier run: add --resume to finish it, --exist-ok to "
                                  + "overwrite it, or choose another --save-dir")
        }
        var recovered: BatchJournal.Recovered? = nil
        if resume {
            recovered = try BatchJournal.recover(path: journalPath, settings: settings,
                                                 currentSizes: logPaths.map { $0.flatMap(fileSize) ?? 0 })
        }
        self.recovered = recovered

        // A fresh state folder (or the one being resumed), minus files being written when a run was killed.
        files = try AtomicFileWriter(temporaryFolder: (root.appendingPathComponent(BatchSaveDirectory.stateName) as NSString).appendingPathComponent("tmp"))
        for leftover in (try? fm.contentsOfDirectory(atPath: files.temporaryFolder)) ?? [] {
            try? fm.removeItem(atPath: (files.temporaryFolder as NSString).appendingPathComponent(leftover))
        }
        let fresh = recovered == nil
        logs = try logPaths.map { p in try p.map { try AppendFile(path: $0, truncate: fresh) } }
        if let recovered {
            for (log, size) in zip(logs, recovered.sizes) { try log?.truncate(to: size) }
            journal = try BatchJournal(path: journalPath, truncateTo: recovered.length)
        } else {
            try logs[1]?.append(CSVOutput.header)
            journal = try BatchJournal(path: journalPath, truncateTo: nil)
            try journal.append(BatchJournal.header(settings: settings, sizes: sizes))
        }
    }

    private var sizes: [Int] { logs.map { $0?.size ?? 0 } }

    /// Writes an input's own files (labels, annotated copy, crops). Thread-safe; any order.
    func writeFiles(_ item: BatchItem, _ result: DetectionResult, _ image: RGBImage?) throws {
        let root = path as NSString
        if options.txt {
            try files.write(YOLOLabelOutput.text(result, saveConfidence: options.saveConfidence),
                            to: root.appendingPathComponent(YOLOLabelOutput.relativePath(for: item.relativePath)))
        }
        if options.images, let image {
            let target = root.appendingPathComponent(ImageOutput.annotatedPath(for: item.relativePath))
            try files.write(try ImageOutput.encode(Drawing.annotate(image, result.boxes), forPath: target), to: target)
        }
        if options.crops, let image {
            for (relative, index) in ImageOutput.cropPaths(for: item.relativePath, detections: result.boxes) {
                guard let crop = ImageOutput.crop(image, box: result.boxes[index].box) else { continue }
                try files.write(try ImageEncoder.jpegData(crop, quality: 95), to: root.appendingPathComponent(relative))
            }
        }
    }

    /// Appends an input's records and seals them with a checkpoint. Called in input order, on one thread.
    /// Returns the per-class counts recorded.
    @discardableResult
    func commit(_ item: BatchItem, _ outcome: BatchOutcome) throws -> [(Int, Int)] {
        var classes: [(Int, Int)] = []
        switch outcome {
        case .success(let result, _):
            var counts: [Int: Int] = [:]
            for d in result.boxes { counts[d.classIndex, default: 0] += 1 }
            classes = counts.keys.sorted().map { ($0, counts[$0]!) }
            try logs[0]?.append(JSONOutput.result(result) + "\n")
            try logs[1]?.append(CSVOutput.rows(result))
            if let coco = logs[3] {
                let entries = COCOOutput.entries(result, relativePath: item.relativePath, categoryIDs: categoryIDs)
                try coco.append(entries.map { $0 + "\n" }.joined())
            }
        case .failure(let failure):
            try logs[2]?.append("{\"path\": \(JSONOutput.string(failure.path)), \"reason\": \(JSONOutput.string(failure.reason))}\n")
        }
        let ok: Bool
        if case .success = outcome { ok = true } else { ok = false }
        try journal.append(BatchJournal.entry(relativePath: item.relativePath, ok: ok, classes: classes, sizes: sizes))
        return classes
    }

    /// Writes the whole-run files (the COCO results array) and removes the temporary folder.
    func finish() throws {
        if options.coco {
            // Streamed from the records file: memory does not grow with the number of detections.
            let target = (path as NSString).appendingPathComponent(BatchSaveDirectory.cocoName)
            let temporary = (files.temporaryFolder as NSString).appendingPathComponent("coco-final.tmp")
            let out = try AppendFile(path: temporary, truncate: true)
            try out.append("[")
            var first = true
            if let reader = FileHandle(forReadingAtPath: cocoRecordsPath) {
                defer { try? reader.close() }
                var pending = Data()
                while true {
                    let chunk = reader.readData(ofLength: 1 << 20)
                    if chunk.isEmpty { break }
                    pending.append(chunk)
                    guard let cut = pending.lastIndex(of: UInt8(ascii: "\n")) else { continue }
                    let complete = pending[pending.startIndex...cut]
                    pending = Data(pending[(cut + 1)...])
                    for line in complete.split(separator: UInt8(ascii: "\n")) where !line.isEmpty {
                        try out.append((first ? "\n" : ",\n") + String(decoding: line, as: UTF8.self))
                        first = false
                    }
                }
            }
            try out.append(first ? "]\n" : "\n]\n")
            guard rename(temporary, target) == 0 else { throw OutputError.posix(target, "cannot rename \(temporary) to it") }
        }
        try? FileManager.default.removeItem(atPath: temporaryPath)
    }

    /// Ends a cancelled run: only the temporary folder goes (the whole-run files wait for the end of the run).
    func abandon() {
        try? FileManager.default.removeItem(atPath: temporaryPath)
    }

    /// What was written, for the summary: "predictions.jsonl, labels/ (1 234 files), …".
    var outputList: [String] {
        var list: [String] = []
        if options.jsonl { list.append(BatchSaveDirectory.jsonlName) }
        if options.csv { list.append(BatchSaveDirectory.csvName) }
        if options.txt { list.append("labels/") }
        if options.coco { list.append(BatchSaveDirectory.cocoName) }
        if options.images { list.append("annotated images") }
        if options.crops { list.append("crops/") }
        list.append(BatchSaveDirectory.errorsName)
        return list
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
