import Foundation
import YOLOKit

/// `yolo bench --train`: the time of one training step (forward in training mode, Ultralytics' detection loss,
/// backward into the parameter gradients; no optimizer step) of an Ultralytics checkpoint on a synthetic batch —
/// [batch, 3, imgsz, imgsz] uniform random pixels (fixed seed) and the fixed targets of `targets(image:classes:)`,
/// the same rule scripts/bench-train.py gives PyTorch — and what the forward keeps for the backward pass.
struct TrainBenchmark {
    /// A registered model name or a checkpoint path (`.pt`, or its `.safetensors` export).
    let model: String
    let batch: Int
    /// nil: the checkpoint's training imgsz (640 when it has none).
    let imageSize: Int?
    let execution: ExecutionOptions
    let rounds: Int
    let warmup: Int

    /// Per image [class, x, y, w, h] normalized (scripts/bench-train.py `targets`): even images three boxes (one
    /// small), odd images one large box; classes modulo the model's class count.
    static func targets(image: Int, classes: Int) -> [DetectionTarget] {
        let rows: [(Int, Float, Float, Float, Float)] = image % 2 == 0
            ? [(0, 0.30, 0.40, 0.25, 0.50), (1, 0.70, 0.55, 0.40, 0.30), (2, 0.52, 0.22, 0.12, 0.18)]
            : [(1, 0.45, 0.60, 0.60, 0.55)]
        return rows.map { DetectionTarget(classIndex: $0.0 % classes, x: $0.1, y: $0.2, width: $0.3, height: $0.4) }
    }

    /// Uniform [0, 1) pixels from a fixed-seed 64-bit LCG (the values do not change the work).
    static func syntheticImages(batch: Int, size: Int) -> BatchTensor {
        var state: UInt64 = 0x5DEE_CE66_D1CE_5EED
        let values = (0..<(batch * 3 * size * size)).map { _ -> Float in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(state >> 40) / Float(1 << 24)
        }
        return BatchTensor(batch: batch, channels: 3, height: size, width: size, values: values)
    }

    struct StepTimes {
        var forward: Double, loss: Double, backward: Double
        var total: Double { forward + loss + backward }
    }

    func run() throws -> TrainBenchReport {
        let path = FileManager.default.fileExists(atPath: model) ? model : try ModelRegistry.resolve(model)
        guard ["pt", "safetensors"].contains((path as NSString).pathExtension.lowercased()) else {
            throw TrainBenchError("\(path): --train needs an Ultralytics checkpoint (.pt, or its .safetensors export); Darknet models are not trainable")
        }
        let checkpoint = try UltralyticsModel(path: path, options: execution)
        var (graph, store) = try TrainingGraph.make(from: checkpoint)
        let imageSize = self.imageSize ?? checkpoint.trainingImageSize ?? 640
        let images = Self.syntheticImages(batch: batch, size: imageSize)
        let targets = (0..<batch).map { Self.targets(image: $0, classes: graph.classes) }
        let criterion = DetectionLoss(classes: graph.classes, regMax: graph.regMax)
        let gemm = execution.gemm, threads = execution.threads
        let profile = TrainingOpProfile()
        var steps: [StepTimes] = []
        var firstLoss: DetectionLossResult?
        var kept: (linear: Int, quadratic: Int, fixed: Int) = (0, 0, 0)
        for round in 0..<(warmup + rounds) {
            let timed = round >= warmup
            store.zeroGradients()
            let start = DispatchTime.now().uptimeNanoseconds
            let forward = try graph.forward(images, store: store, gemm: gemm, threads: threads, profile: timed ? profile : nil)
            let forwardDone = DispatchTime.now().uptimeNanoseconds
            let loss = try criterion.compute(levels: forward.levels, targets: targets)
            let lossDone = DispatchTime.now().uptimeNanoseconds
            try graph.backward(forward, levelGradients: loss.gradients, store: &store, gemm: gemm, threads: threads,
                               profile: timed ? profile : nil)
            let end = DispatchTime.now().uptimeNanoseconds
            if firstLoss == nil { firstLoss = loss; kept = forward.keptFloats }
            if timed {
                steps.append(StepTimes(forward: Double(forwardDone - start) / 1e6, loss: Double(lossDone - forwardDone) / 1e6,
                                       backward: Double(end - lossDone) / 1e6))
            }
        }
        return TrainBenchReport(model: path, execution: execution, batch: batch, imageSize: imageSize, rounds: rounds,
                                warmup: warmup, targetCount: targets.reduce(0) { $0 + $1.count },
                                parameterCount: store.parameters.reduce(0) { $0 + $1.values.count }, steps: steps,
                                loss: firstLoss!, keptFloats: kept, profile: profile.entries, peakRSSMB: peakResidentMB())
    }
}

struct TrainBenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// The figures of `yolo bench --train`, as text or as JSON (schema "yolo-bench-train/1", stable: fields are only
/// ever added).
struct TrainBenchReport {
    static let schema = "yolo-bench-train/1"
    let model: String
    let execution: ExecutionOptions
    let batch: Int
    let imageSize: Int
    let rounds: Int
    let warmup: Int
    let targetCount: Int
    let parameterCount: Int
    let steps: [TrainBenchmark.StepTimes]
    let loss: DetectionLossResult
    let keptFloats: (linear: Int, quadratic: Int, fixed: Int)
    let profile: [TrainingOpProfile.Entry]
    let peakRSSMB: Double

