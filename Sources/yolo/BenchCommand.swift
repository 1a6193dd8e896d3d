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
        """
    )

    @OptionGroup(title: "Model")
    var modelOptions: ModelOptions

    @Option(help: "Image to run on (default: Models/samples/bus.jpg).")
    var image: String?

    @Option(help: "Timed runs per backend (after --warmup untimed ones), for the stages and again for the layers.")
    var runs: Int = 20

    @Option(help: "Untimed warm-up runs per backend.")
    var warmup: Int = 3

    @Option(name: .customLong("peak-size"), help: "Size of the square sgemm that measures the machine's peak (0: skip).")
    var peakSize: Int = 2048

    @Option(help: "Output format: text or json.")
    var format: OutputFormat = .text

    @Option(help: "Per-layer clock: wall, or cpu (the thread's CPU time, --threads 1 only: steadier on a busy machine).")
    var clock: BenchClock = .wall

    func validate() throws {
        guard runs > 0 else { throw ValidationError("--runs must be positive (got \(runs))") }
        guard warmup >= 0 else { throw ValidationError("--warmup must not be negative (got \(warmup))") }
        guard clock == .wall || threads == 1 else { throw ValidationError("--clock cpu needs --threads 1 (CPU time of one thread)") }
        guard (0...16384).contains(peakSize) else { throw ValidationError("--peak-size must be between 0 and 16384 (got \(peakSize))") }
    }

    var threads: Int { modelOptions.threads }
    var backends: [GEMMBackendKind] { (modelOptions.backend ?? .both).kinds }

    func run() throws {
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
}
