import Foundation

/// The int8 model file: the model's export (`yolo export`'s safetensors, Darknet or Ultralytics, with its metadata)
/// in which the weight of every int8 convolution is stored as I8 — its unfused weight W [Cout, Cin, k, k] quantized
/// symmetric per output channel, W ≈ s[o]·q — beside three tensors under the conv's prefix P (the weight's name
/// without `.weight`):
///
///     P.weight_scale       F32 [Cout]  s (positive, finite)
///     P.input_scale        F32 [1]     the input's activation scale s_x
///     P.input_zero_point   U8  [1]     its zero point z_x (x ≈ s_x·(q − z_x))
///
/// and `__metadata__["quantization"] = "int8/1"`. BatchNorm stays in fp32 and is folded at load as for any export:
/// folding scales whole output channels, so the folded weights quantize to the same q. Loading checks every part
/// (an I8 weight without its scales, a scale of the wrong dtype or shape, a scale tensor with no int8 weight, a name
/// that is no conv of the model: each a `ModelLoadError` naming the file and the tensor), dequantizes into the plain
/// export in memory, loads that, and wraps it in a `QuantizedDetectionModel`.
public enum QuantizedModelFile {
    public static let formatKey = "quantization"
    public static let formatTag = "int8/1"
    static let suffixes = (weightScale: ".weight_scale", inputScale: ".input_scale", inputZeroPoint: ".input_zero_point")

    public static func isQuantized(_ file: SafetensorsFile) -> Bool { file.metadata[formatKey] != nil }

