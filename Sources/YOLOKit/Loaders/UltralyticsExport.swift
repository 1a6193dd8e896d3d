import Foundation

/// Weight file formats `export` writes.
public enum WeightsFormat: String, CaseIterable, Sendable {
    case safetensors, pt, darknet
}

/// What an export wrote.
public struct ExportReport {
    public let path: String
    public let format: WeightsFormat
    public let dtype: WeightDType
    public let tensorCount: Int
    public let fileSize: Int
    /// The largest |stored − source| over every floating-point value (0 when nothing was rounded).
    public let largestWeightChange: Float
}

/// The exported state dict of an Ultralytics model and the metadata that rebuilds it.
///
/// Tensors: exactly `DetectionModel.state_dict()` — per module, in registration order, its parameters, then its
/// persistent buffers, then its children's (shared submodules appear under every path, as in PyTorch). Floating
/// point tensors are stored as `dtype` (the checkpoint's fp16 values upcast exactly for fp32; rounded to nearest
/// even for bf16), integer tensors (`num_batches_tracked`) as I64.
///
/// Metadata (`__metadata__`, strings): `format` = `swiftyolo.ultralytics/1`; `module_tree`: the module tree as
/// JSON — per module its Python module and class, its non-private attributes (typed: `["int", 3]`,
/// `["float", "0.001"]`, `["str", …]`, `["bool", 1]`, `["none"]`, `["tuple"|"list", […]]`, `["dict", [[k, v], …]]`,
/// small tensor attributes such as Detect `stride` as `["tensor", shape, ["8.0", …]]`), the names and shapes of its
/// parameters and buffers, and its children. This was chosen over the Ultralytics yaml because the graph builder
/// reads the module tree (what the checkpoint pickles), not the yaml; the yaml is still inside, as the
/// DetectionModel's `yaml` attribute. Also: `names` (JSON list), `imgsz`, `stride` (JSON list), `source`,
/// `source_sha256`, `dtype`, `checkpoint` (the source's top-level version/date/license/epoch/best_fitness/train_args,
/// typed as above).
extension UltralyticsModel {
    public static let exportFormatTag = "swiftyolo.ultralytics/1"

    /// The state dict of the module tree, tensors stored as `dtype` (floating point) or I64 (integer).
    public func stateDict(dtype: WeightDType = .float32) throws -> (tensors: [WeightTensor], largestChange: Float) {
        guard dtype == .float32 || dtype == .float16 || dtype == .bfloat16 else {
            throw WeightsWriteError(path: path, reason: "export dtype must be F32, F16 or BF16, not \(dtype.rawValue)")
        }
        var out: [WeightTensor] = [], largest: Float = 0, visits = 0
        func walk(_ m: TorchModule, _ prefix: String) throws {
            visits += 1
            guard visits <= UltralyticsGraphBuilder.maxVisits else {
                throw ModelLoadError(path: path, reason: "the module tree has more than \(UltralyticsGraphBuilder.maxVisits) modules")
            }
            let nonPersistent = Set(m.attributes["_non_persistent_buffers_set"]?.items?.compactMap(\.stringValue) ?? [])
            for (name, t) in m.parameters + m.buffers.filter({ !nonPersistent.contains($0.name) }) {
                let full = prefix + name
                switch t.dtype {
                case .float32, .float16, .bfloat16, .float64:
                    let values = try checkpoint.floats(t)
                    let stored = WeightTensor(name: full, shape: t.shape, floats: values, dtype: dtype)
                    if dtype != .float32 {
                        let back = stored.floats()
                        for i in values.indices where values[i].isFinite { largest = max(largest, abs(back[i] - values[i])) }
                    }
                    out.append(stored)
                default:
                    out.append(WeightTensor(name: full, shape: t.shape, int64s: try checkpoint.int64s(t)))
                }
            }
            for (name, c) in m.children { try walk(c, prefix + name + ".") }
        }
        try walk(detectionModel, "")
        return (out, largest)
    }

