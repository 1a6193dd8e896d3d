/// The curves of a run, per epoch, on the project's own plotting (`LinePlot`): `results_losses.png` (train and val
/// box / cls / dfl losses) and `results_metrics.png` (precision, recall, mAP50, mAP50-95). Ultralytics draws the same
/// ten curves in one results.png grid.
public enum TrainingPlots {
    public static func render(_ rows: [EpochResult]) -> [(name: String, image: RGBImage)] {
        guard !rows.isEmpty else { return [] }
        let epochs = rows.map { Double($0.epoch) }
        let xRange = (epochs.first! - (epochs.count == 1 ? 1 : 0))...max(epochs.last!, epochs.first! + 1)
        func plot(_ title: String, _ yLabel: String, _ curves: [(String, [Double], RGBColor, Int)]) -> RGBImage {
            let top = curves.flatMap(\.1).filter(\.isFinite).max() ?? 1
            let series = curves.map { LinePlot.Series(x: epochs, y: $0.1, color: $0.2, lineWidth: $0.3) }
            let legend = curves.map { LinePlot.LegendEntry(label: $0.0, color: $0.2, lineWidth: $0.3) }
            return LinePlot(title: title, xLabel: "epoch", yLabel: yLabel, xRange: xRange, yRange: 0...max(top * 1.05, 1e-6),
                            series: series, legend: legend).render()
        }
        let colors = [RGBColor(31, 119, 180), RGBColor(255, 127, 14), RGBColor(44, 160, 44), RGBColor(214, 39, 40)]
        let losses = plot("Losses", "loss", [
            ("train/box_loss", rows.map(\.trainLoss.box), colors[0], 3), ("train/cls_loss", rows.map(\.trainLoss.cls), colors[1], 3),
            ("train/dfl_loss", rows.map(\.trainLoss.dfl), colors[2], 3), ("val/box_loss", rows.map(\.valLoss.box), colors[0], 1),
            ("val/cls_loss", rows.map(\.valLoss.cls), colors[1], 1), ("val/dfl_loss", rows.map(\.valLoss.dfl), colors[2], 1),
        ])
        let metrics = plot("Metrics", "value", [
            ("precision(B)", rows.map(\.precision), colors[0], 2), ("recall(B)", rows.map(\.recall), colors[1], 2),
            ("mAP50(B)", rows.map(\.mAP50), colors[2], 3), ("mAP50-95(B)", rows.map(\.mAP50_95), colors[3], 3),
        ])
        return [("results_losses.png", losses), ("results_metrics.png", metrics)]
    }
}