    /// Writes `model` (`Darknet` or `Ultralytics`, fp32) with the convs of `plan` in int8 to `path`; `notes` go into
    /// the metadata (`quantization_<key>`). Returns the file size.
    public static func write(_ model: any DetectionModel, plan: Int8Plan, notes: [String: String] = [:], to path: String) throws -> Int {
        guard let named = model as? QuantizableModel else {
            throw WeightsWriteError(path: path, reason: "this kind of model cannot be written quantized (Darknet and Ultralytics models can)")
        }
        // The export, written beside the output and read back (the export's own tensor names and metadata).
        let exportPath = path + ".fp32-export.tmp"
        defer { try? FileManager.default.removeItem(atPath: exportPath) }
        do { _ = try model.export(to: exportPath, format: .safetensors, dtype: .float32) } catch {
            throw WeightsWriteError(path: path, reason: "cannot write the export it is made from: \(error)")
        }
        let export = try SafetensorsFile(path: exportPath)
        var tensors: [String: WeightTensor] = [:]
        for t in export.tensors() { tensors[t.name] = t }
        var written = Set<ObjectIdentifier>()
        for (conv, names) in try named.namedConvolutions() {
            guard let input = plan.input(for: conv), let stored = tensors[names.weight], stored.dtype == .float32,
                  !written.contains(ObjectIdentifier(conv.weights)) else { continue }
            written.insert(ObjectIdentifier(conv.weights))
            let rows = stored.shape.first ?? 0, unfused = stored.floats(), depth = unfused.count / max(1, rows)
            let (scales, q) = try unfusedQuantization(unfused: unfused, folded: conv.weights.array, rows: rows, depth: depth)
            let prefix = String(names.weight.dropLast(".weight".count))
            tensors[names.weight] = WeightTensor(name: names.weight, dtype: .int8, shape: stored.shape, data: q.map { UInt8(bitPattern: $0) })
            tensors[prefix + suffixes.weightScale] = WeightTensor(name: prefix + suffixes.weightScale, shape: [rows], floats: scales, dtype: .float32)
            tensors[prefix + suffixes.inputScale] = WeightTensor(name: prefix + suffixes.inputScale, shape: [1], floats: [input.scale], dtype: .float32)
            tensors[prefix + suffixes.inputZeroPoint] = WeightTensor(name: prefix + suffixes.inputZeroPoint, dtype: .uint8, shape: [1], data: [input.zeroPoint])
        }
        guard written.count == plan.count else {
            throw WeightsWriteError(path: path, reason: "\(plan.count - written.count) of the \(plan.count) int8 convolutions have no tensors of their own in the export")
        }
        var metadata = export.metadata
        metadata[formatKey] = formatTag
        for (key, value) in notes { metadata[formatKey + "_" + key] = value }
        try SafetensorsWriter.write(Array(tensors.values), metadata: metadata, to: path)
        return (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
    }

    /// The unfused weights' q and scales chosen so that folding gives back exactly the q of the folded weights
    /// (what the in-memory int8 model runs): per row i with fold factor f = W_f / W_u (read off the row's largest
    /// |W_u|), q_u = sign(f)·q_f and s_u = s_f / |f|, so s_u·q_u·f = s_f·q_f and |W_u − s_u·q_u| ≤ s_u / 2 still holds.
    /// A row that folds to zeros (γ = 0) or is zero stores q = 0, s = 1.
    static func unfusedQuantization(unfused: [Float], folded: [Float], rows: Int, depth: Int) throws -> (scales: [Float], q: [Int8]) {
        precondition(unfused.count == folded.count && unfused.count == rows * depth, "unfusedQuantization: mismatched weights")
        let foldedQuantization = try PerChannelWeightQuantization(weights: folded, rows: rows, depth: depth)
        var q = foldedQuantization.quantize(folded, depth: depth)
        var scales = foldedQuantization.scales
        for i in 0..<rows {
            let row = (i * depth)..<((i + 1) * depth)
            let k = row.max { abs(unfused[$0]) < abs(unfused[$1]) } ?? row.lowerBound
            let factor = unfused[k] == 0 ? 0 : folded[k] / unfused[k]
            guard factor != 0 && factor.isFinite else {
                for j in row { q[j] = 0 }
                scales[i] = 1
                continue
            }
            if factor < 0 { for j in row { q[j] = -q[j] } }
            scales[i] = scales[i] / abs(factor)
        }
        return (scales, q)
    }

    /// Loads an int8 file (`isQuantized`) as `ModelFile.load` loads an export.
    public static func load(_ file: SafetensorsFile, imageSize: Int?, endToEnd: Bool?, options: ExecutionOptions) throws -> QuantizedDetectionModel {
        func fail(_ reason: String) -> ModelLoadError { ModelLoadError(path: file.path, reason: reason) }
        guard file.metadata[formatKey] == formatTag else {
            throw fail("unknown quantization '\(file.metadata[formatKey] ?? "")' (this version reads '\(formatTag)')")
        }
        // Every I8 weight with its three tensors, checked; everything else passes through as stored.
        var inputs: [String: ActivationQuantization] = [:]
        var tensors: [WeightTensor] = []
        var consumed = Set<String>()
        for entry in file.entries where entry.dtype == .int8 {
            guard entry.name.hasSuffix(".weight"), entry.shape.count == 4, entry.shape[0] > 0 else {
                throw fail("tensor '\(entry.name)' is I8 but not a conv weight [Cout, Cin, k, k] (shape \(entry.shape))")
            }
            let prefix = String(entry.name.dropLast(".weight".count)), rows = entry.shape[0]
            func part(_ suffix: String, _ dtype: WeightDType, _ count: Int) throws -> SafetensorsFile.Entry {
                guard let e = file.entry(named: prefix + suffix) else { throw fail("int8 weight '\(entry.name)' has no '\(prefix + suffix)'") }
                guard e.dtype == dtype else { throw fail("tensor '\(e.name)' is \(e.dtype.rawValue), expected \(dtype.rawValue)") }
                guard e.shape == [count] else { throw fail("tensor '\(e.name)' has shape \(e.shape), expected [\(count)]") }
                consumed.insert(e.name)
                return e
            }
            let scaleEntry = try part(suffixes.weightScale, .float32, rows)
            let inputScale = try part(suffixes.inputScale, .float32, 1), zeroPoint = try part(suffixes.inputZeroPoint, .uint8, 1)
            let scales: PerChannelWeightQuantization
            let input: ActivationQuantization
            do {
                scales = try PerChannelWeightQuantization(scales: try file.floats(named: scaleEntry.name))
                input = try ActivationQuantization(scale: try file.floats(named: inputScale.name)[0],
                                                   zeroPoint: file.withBytes(of: zeroPoint) { $0[0] })
            } catch let error as QuantizationError {
                throw fail("int8 weight '\(entry.name)': \(error)")
            }
            let q = file.withBytes(of: entry) { raw in raw.map { Int8(bitPattern: $0) } }
            let values = scales.dequantize(q, depth: entry.elementCount / rows)
            tensors.append(WeightTensor(name: entry.name, shape: entry.shape, floats: values, dtype: .float32))
            inputs[entry.name] = input
        }
        let all = Set(file.entries.map(\.name))
        for entry in file.entries where entry.dtype != .int8 && !consumed.contains(entry.name) {
            let quantizationPart = [suffixes.weightScale, suffixes.inputScale, suffixes.inputZeroPoint].first { entry.name.hasSuffix($0) }
            if let suffix = quantizationPart {
                let weight = String(entry.name.dropLast(suffix.count)) + ".weight"
                throw fail("tensor '\(entry.name)' belongs to no int8 weight ('\(weight)' is \(all.contains(weight) ? "not I8" : "missing"))")
            }
            tensors.append(file.withBytes(of: entry) { WeightTensor(name: entry.name, dtype: entry.dtype, shape: entry.shape, data: Array($0)) })
        }
        guard !inputs.isEmpty else { throw fail("an int8 file ('\(formatKey)' metadata) with no I8 weight") }
        var metadata = file.metadata
        for key in metadata.keys where key == formatKey || key.hasPrefix(formatKey + "_") { metadata[key] = nil }
        let plain = try SafetensorsFile(bytes: try SafetensorsWriter.serialize(tensors, metadata: metadata, path: file.path), path: file.path)

        let base: any DetectionModel
        if plain.metadata["format"] == DarknetExport.formatTag {
            guard endToEnd != true else { throw fail("Darknet models have no end-to-end (NMS-free) head") }
            base = try DarknetExport.load(plain, inputSize: imageSize, options: options)
        } else {
            base = try UltralyticsDetectionModel(path: file.path, imageSize: imageSize, endToEnd: endToEnd, options: options, file: plain)
        }
        guard let named = base as? QuantizableModel else { throw fail("this kind of model cannot run quantized") }
        var plan = Int8Plan()
        var found = Set<String>()
        for (conv, names) in try named.namedConvolutions() {
            guard let input = inputs[names.weight] else { continue }
            do { try plan.set(conv, input: input) } catch { throw fail("int8 weight '\(names.weight)': \(error)") }
            found.insert(names.weight)
        }
        if let stray = inputs.keys.sorted().first(where: { !found.contains($0) }) {
            throw fail("int8 weight '\(stray)' is no convolution of the model (a grouped or unknown conv)")
        }
        let method = file.metadata[formatKey + "_method"] ?? "int8"
        return try QuantizedDetectionModel(base: base, plan: plan, method: method)
    }
}