    /// The `__metadata__` of an exported safetensors file.
    public func exportMetadata(dtype: WeightDType, imageSize: Int) throws -> [String: String] {
        let tree = UltralyticsTreeCodec.encode(detectionModel, tensors: checkpoint)
        var top: [Any] = []
        for (key, value) in root.dictItems ?? [] {
            guard let k = key.stringValue, ["version", "date", "license", "epoch", "best_fitness", "train_args", "docs"].contains(k),
                  let v = UltralyticsTreeCodec.encode(value, tensors: checkpoint) else { continue }
            top.append([k, v])
        }
        return [
            "format": Self.exportFormatTag,
            "module_tree": try UltralyticsTreeCodec.json(tree),
            "checkpoint": try UltralyticsTreeCodec.json(top),
            "names": try UltralyticsTreeCodec.json(names),
            "imgsz": String(imageSize),
            "stride": try UltralyticsTreeCodec.json(strides),
            "source": (path as NSString).lastPathComponent,
            "source_sha256": try SHA256.hex(ofFile: path),
            "dtype": dtype.rawValue,
        ]
    }

    /// Writes the weights as `format` (safetensors with the rebuild metadata, or a state-dict `.pt`).
    public func export(to output: String, format: WeightsFormat, dtype: WeightDType, imageSize: Int) throws -> ExportReport {
        let (tensors, largest) = try stateDict(dtype: dtype)
        switch format {
        case .safetensors:
            try SafetensorsWriter.write(tensors, metadata: try exportMetadata(dtype: dtype, imageSize: imageSize), to: output)
        case .pt:
            try StateDictWriter.write(tensors, to: output)
        case .darknet:
            throw WeightsWriteError(path: path, reason: "an Ultralytics model cannot be written as Darknet cfg/weights (export --format safetensors or pt)")
        }
        let size = (try? FileManager.default.attributesOfItem(atPath: output)[.size] as? Int) ?? 0
        return ExportReport(path: output, format: format, dtype: dtype, tensorCount: tensors.count, fileSize: size,
                            largestWeightChange: largest)
    }
}

/// The module tree ⇄ JSON (see `UltralyticsModel.exportMetadata`), and the exported file opened as a checkpoint.
enum UltralyticsTreeCodec {
    static func json(_ value: Any) throws -> String {
        String(decoding: try JSONSerialization.data(withJSONObject: value, options: []), as: UTF8.self)
    }

    /// A module: {"module", "class", "attributes": [[k, v]], "parameters": [[name, shape]], "buffers": [...], "children": [[name, node]]}.
    static func encode(_ m: TorchModule, tensors: any TorchTensorSource) -> [String: Any] {
        var attributes: [Any] = []
        for (key, value) in m.attributes.sorted(by: { $0.key < $1.key }) where !key.hasPrefix("_") {
            if let v = encode(value, tensors: tensors) { attributes.append([key, v]) }
        }
        let nonPersistent = Set(m.attributes["_non_persistent_buffers_set"]?.items?.compactMap(\.stringValue) ?? [])
        return [
            "module": m.object.module, "class": m.className, "attributes": attributes,
            "parameters": m.parameters.map { [$0.name, $0.tensor.shape] as [Any] },
            "buffers": m.buffers.filter { !nonPersistent.contains($0.name) }.map { [$0.name, $0.tensor.shape] as [Any] },
            "children": m.children.map { [$0.name, encode($0.module, tensors: tensors)] as [Any] },
        ]
    }

    /// A plain value, or nil for what is not kept (objects, globals, bytes, large tensors).
    static func encode(_ v: PickleValue, tensors: any TorchTensorSource) -> Any? {
        switch v {
        case .none: return ["none"]
        case .bool(let b): return ["bool", b ? 1 : 0]
        case .int(let i): return ["int", i]
        case .float(let d): return ["float", "\(d)"]
        case .string(let s): return ["str", s]
        case .tuple(let items), .list(let items):
            let parts = items.compactMap { encode($0, tensors: tensors) }
            guard parts.count == items.count else { return nil }
            if case .tuple = v { return ["tuple", parts] }
            return ["list", parts]
        case .dict(let pairs):
            var out: [Any] = []
            for (k, x) in pairs {
                guard let ek = encode(k, tensors: tensors), let ex = encode(x, tensors: tensors) else { continue }
                out.append([ek, ex])
            }
            return ["dict", out]
        case .tensor(let t):
            guard t.count <= 64, let values = try? tensors.floats(t) else { return nil }
            return ["tensor", t.shape, values.map { "\(Double($0))" }]
        case .bytes, .global, .object: return nil
        }
    }
}
