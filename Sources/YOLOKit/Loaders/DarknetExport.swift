import Foundation

/// Darknet models out and back in (`yolo export --model x.cfg --format darknet|safetensors|pt`, `--model x.safetensors`).
///
/// Tensors, unfused as the `.weights` file stores them, per `[convolutional]` layer i (layer index as Darknet numbers
/// them, from 0 after `[net]`): `layers.i.conv.weight` [filters, C/groups, k, k]; with `batch_normalize=1`
/// `layers.i.bn.weight` (scales γ), `layers.i.bn.bias` (β, Darknet's "biases"), `layers.i.bn.running_mean`,
/// `layers.i.bn.running_var`; without it `layers.i.conv.bias`. The `.weights` file holds per layer: biases,
/// [scales, rolling mean, rolling variance], weights — `tensors(of:)` and `weightsData` convert between the two.
/// The safetensors `__metadata__` holds the cfg text, the class names and the weights file's header, so an export
/// rebuilds with no other file.
public enum DarknetExport {
    public static let formatTag = "swiftyolo.darknet/1"

    /// One conv layer's tensor names and shapes, in the `.weights` order.
    static func layout(_ plan: DarknetLoader.Plan) -> [(index: Int, names: [(String, [Int])])] {
        var out: [(index: Int, names: [(String, [Int])])] = []
        for (i, item) in plan.specs.enumerated() {
            guard case let .convolution(filters, size, _, _, groups, bn, _) = item.spec else { continue }
            let input = item.inputs[0] == Network.inputIndex ? plan.inputShape : plan.specs[item.inputs[0]].output
            let weight = ("layers.\(i).conv.weight", [filters, input.channels / groups, size, size])
            let names = bn
                ? [("layers.\(i).bn.bias", [filters]), ("layers.\(i).bn.weight", [filters]), ("layers.\(i).bn.running_mean", [filters]),
                   ("layers.\(i).bn.running_var", [filters]), weight]
                : [("layers.\(i).conv.bias", [filters]), weight]
            out.append((i, names))
        }
        return out
    }

    /// The `.weights` file's parameters as named float32 tensors (exactly the file's values).
    static func tensors(_ plan: DarknetLoader.Plan, weights: DarknetWeights) throws -> [WeightTensor] {
        var weights = weights
        try weights.expect(floats: plan.parameterCount, for: "its cfg")
        return try layout(plan).flatMap { layer in
            try layer.names.map { name, shape in WeightTensor(name: name, shape: shape, floats: try weights.read(shape.reduce(1, *))) }
        }
    }

    /// A `.weights` file: the header (int32 major, minor, revision; `seen` as int64 when major·10 + minor ≥ 2, else
    /// int32) and the floats in layer order.
    static func weightsData(header: (major: Int32, minor: Int32, revision: Int32, seen: UInt64), floats: [[Float]]) -> Data {
        var data = Data()
        for v in [header.major, header.minor, header.revision] { withUnsafeBytes(of: v.littleEndian) { data.append(contentsOf: $0) } }
        if Int(header.major) * 10 + Int(header.minor) >= 2 {
            withUnsafeBytes(of: header.seen.littleEndian) { data.append(contentsOf: $0) }
        } else {
            withUnsafeBytes(of: UInt32(truncatingIfNeeded: header.seen).littleEndian) { data.append(contentsOf: $0) }
        }
        for values in floats { values.withUnsafeBytes { data.append(contentsOf: $0) } }
        return data
    }

    /// Rebuilds an exported Darknet model: the cfg from the metadata, the `.weights` stream from the named tensors
    /// (each must be there with its shape; none may be left over), names from the metadata.
    static func load(_ file: SafetensorsFile, inputSize: Int?, options: ExecutionOptions) throws -> DarknetDetectionModel {
        let fail = { (reason: String) in ModelLoadError(path: file.path, reason: reason) }
        guard let cfgText = file.metadata["cfg"] else { throw fail("no 'cfg' in the metadata of a \(formatTag) file") }
        let config = try DarknetConfig.parse(cfgText, path: file.path)
        let plan = try DarknetLoader.plan(config, inputSize: inputSize, limits: options.limits)
        var weights = try weightsStream(file, plan)
        let model = try DarknetLoader.build(plan, config: config, weights: &weights, winograd: options.winograd)
        let classes = model.heads[0].classes
        var names = (0..<classes).map { "class\($0)" }
        if let json = file.metadata["names"], let list = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String] {
            guard list.count == classes else { throw fail("metadata 'names' has \(list.count) names, the model \(classes) classes") }
            names = list
        }
        let path = file.path
        return DarknetDetectionModel(model, names: names,
                                     reloadWeights: { try weightsStream(try SafetensorsFile(path: path), plan) })
    }

    /// The `.weights` byte stream an exported file stands for (header from the metadata, tensors in layer order).
    static func weightsStream(_ file: SafetensorsFile, _ plan: DarknetLoader.Plan) throws -> DarknetWeights {
        let fail = { (reason: String) in ModelLoadError(path: file.path, reason: reason) }
        func header(_ key: String) throws -> Int64 {
            guard let text = file.metadata[key], let v = Int64(text), v >= 0, v <= Int64(Int32.max) || key == "seen" else {
                throw fail("metadata '\(key)' is missing or not a number")
            }
            return v
        }
        var floats: [[Float]] = [], used = Set<String>()
        for layer in layout(plan) {
            for (name, shape) in layer.names {
                guard let entry = file.entry(named: name) else { throw fail("tensor '\(name)' is missing (the cfg needs it)") }
                guard entry.shape == shape else { throw fail("tensor '\(name)' has shape \(entry.shape), the cfg needs \(shape)") }
                guard entry.dtype.isFloatingPoint else { throw fail("tensor '\(name)' is \(entry.dtype.rawValue), not floating point") }
                floats.append(try file.floats(named: name))
                used.insert(name)
            }
        }
        let extra = file.entries.map(\.name).filter { !used.contains($0) }
        guard extra.isEmpty else { throw fail("\(extra.count) tensors are not used by the cfg: \(extra.prefix(5).joined(separator: ", "))") }
        let data = weightsData(header: (Int32(try header("major")), Int32(try header("minor")), Int32(try header("revision")), UInt64(try header("seen"))),
                               floats: floats)
        return try DarknetWeights(data: data, path: file.path)
    }
}

