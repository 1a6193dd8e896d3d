import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A whole `yolo detect` run over many inputs: enumerate and shard the sources, pick up an earlier run
/// (`resume`), stream the inputs through the pipeline, write every output as it goes, report progress, and
/// sum up. The command line is a thin layer over this.
public final class BatchJob {
    public struct Configuration {
        public var sources: [String]
        public var recursive = false
        public var shard: BatchShard? = nil
        public var options = DetectionOptions()
        public var outputs = BatchOutputOptions()
        /// Save folder; nil with outputs on: `runs/detect/predict`, `predict2`, …
        public var saveDirectory: String? = nil
        public var existOK = false
        public var resume = false
        /// CPU threads in all (network and decoding).
        public var threads = ProcessInfo.processInfo.activeProcessorCount
        /// Images in the network stage at once, each on its own copy of the network with threads/batch threads.
        public var batch = 1
        /// Threads that decode and resize ahead of the network (and write per-image files); 0: no read-ahead
        /// (each image decoded after the previous one is finished); nil: 1.
        public var decodeThreads: Int? = nil
        public var progress: BatchProgress.Style = .off
        public var progressInterval = 10.0
        /// What else shapes the outputs (model, input size, head), recorded so that `--resume` can refuse a change.
        public var modelSettings: [String: String] = [:]
        public var maxPixels = ImageDecoder.defaultMaxPixels

        public init(sources: [String]) { self.sources = sources }

        public var saves: Bool { outputs.any || saveDirectory != nil }

        var settings: [String: String] {
            var s = modelSettings
            s["conf"] = "\(options.confidence)"
            s["iou"] = options.iou.map { "\($0)" } ?? "model default"
            s["max-det"] = "\(options.maxDetections)"
            s["classes"] = options.classes.map { $0.sorted().map(String.init).joined(separator: ",") } ?? "all"
            s["agnostic-nms"] = "\(options.agnostic)"
            s["outputs"] = outputs.names.joined(separator: ",")
            s["save-conf"] = "\(outputs.saveConfidence)"
            s["shard"] = shard?.description ?? "all"
            s["recursive"] = "\(recursive)"
            s["sources"] = sources.map { $0 == "-" ? "-" : absolutePath($0) }.joined(separator: "\n")
            return s
        }
    }

    /// How a run went.
    public struct Report {
        /// Inputs of this run (this shard), including those an earlier run finished.
        public var total = 0
        /// Finished by this invocation.
        public var processed = 0
        /// Finished before, by the run this one resumed.
        public var resumed = 0
        /// Counts over the whole run (earlier part included).
        public var tally = BatchTally()
        public var names: [String] = []
        public var seconds = 0.0
        public var saveDirectory: String?
        public var outputs: [String] = []
        /// Stopped by `cancel` before every input was done.
        public var cancelled = false

        public var failures: Int { tally.failures }
        public var imagesPerSecond: Double { seconds > 0 ? Double(processed) / seconds : 0 }

        /// Detections per class name, most frequent first.
        public var detectionsPerClass: [(name: String, count: Int)] {
            tally.detections.map { (c, n) in (c < names.count ? names[c] : "class\(c)", n) }
                .sorted { $0.count != $1.count ? $0.count > $1.count : $0.name < $1.name }
        }

