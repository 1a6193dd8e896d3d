import ArgumentParser
import Foundation
import YOLOKit

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure end-to-end latency per stage (decode, preprocess, forward, postprocess) after warm-up."
    )

    @Option(help: "Model name or path (as for detect).")
    var model: String = ModelRegistry.defaultModel

    @Option(help: "Image to run on (default: Models/samples/bus.jpg).")
    var image: String?

    @Option(help: "Network input size (multiple of 32); default: the model's own.")
    var imgsz: Int?

    @Option(help: "Threads (default: all cores).")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    @Option(help: "Timed runs after 3 warm-up runs.")
    var runs: Int = 20

    func validate() throws {
        guard runs > 0 else { throw ValidationError("--runs must be positive") }
        guard threads > 0 else { throw ValidationError("--threads must be positive") }
    }

    func run() throws {
        let detector = try Detector(model: model, threads: threads, imageSize: imgsz)
        let path = try image ?? ModelRegistry.samplePhoto("bus.jpg")
        for _ in 0..<3 { _ = try detector.detect(imageAt: path) }
        var samples: [StageTimes] = []
        var last: DetectionResult?
        for _ in 0..<runs {
            last = try detector.detect(imageAt: path)
            samples.append(last!.times)
        }
        let input = last!.inputShape
        print("model:   \(detector.model.summary)")
        print("image:   \(path), input \(input.width)×\(input.height), \(threads) thread(s), \(runs) runs")
        print("stage          min ms   median ms   max ms")
        for (name, pick) in [("decode", \StageTimes.decode), ("preprocess", \.preprocess), ("forward", \.forward),
                             ("postprocess", \.postprocess), ("total", \.total)] as [(String, KeyPath<StageTimes, Double>)] {
            let v = samples.map { $0[keyPath: pick] }.sorted()
            print(name.padding(toLength: 12, withPad: " ", startingAt: 0) + String(format: " %8.2f %11.2f %8.2f", v.first!, v[v.count / 2], v.last!))
        }
    }
}
