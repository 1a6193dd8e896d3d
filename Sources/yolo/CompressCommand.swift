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
        --energy of Σσ², or --rank-ratio of full rank. A conv is replaced only where the pair costs at most --max-cost \
        of the original's multiply-accumulates and, timed at the conv's input shape with this run's backend, threads \
        and Winograd policy (best of 5 runs), takes at most --max-time of the original's time: a 3×3 conv that runs as \
        Winograd or a small GEMM far from peak can be slower as a pair that counts fewer multiplies. With --calib DIR \
        the factorization is data-aware: each conv keeps the principal subspace of its outputs on those photos (the \
        rank-r conv closest to the original there), the energy then being the fraction of the output variance kept. \
        --error-budget B (with --calib) chooses each conv's rank instead: the ones the measured times save most by, per \
        unit of the estimated error they add to what the heads read on the calibration photos, while the errors sum \
        to at most B (\(recommendedErrorBudget), the default with --calib). The result loads with --model alone. \
        Accuracy drops without fine-tuning; the report gives parameters, GFLOPs, file size, forward time (same run), \
        mAP50-95 on --data and agreement with the original on --images, then each conv's rank and measured times, or \
        why it was left alone. Exit status as `yolo prune`.
        """)

    @OptionGroup var report: CompressionReportOptions

    @Option(name: .customLong("rank-ratio"), help: "Rank as a fraction of each conv's full rank min(Cout, Cin·k²), in (0, 1].")
    var rankRatio: Double?

    @Option(help: "Rank as the fraction of Σσ² (the weights' energy) kept, in (0, 1].")
    var energy: Double?

    @Option(name: .customLong("max-cost"), help: "Consider (time) a conv only when the pair's multiply-accumulates are at most this fraction of the original's (above 1: every conv).")
    var maxCost: Double = 0.75

    @Option(name: .customLong("max-time"), help: "Replace a conv only when the pair, timed as the network runs it, takes at most this fraction of the conv's time (0: no timing, --max-cost alone decides).")
    var maxTime: Double = 0.9

    @Option(name: .customLong("error-budget"), help: "With --calib: choose each conv's rank for the most measured time saved while the estimated output errors on the calibration photos sum to at most this.")
    var errorBudget: Double?

    @Option(name: .customLong("sensitivity-images"), help: "With --error-budget: how many of the calibration photos the output errors are measured on.")
    var sensitivityImages: Int = 4

    @Option(name: .customLong("round-to"), help: "Round ranks up to a multiple of this (1: exact).")
    var roundTo: Int = 8

    /// The default with --calib (README, "Data-aware low-rank", measured while other builds ran): ≥ 15 % faster at
    /// agreement ≥ 0.8 on yolov3-tiny, and on the fall checkpoint in one of two runs (the other: −6 % at 0.88).
    static let recommendedErrorBudget = 0.03

    @Option(help: "Folder of calibration photos: factor each conv by its outputs on them, not by its weights alone (default --error-budget \(recommendedErrorBudget)).")
    var calib: String?

    @Option(name: .customLong("calib-images"), help: "How many photos of --calib to use (the first, by name).")
    var calibImages: Int = 16

    func validate() throws {
        guard calibImages >= 1 else { throw ValidationError("--calib-images must be at least 1 (got \(calibImages))") }
        let given = [rankRatio != nil, energy != nil, errorBudget != nil].filter { $0 }.count
        if calib == nil {
            guard errorBudget == nil else { throw ValidationError("--error-budget needs --calib DIR (the photos the output errors are measured on)") }
            guard given == 1 else { throw ValidationError("give one of --rank-ratio or --energy (or --calib DIR, whose default is --error-budget \(Self.recommendedErrorBudget))") }
        } else if given > 1 {
            throw ValidationError("give at most one of --rank-ratio, --energy or --error-budget")
        }
        if let rankRatio, !(rankRatio > 0 && rankRatio <= 1) { throw ValidationError("--rank-ratio must be in (0, 1] (got \(rankRatio))") }
        if let energy, !(energy > 0 && energy <= 1) { throw ValidationError("--energy must be in (0, 1] (got \(energy))") }
        if let errorBudget, !(errorBudget >= 0) { throw ValidationError("--error-budget must be at least 0 (got \(errorBudget))") }
        guard maxCost > 0 else { throw ValidationError("--max-cost must be positive (got \(maxCost))") }
        guard maxTime >= 0 else { throw ValidationError("--max-time must be at least 0 (got \(maxTime))") }
        if maxTime == 0 && (errorBudget != nil || (calib != nil && given == 0)) {
            throw ValidationError("--error-budget chooses ranks by their measured time: give --max-time above 0 (or --energy with --max-time 0)")
        }
        guard sensitivityImages >= 1 else { throw ValidationError("--sensitivity-images must be at least 1 (got \(sensitivityImages))") }
        guard roundTo >= 1 else { throw ValidationError("--round-to must be at least 1 (got \(roundTo))") }
    }

    func run() throws {
        let rank: LowRankOptions.Rank = rankRatio.map { .ratio($0) } ?? energy.map { .energy($0) } ?? .errorBudget(errorBudget ?? Self.recommendedErrorBudget)
        if calib != nil && rankRatio == nil && energy == nil && errorBudget == nil {
            print("--error-budget \(Self.recommendedErrorBudget) (the recommended setting with --calib)")
        }
        let backend = report.modelOptions.selectedBackend
        let options = LowRankOptions(rank: rank, maxCostFraction: maxCost, timing: maxTime > 0 ? MeasuredCost(maxTimeFraction: maxTime) : nil,
                                     roundTo: roundTo, calibration: try calibration(), execution: report.modelOptions.execution(backend: backend),
                                     sensitivityImages: sensitivityImages)
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