        /// A few lines for the end of a run.
        public var summary: String {
            var lines: [String] = []
            var counts: [String] = []
            if resumed > 0 { counts.append("\(resumed) done before --resume, \(processed) now") }
            if failures > 0 { counts.append("\(failures) failed") }
            var first = cancelled ? "Stopped after \(tally.images) of \(total) inputs" : "Done: \(tally.images) input\(tally.images == 1 ? "" : "s")"
            if !counts.isEmpty { first += " (" + counts.joined(separator: ", ") + ")" }
            first += " in " + BatchProgress.duration(seconds) + String(format: ", %.2f images/s", imagesPerSecond)
            lines.append(first)
            let detections = tally.detections.values.reduce(0, +)
            lines.append("Detections: \(detections)"
                         + (detections > 0 ? " (" + detectionsPerClass.map { "\($0.count) \($0.name)" }.joined(separator: ", ") + ")" : ""))
            if let saveDirectory {
                if failures > 0 {
                    lines.append("Failed inputs: listed in \((saveDirectory as NSString).appendingPathComponent(BatchSaveDirectory.errorsName))")
                }
                lines.append("Results: \(saveDirectory)/ (" + outputs.joined(separator: ", ") + ")")
                if cancelled { lines.append("Run the same command with --resume to finish.") }
            }
            return lines.joined(separator: "\n")
        }
    }

    public let configuration: Configuration
    private let lock = NSLock()
    private var cancelRequested = false
    private var pipeline: BatchPipeline?

    public init(_ configuration: Configuration) {
        self.configuration = configuration
    }

    /// Stops the run soon and cleanly: the inputs already committed stay committed, the ones in flight are
    /// dropped, the whole-run files are not written, and `--resume` carries on from there. Thread-safe.
    public func cancel() {
        lock.lock()
        cancelRequested = true
        let p = pipeline
        lock.unlock()
        p?.cancel()
    }

    /// The inputs of this run: enumerated, sorted, this shard's part.
    public func inputs(standardInput: () -> String? = { BatchSource.readStandardInput() }) -> [BatchItem] {
        let all = BatchSource.enumerate(configuration.sources, recursive: configuration.recursive, standardInput: standardInput)
        guard let shard = configuration.shard else { return all }
        return all.filter(shard.contains)
    }

