import ArgumentParser
import Foundation
import YOLOKit

/// `yolo compress`: low-rank factorization of convolutions (truncated SVD) into a safetensors model.
struct CompressCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compress",
        abstract: "Replace convolutions by low-rank pairs (a k×k conv to r channels, then a 1×1 conv back) by truncated SVD, and write the model as safetensors.",
        discussion: """
        Each ungrouped conv's weight W[Cout, Cin·k·k] ≈ U·Σ·Vᵀ (LAPACKE sgesdd) is cut to rank r — the smallest keeping \
        --energy of Σσ², or --rank-ratio of full rank — and replaced only where the pair costs at most --max-cost of \
        the original's multiply-accumulates. With --calib DIR the factorization is data-aware: each conv keeps the \
        principal subspace of its outputs on those photos (the rank-r conv closest to the original there), the \
        energy then being the fraction of the output variance kept (recommended, and the default with --calib: 0.99). The result loads with --model alone. Accuracy drops without \
        fine-tuning; the report gives parameters, GFLOPs, file size, forward time (same run), mAP50-95 on --data and \
        agreement with the original on --images. Exit status as `yolo prune`.
        """)

    @OptionGroup var report: CompressionReportOptions

    @Option(name: .customLong("rank-ratio"), help: "Rank as a fraction of each conv's full rank min(Cout, Cin·k²), in (0, 1].")
    var rankRatio: Double?

    @Option(help: "Rank as the fraction of Σσ² (the weights' energy) kept, in (0, 1].")
    var energy: Double?

    @Option(name: .customLong("max-cost"), help: "Replace a conv only when the pair's multiply-accumulates are at most this fraction of the original's (above 1: every conv).")
    var maxCost: Double = 0.75

    @Option(name: .customLong("round-to"), help: "Round ranks up to a multiple of this (1: exact).")
    var roundTo: Int = 8

    /// Measured (README, "Smaller models"): on the fall checkpoint and yolov3-tiny, the data-aware factors at this
    /// energy keep agreement ≥ 0.8 with the original while cutting 15–25 % of the GFLOPs; 0.98 cut more and fell to 0.67.
    static let recommendedCalibratedEnergy = 0.99

    @Option(help: "Folder of calibration photos: factor each conv by its outputs on them, not by its weights alone (default --energy 0.99).")
    var calib: String?

    @Option(name: .customLong("calib-images"), help: "How many photos of --calib to use (the first, by name).")
    var calibImages: Int = 16

    func validate() throws {
        guard calibImages >= 1 else { throw ValidationError("--calib-images must be at least 1 (got \(calibImages))") }
        if calib == nil {
            guard (rankRatio == nil) != (energy == nil) else { throw ValidationError("give one of --rank-ratio or --energy (or --calib DIR, whose default is --energy \(Self.recommendedCalibratedEnergy))") }
        } else if rankRatio != nil && energy != nil {
            throw ValidationError("give at most one of --rank-ratio or --energy")
        }
        if let rankRatio, !(rankRatio > 0 && rankRatio <= 1) { throw ValidationError("--rank-ratio must be in (0, 1] (got \(rankRatio))") }
        if let energy, !(energy > 0 && energy <= 1) { throw ValidationError("--energy must be in (0, 1] (got \(energy))") }
        guard maxCost > 0 else { throw ValidationError("--max-cost must be positive (got \(maxCost))") }
        guard roundTo >= 1 else { throw ValidationError("--round-to must be at least 1 (got \(roundTo))") }
    }

    func run() throws {
        let rank: LowRankOptions.Rank = rankRatio.map { .ratio($0) } ?? .energy(energy ?? Self.recommendedCalibratedEnergy)
        if calib != nil && rankRatio == nil && energy == nil {
            print("--energy \(Self.recommendedCalibratedEnergy) of each conv's output variance (the recommended setting with --calib)")
        }
        let backend = report.modelOptions.selectedBackend
        let options = LowRankOptions(rank: rank, maxCostFraction: maxCost, roundTo: roundTo, calibration: try calibration(),
                                     execution: report.modelOptions.execution(backend: backend))
        try report.run(suffix: "lowrank", unit: "rank") { model, path, dtype in try model.factorize(options, to: path, dtype: dtype) }
    }

    /// The decoded --calib photos; one that does not decode is reported and left out, none at all is an error.
    func calibration() throws -> [RGBImage] {
        guard let calib else { return [] }
        let files: [String]
        do { files = try DatasetImages.list([calib]).files } catch {
            printError("error: \(error)")
            throw ExitCode(2)
        }
        var images: [RGBImage] = []
        for file in files.sorted() where images.count < calibImages {
            do { images.append(try ImageDecoder.decode(contentsOf: file)) } catch { printError("warning: \(error) (calibration photo left out)") }
        }
        guard !images.isEmpty else {
            printError("error: \(calib): no photo could be read for calibration")
            throw ExitCode(2)
        }
        return images
    }
}