extension DarknetDetectionModel {
    /// A safetensors file `DarknetExport.load` rebuilds alone: `tensors` with the cfg text, class names and the
    /// weights header in the metadata (plus `extra` keys).
    func writeSafetensors(_ tensors: [WeightTensor], cfgText: String, header: (Int32, Int32, Int32, UInt64), dtype: WeightDType,
                          extra: [String: String] = [:], to path: String) throws {
        let namesJSON = String(decoding: try JSONSerialization.data(withJSONObject: names), as: UTF8.self)
        try SafetensorsWriter.write(tensors, metadata: [
            "format": DarknetExport.formatTag, "cfg": cfgText, "names": namesJSON,
            "major": String(header.0), "minor": String(header.1), "revision": String(header.2), "seen": String(header.3),
            "source": (model.configPath as NSString).lastPathComponent, "dtype": dtype.rawValue,
            "imgsz": "\(network.inputShape.width)x\(network.inputShape.height)",
        ].merging(extra) { a, _ in a }, to: path)
    }

    /// Writes the model as Darknet files (`path` = the cfg; `.weights` and `.names` beside it, same stem), or as
    /// safetensors / a state-dict `.pt` with `DarknetExport`'s tensor names. Darknet files hold float32 only.
    public func export(to path: String, format: WeightsFormat, dtype: WeightDType) throws -> ExportReport {
        guard dtype == .float32 || dtype == .float16 || dtype == .bfloat16 else {
            throw WeightsWriteError(path: path, reason: "export dtype must be F32, F16 or BF16, not \(dtype.rawValue)")
        }
        let plan = try DarknetLoader.plan(config)
        let source = try reloadWeights()
        let exact = try DarknetExport.tensors(plan, weights: source)
        let tensors = exact.map { WeightTensor(name: $0.name, shape: $0.shape, floats: $0.floats(), dtype: dtype) }
        var largest: Float = 0
        for (a, b) in zip(exact, tensors) where dtype != .float32 {
            for (x, y) in zip(a.floats(), b.floats()) where x.isFinite { largest = max(largest, abs(x - y)) }
        }
        let header = (source.major, source.minor, source.revision, source.seen)
        let written: [String]
        switch format {
        case .darknet:
            guard dtype == .float32 else { throw WeightsWriteError(path: path, reason: "Darknet .weights files hold float32 only (--dtype fp32)") }
            let stem = (path as NSString).deletingPathExtension
            let sources = [model.configPath, model.weightsPath].map { URL(fileURLWithPath: $0).standardizedFileURL.resolvingSymlinksInPath().path }
            for file in [path, stem + ".weights"] where sources.contains(URL(fileURLWithPath: file).standardizedFileURL.resolvingSymlinksInPath().path) {
                throw WeightsWriteError(path: file, reason: "is the model being exported: choose another --output")
            }
            let files = [(path, Data(config.text.utf8)), (stem + ".weights", DarknetExport.weightsData(header: header, floats: exact.map { $0.floats() })),
                         (stem + ".names", Data((names.joined(separator: "\n") + "\n").utf8))]
            for (file, data) in files {
                let out = try AtomicOutputFile(path: file)
                try data.withUnsafeBytes { try out.write($0) }
                try out.commit()
            }
            written = files.map(\.0)
        case .safetensors:
            try writeSafetensors(tensors, cfgText: config.text, header: header, dtype: dtype, to: path)
            written = [path]
        case .pt:
            try StateDictWriter.write(tensors, to: path)
            written = [path]
        }
        let size = written.reduce(0) { $0 + ((try? FileManager.default.attributesOfItem(atPath: $1)[.size] as? Int) ?? 0) }
        return ExportReport(path: written.joined(separator: ", "), format: format, dtype: dtype, tensorCount: tensors.count, fileSize: size,
                            largestWeightChange: largest)
    }
}