    /// Runs the job. `detector` is loaded by the caller (its failure is a usage error there); with `batch` > 1,
    /// `makeDetector(threads)` loads the other copies. `onResult`/`onFailure` see each input in order (the
    /// command line prints from them); failures also go to standard error unless `onFailure` is given.
    /// Throws `BatchUsageError` for a bad setting (exit 2) and `OutputError` when outputs cannot be written.
    public func run(detector: Detector, makeDetector: (Int) throws -> Detector,
                    onResult: ((DetectionResult) -> Void)? = nil,
                    onFailure: ((BatchFailure) -> Void)? = nil,
                    standardInput: () -> String? = { BatchSource.readStandardInput() }) throws -> Report {
        let c = configuration
        guard c.threads >= 1 else { throw BatchUsageError("--threads must be positive (got \(c.threads))") }
        guard c.batch >= 1 else { throw BatchUsageError("--batch must be positive (got \(c.batch))") }
        if let d = c.decodeThreads, d < 0 { throw BatchUsageError("--decode-threads must be 0 or more (got \(d))") }
        var outputs = c.outputs
        if c.saveDirectory != nil && !outputs.any { outputs.jsonl = true }  // a save folder alone keeps the JSON lines

        var save: BatchSaveDirectory? = nil
        if outputs.any {
            let folder = BatchSaveDirectory.choose(explicit: c.saveDirectory, existOK: c.existOK, resume: c.resume)
            var settings = c.settings
            settings["outputs"] = outputs.names.joined(separator: ",")
            do {
                save = try BatchSaveDirectory(path: folder, options: outputs, settings: settings, names: detector.names,
                                              existOK: c.existOK, resume: c.resume)
            } catch let error as OutputError {
                throw BatchUsageError("cannot save results in \(folder): \(error)")
            }
        }
        var items = inputs(standardInput: standardInput)
        var report = Report()
        report.names = detector.names
        report.total = items.count
        report.saveDirectory = save?.path
        if let recovered = save?.recovered {
            report.tally = recovered.tally
            report.resumed = recovered.tally.images
            items.removeAll { recovered.done.contains($0.relativePath) }
        }

        // Threads: `batch` network workers share `threads` for their GEMMs; decoding runs beside them.
        // `detector` is used as the first worker when it already has that many threads (the CLI loads it so).
        let perNetwork = max(1, c.threads / c.batch)
        var detectors = [detector.execution.threads == perNetwork ? detector : try makeDetector(perNetwork)]
        for _ in 1..<max(1, min(c.batch, items.count)) { detectors.append(try makeDetector(perNetwork)) }
        var pipeline = BatchPipeline.Configuration()
        let decoders = c.decodeThreads ?? 1
        pipeline.prepareThreads = max(1, decoders)
        // 0 decode threads: no read-ahead, each image is decoded only once the previous one is done.
        pipeline.inFlight = decoders == 0 ? detectors.count : decoders + detectors.count + 1
        pipeline.keepImages = outputs.needsPixels
        pipeline.options = c.options
        pipeline.maxPixels = c.maxPixels

        let progress = BatchProgress(style: c.progress, total: report.total, alreadyDone: report.resumed,
                                     failuresBefore: report.tally.failures, interval: c.progressInterval)
        var writeError: Error? = nil
        let render: BatchPipeline.Render? = (save.map { s in outputs.perImage ? { try s.writeFiles($0, $1, $2) } : nil }) ?? nil
        let pipelineRun = BatchPipeline(items: items, detectors: detectors, configuration: pipeline, render: render)
        lock.lock()
        self.pipeline = pipelineRun
        if cancelRequested { pipelineRun.cancel() }
        lock.unlock()
        let runStart = DispatchTime.now()
        pipelineRun.run { index, outcome in
            guard writeError == nil else { return }
            let item = items[index]
            do {
                // Outputs that cannot be written (a full disk) end the run, input not committed: --resume redoes it.
                if case .failure(let failure) = outcome, let error = failure.outputError { throw error }
                let classes: [(Int, Int)]
                if let save { classes = try save.commit(item, outcome) } else { classes = BatchJob.classCounts(outcome) }
                switch outcome {
                case .success(let result, _):
                    report.tally.add(ok: true, classes: classes)
                    onResult?(result)
                case .failure(let failure):
                    report.tally.add(ok: false, classes: [])
                    if let onFailure { onFailure(failure) } else { progress.message("error: \(failure)") }
                }
                report.processed += 1
                if outputs.needsPixels { trimHeap() }
                if case .failure = outcome { progress.advance(failed: true) } else { progress.advance(failed: false) }
            } catch {
                writeError = error
                pipelineRun.cancel()
            }
        }
        if let writeError {
            save?.abandon()
            progress.finish()
            throw writeError
        }
        report.seconds = Double(DispatchTime.now().uptimeNanoseconds - runStart.uptimeNanoseconds) / 1e9
        lock.lock()
        report.cancelled = cancelRequested && report.processed < items.count
        lock.unlock()
        if report.cancelled { save?.abandon() } else { try save?.finish() }
        progress.finish()
        report.outputs = save?.outputList ?? []
        return report
    }

    static func classCounts(_ outcome: BatchOutcome) -> [(Int, Int)] {
        guard case .success(let result, _) = outcome else { return [] }
        var counts: [Int: Int] = [:]
        for d in result.boxes { counts[d.classIndex, default: 0] += 1 }
        return counts.keys.sorted().map { ($0, counts[$0]!) }
    }
}

/// Hands freed heap pages back to the system (glibc `malloc_trim`, looked up at run time; a no-op elsewhere).
/// Decoded photos are large and of many sizes: without this, glibc's per-thread arenas keep the pages of the
/// biggest mix of images seen so far, and the resident size creeps up with the number of images.
func trimHeap() { _ = mallocTrim?(0) }

private typealias MallocTrim = @convention(c) (Int) -> Int32
private let mallocTrim: MallocTrim? = {
    guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc_trim") else { return nil }
    return unsafeBitCast(symbol, to: MallocTrim.self)
}()
