import ArgumentParser
import YOLOKit

/// `yolo compress`: low-rank factorization of convolutions (truncated SVD) into a safetensors model.
struct CompressCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compress",
        abstract: "Replace convolutions by low-rank pairs (a k×k conv to r channels, then a 1×1 conv back) by truncated SVD, and write the model as safetensors.",
        discussion: """
        Each ungrouped conv's weight W[Cout, Cin·k·k] ≈ U·Σ·Vᵀ (LAPACKE sgesdd) is cut to rank r — the smallest keeping \
        --energy of Σσ², or --rank-ratio of full rank — and replaced only where the pair costs at most --max-cost of \
        the original's multiply-accumulates. The result loads with --model alone. Accuracy drops without \
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

    func validate() throws {
        guard (rankRatio == nil) != (energy == nil) else { throw ValidationError("give one of --rank-ratio or --energy") }
        if let rankRatio, !(rankRatio > 0 && rankRatio <= 1) { throw ValidationError("--rank-ratio must be in (0, 1] (got \(rankRatio))") }
        if let energy, !(energy > 0 && energy <= 1) { throw ValidationError("--energy must be in (0, 1] (got \(energy))") }
        guard maxCost > 0 else { throw ValidationError("--max-cost must be positive (got \(maxCost))") }
        guard roundTo >= 1 else { throw ValidationError("--round-to must be at least 1 (got \(roundTo))") }
    }

    func run() throws {
        let rank: LowRankOptions.Rank = rankRatio.map { .ratio($0) } ?? .energy(energy!)
        let options = LowRankOptions(rank: rank, maxCostFraction: maxCost, roundTo: roundTo)
        try report.run(suffix: "lowrank", unit: "rank") { model, path, dtype in try model.factorize(options, to: path, dtype: dtype) }
    }
}
