import ArgumentParser
import Foundation
import YOLOKit

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure latency per stage and per layer, for the OpenBLAS and the pure-Swift GEMM backends.",
        discussion: """
        After warm-up, runs detection --runs times per backend and reports min / median / max per stage \
        (decode, preprocess, forward, postprocess); then profiles --runs forward passes layer by layer: for every \
        convolution its GEMM shape (M, N, K), the GEMM's own time and GFLOP/s, the whole layer's time and its share \
        of the forward pass. The machine's peak is measured as a large square sgemm (--peak-size), so each figure \
        reads as a fraction of what the CPU can do. --format json prints the same figures as one object.
        --train times training steps instead (TrainBenchmark): forward in training mode + detection loss + backward \
        of an Ultralytics checkpoint on a synthetic --batch at --imgsz (default: the checkpoint's), one backend, \
        --rounds timed steps after --warmup (default 1); ms per batch, images/s, the activations kept for the \
        backward pass, and the time per op kind. scripts/bench-train.py runs PyTorch on the same step.
        """
    )

    @OptionGroup(title: "Model")
    var modelOptions: ModelOptions

    @Option(help: "Image to run on (default: Models/samples/bus.jpg).")
    var image: String?

    @Option(help: "Timed runs per backend (after --warmup untimed ones), for the stages and again for the layers (default 20).")
    var runs: Int?

    @Option(help: "Untimed warm-up runs per backend (default 3; with --train, untimed steps, default 1).")
    var warmup: Int?

    @Flag(help: "Time training steps (forward in training mode + loss + backward) of an Ultralytics checkpoint instead.")
    var train = false

    @Option(help: "--train: images per synthetic batch (default 2).")
    var batch: Int?

    @Option(help: "--train: timed training steps (default 3).")
    var rounds: Int?

    @Option(name: .customLong("peak-size"), help: "Size of the square sgemm that measures the machine's peak (0: skip).")
    var peakSize: Int = 2048

    @Option(help: "Output format: text or json.")
    var format: OutputFormat = .text

    @Option(help: "Per-layer clock: wall, or cpu (the thread's CPU time, --threads 1 only: steadier on a busy machine).")
    var clock: BenchClock = .wall

    func validate() throws {
        if let runs, runs <= 0 { throw ValidationError("--runs must be positive (got \(runs))") }
        if let warmup, warmup < 0 { throw ValidationError("--warmup must not be negative (got \(warmup))") }
        if train { return try validateTraining() }
        guard batch == nil, rounds == nil else { throw ValidationError("--batch and --rounds go with --train (training steps)") }
        guard clock == .wall || threads == 1 else { throw ValidationError("--clock cpu needs --threads 1 (CPU time of one thread)") }
        guard (0...16384).contains(peakSize) else { throw ValidationError("--peak-size must be between 0 and 16384 (got \(peakSize))") }
    }

    func validateTraining() throws {
        if let batch, batch <= 0 { throw ValidationError("--batch must be positive (got \(batch))") }
        if let rounds, rounds <= 0 { throw ValidationError("--rounds must be positive (got \(rounds))") }
        guard modelOptions.backend != .both else { throw ValidationError("--train times one backend: --backend blas or swift") }
        guard runs == nil else { throw ValidationError("--train counts its timed steps with --rounds, not --runs") }
        guard image == nil else { throw ValidationError("--image is not read with --train (it times a synthetic batch)") }
        guard clock == .wall else { throw ValidationError("--clock cpu is not available with --train (wall time only)") }
        guard !modelOptions.end2end else { throw ValidationError("--end2end does not apply to --train (YOLO26's end-to-end loss is not implemented)") }
    }

    var threads: Int { modelOptions.threads }
    var backends: [GEMMBackendKind] { (modelOptions.backend ?? .both).kinds }

    func run() throws {
        if train { return try runTraining() }
        let runs = runs ?? 20, warmup = warmup ?? 3
        // One detector per backend (the backend is part of a detector's ExecutionOptions); same model file and size.
        var detectors: [Detector] = []
        let path: String
        let decoded: RGBImage
        do {
            let imageSize = modelOptions.roundedImageSize()
            for kind in backends { detectors.append(try modelOptions.detector(backend: kind, imageSize: imageSize)) }
            path = try image ?? ModelRegistry.samplePhoto("bus.jpg")
            decoded = try ImageDecoder.decode(contentsOf: path)
        } catch {
            printError("error: \(error)")
            throw ExitCode(2)
        }
        let measurement = BenchMeasurement(threads: threads, runs: runs, warmup: warmup, clock: clock)
        var results: [BackendResult] = []
        for detector in detectors { results.append(try measurement.measure(detector, path: path, image: decoded)) }
        let network = detectors[0].network(for: decoded)
        let shapes = measurement.gemmShapes(network)
        let shapeTimes = measurement.timeShapes(shapes.flatMap { $0 }, backends: detectors.map(\.execution), repeats: max(3, min(runs, 10)))
        var peaks: [(GEMMBackendKind, Double)] = []
        if peakSize > 0 {
            for detector in detectors { peaks.append((detector.execution.backend, measurement.squareSGEMM(detector.execution.gemm, size: peakSize))) }
        }
        let report = BenchReport(model: detectors[0].model.summary, image: path, imageSize: (decoded.width, decoded.height), network: network,
                                 threads: threads, runs: runs, warmup: warmup, peakSize: peakSize, peaks: peaks, backends: results,
                                 shapes: shapes, shapeTimes: shapeTimes, clock: clock)
        switch format {
        case .text: print(report.text)
        case .json: print(report.json.serialized())
        }
    }

    func runTraining() throws {
        let report: TrainBenchReport
        do {
            let benchmark = TrainBenchmark(model: modelOptions.model, batch: batch ?? 2, imageSize: modelOptions.roundedImageSize(),
                                           execution: modelOptions.execution(backend: modelOptions.selectedBackend),
                                           rounds: rounds ?? 3, warmup: warmup ?? 1)
            report = try benchmark.run()
        } catch {
            printError("error: \(error)")
            throw ExitCode(2)
        }
        switch format {
        case .text: print(report.text)
        case .json: print(report.json.serialized())
        }
    }
}
