import ArgumentParser
import Foundation
import YOLOKit

/// `yolo info`: what is inside a model file — layers, parameters, GFLOPs, class names, stride, task, metadata.
struct InfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info",
        abstract: "Show a model's layers (from, module, arguments, parameters, output shape, GFLOPs), totals, classes, stride, task and the file's metadata.",
        discussion: "Parameters and GFLOPs are counted as Ultralytics' model_info counts them (unfused; GFLOPs at a square --imgsz, default 640 for Ultralytics models; Darknet: the cfg's size unless --imgsz is given).")

    @Option(help: "Model name (see `yolo models`), an Ultralytics .pt checkpoint, an exported .safetensors, or a Darknet .cfg.")
    var model: String = ModelRegistry.defaultModel

    @Option(help: "Square input size the output shapes and GFLOPs are for (a multiple of 32).")
    var imgsz: Int?

    @Option(help: "text or json.")
    var format: InfoFormat = .text

    enum InfoFormat: String, ExpressibleByArgument { case text, json }

    func validate() throws {
        if let imgsz, imgsz < 32 || imgsz > 8192 { throw ValidationError("--imgsz must be between 32 and 8192 (got \(imgsz))") }
    }

    func run() throws {
        let size = imgsz.map { ($0 + 31) / 32 * 32 }
        let info: ModelInfo
        do {
            info = try ModelFile.load(model, imageSize: size, options: ExecutionOptions(threads: 1)).info(imageSize: size)
        } catch {
            printError("error: \(error)")
            throw ExitCode(2)  // a bad model, as `yolo detect`
        }
        switch format {
        case .json: print(info.json.serialized())
        case .text: print(Self.text(info))
        }
    }

    static func text(_ info: ModelInfo) -> String {
        func pad(_ s: String, _ n: Int, right: Bool = false) -> String {
            s.count >= n ? s : (right ? String(repeating: " ", count: n - s.count) + s : s + String(repeating: " ", count: n - s.count))
        }
        var lines = ["\(info.family) \(info.file): \(info.task), input \(info.inputShape.map(String.init).joined(separator: "×"))", ""]
        lines.append(pad("", 4) + pad("from", 16) + pad("module", 12) + pad("params", 11, right: true) + "  " + pad("output", 16) + pad("GFLOPs", 9, right: true) + "  arguments")
        for l in info.layers {
            let from = l.from.count == 1 ? String(l.from[0]) : "[" + l.from.map(String.init).joined(separator: ", ") + "]"
            lines.append(pad(String(l.index), 4, right: true) + "  " + pad(from, 13) + " " + pad(l.kind, 12) + pad(l.parameters.formatted, 11, right: true)
                         + "  " + pad(l.outputShape.map(String.init).joined(separator: "×"), 16) + pad(String(format: "%.3f", l.gflops), 9, right: true)
                         + "  " + l.arguments)
        }
        lines.append("")
        lines.append("\(info.layers.count) layers, \(info.parameters.formatted) parameters, \(String(format: "%.3f", info.gflops)) GFLOPs at \(info.inputShape[2])×\(info.inputShape[1])")
        lines.append("stride: \(info.strides.map(String.init).joined(separator: ", "))")
        lines.append("names (\(info.names.count)): " + info.names.enumerated().map { "\($0.offset): \($0.element)" }.joined(separator: ", "))
        if !info.metadata.isEmpty {
            lines.append("metadata:")
            for (k, v) in info.metadata { lines.append("  \(k): \(v)") }
        }
        for n in info.notes { lines.append("note: \(n)") }
        return lines.joined(separator: "\n")
    }
}

extension Int {
    /// 11 136 374 → "11,136,374".
    var formatted: String {
        let digits = String(self.magnitude)
        var out = ""
        for (i, c) in digits.enumerated() {
            if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
            out.append(c)
        }
        return (self < 0 ? "-" : "") + out
    }
}