    typealias Statistic = (min: Double, median: Double, max: Double)
    func statistic(_ values: [Double]) -> Statistic { (values.min() ?? 0, median(values), values.max() ?? 0) }
    var total: Statistic { statistic(steps.map(\.total)) }
    var forward: Statistic { statistic(steps.map(\.forward)) }
    var lossTime: Statistic { statistic(steps.map(\.loss)) }
    var backward: Statistic { statistic(steps.map(\.backward)) }
    var imagesPerSecond: Double { Double(batch) / total.median * 1e3 }
    var keptBytes: Int { 4 * (keptFloats.linear + keptFloats.quadratic + keptFloats.fixed) }
    var backendName: String { execution.backend.rawValue + (execution.gemm.detail.map { " (\($0))" } ?? "") }

    var text: String {
        func ms(_ s: Statistic) -> String { String(format: "min %.1f  median %.1f  max %.1f ms", s.min, s.median, s.max) }
        var lines = [
            "yolo bench --train: \(model), batch \(batch)×3×\(imageSize)×\(imageSize), \(targetCount) fixed targets, \(execution.threads) threads, \(backendName) GEMM",
            "\(rounds) timed steps after \(warmup) warm-up; a step is forward (training mode) + loss + backward, no optimizer step",
            "  step      \(ms(total))  →  \(String(format: "%.2f", imagesPerSecond)) images/s",
            "  forward   \(ms(forward))",
            "  loss      \(ms(lossTime))",
            "  backward  \(ms(backward))",
            String(format: "  kept for the backward pass: %.1f MiB (%d floats: %d scale with N·H·W, %d with N·(H·W)², %d fixed); %d parameters; peak RSS %.0f MB",
                   Double(keptBytes) / 1_048_576, keptBytes / 4, keptFloats.linear, keptFloats.quadratic, keptFloats.fixed, parameterCount, peakRSSMB),
            String(format: "  loss (first step): box %.5f  cls %.5f  dfl %.5f", loss.boxLoss, loss.classLoss, loss.dflLoss),
            "",
            "per op kind, mean ms per step:",
            "  kind              ops   forward  backward   share",
        ]
        let perStep = Double(max(steps.count, 1))
        let opTotal = profile.reduce(0) { $0 + $1.forwardSeconds + $1.backwardSeconds }
        for entry in profile.sorted(by: { $0.forwardSeconds + $0.backwardSeconds > $1.forwardSeconds + $1.backwardSeconds }) {
            let f = entry.forwardSeconds * 1e3 / perStep, b = entry.backwardSeconds * 1e3 / perStep
            lines.append(String(format: "  %@ %5d  %8.1f  %8.1f  %5.1f%%", entry.kind.padding(toLength: 16, withPad: " ", startingAt: 0),
                                entry.count, f, b, 100 * (entry.forwardSeconds + entry.backwardSeconds) / max(opTotal, 1e-12)))
        }
        return lines.joined(separator: "\n")
    }

    var json: JSONValue {
        func stat(_ s: Statistic) -> JSONValue { .object([("min", .number(s.min)), ("median", .number(s.median)), ("max", .number(s.max))]) }
        let perStep = Double(max(steps.count, 1))
        var fields: [(String, JSONValue)] = [
            ("schema", .string(Self.schema)), ("model", .string(model)), ("backend", .string(execution.backend.rawValue)),
        ]
        if let detail = execution.gemm.detail { fields.append(("micro_kernel", .string(detail))) }
        fields += [
            ("threads", .number(Double(execution.threads))), ("batch", .number(Double(batch))), ("imgsz", .number(Double(imageSize))),
            ("input_shape", .array([batch, 3, imageSize, imageSize].map { .number(Double($0)) })),
            ("targets", .number(Double(targetCount))), ("rounds", .number(Double(rounds))), ("warmup", .number(Double(warmup))),
            ("ms_per_batch", stat(total)), ("forward_ms", stat(forward)), ("loss_ms", stat(lossTime)), ("backward_ms", stat(backward)),
            ("images_per_s", .number(imagesPerSecond)),
            ("kept_activation_bytes", .number(Double(keptBytes))),
            ("kept_floats", .object([("linear", .number(Double(keptFloats.linear))), ("quadratic", .number(Double(keptFloats.quadratic))),
                                     ("fixed", .number(Double(keptFloats.fixed)))])),
            ("parameters", .number(Double(parameterCount))),
            ("loss", .object([("box", .number(Double(loss.boxLoss))), ("cls", .number(Double(loss.classLoss))), ("dfl", .number(Double(loss.dflLoss)))])),
            ("ops", .array(profile.map { entry in
                .object([("kind", .string(entry.kind)), ("count", .number(Double(entry.count))),
                         ("forward_ms", .number(entry.forwardSeconds * 1e3 / perStep)), ("backward_ms", .number(entry.backwardSeconds * 1e3 / perStep))])
            })),
            ("peak_rss_mb", .number(peakRSSMB)),
        ]
        return .object(fields)
    }
}
