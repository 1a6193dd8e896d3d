import ArgumentParser
import YOLOKit

extension PruningOptions.Importance: ExpressibleByArgument {}

/// `yolo prune`: structured channel pruning into a smaller safetensors model.
struct PruneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prune",
        abstract: "Remove output channels from the convolutions (structured pruning) and write the smaller model as safetensors.",
        discussion: """
        Channels tied together (by residual adds, concatenations, C2f splits, depthwise convs) are removed together; \
        channels a head, attention or the input depend on are kept. In each group of tied channels the --ratio least \
        important go, by the L1 norm of their filters (--method l1) or their BatchNorm scale (--method bn). \
        The result loads with --model alone; `yolo info` shows its layers. Accuracy drops without fine-tuning. \
        The report gives parameters, GFLOPs, file size, forward time (same run), mAP50-95 on --data and agreement \
        with the original on --images. Exit status: 0, 1 when the file could not be written or images were left out, \
        2 for a bad model or usage.
        """)

    @OptionGroup var report: CompressionReportOptions

    @Option(help: "Fraction of each group of prunable channels to remove, in [0, 1).")
    var ratio: Double

    @Option(help: "Channel importance: l1 (filter L1 norm) or bn (BatchNorm |γ|).")
    var method: PruningOptions.Importance = .l1

    @Option(name: .customLong("round-to"), help: "Round kept channel counts up to a multiple of this (1: exact).")
    var roundTo: Int = 8

    func validate() throws {
        guard ratio >= 0, ratio < 1 else { throw ValidationError("--ratio must be in [0, 1) (got \(ratio))") }
        guard roundTo >= 1 else { throw ValidationError("--round-to must be at least 1 (got \(roundTo))") }
    }

    func run() throws {
        let options = PruningOptions(ratio: ratio, importance: method, roundTo: roundTo)
        try report.run(suffix: "pruned", unit: "output channels") { model, path, dtype in try model.prune(options, to: path, dtype: dtype) }
    }
}
