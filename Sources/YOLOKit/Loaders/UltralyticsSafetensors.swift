import Foundation

/// An exported Ultralytics `.safetensors` (see `UltralyticsModel.exportMetadata`) opened alone: the module tree is
/// rebuilt from `__metadata__["module_tree"]` as the pickled tree it came from, each parameter and buffer a
/// `TorchTensor` over the file's tensor of that state-dict name (memory-mapped; F16/BF16 upcast when read).
/// The tree and the file must agree: a tensor the tree names but the file lacks, a shape that differs, a dtype that
/// is not a float (weights) or integer (counters) type, or a tensor of the file that the tree does not name is an
/// error naming the file and the tensor.
enum UltralyticsSafetensors {
    static func open(path: String) throws -> (tensors: SafetensorsTensorSource, root: PickleValue) {
        try open(file: try SafetensorsFile(path: path))
    }

    /// An export already opened (or made in memory: an int8 file dequantized, `QuantizedModelFile`).
    static func open(file: SafetensorsFile) throws -> (tensors: SafetensorsTensorSource, root: PickleValue) {
        let path = file.path
        let source = SafetensorsTensorSource(file: file)
        func fail(_ reason: String) -> ModelLoadError { ModelLoadError(path: path, reason: reason) }
        guard file.metadata["format"] == UltralyticsModel.exportFormatTag else {
            throw fail("not a SwiftYOLO Ultralytics export (__metadata__ format is \(file.metadata["format"].map { "'\($0)'" } ?? "missing"), expected '\(UltralyticsModel.exportFormatTag)')")
        }
        func parse(_ key: String) throws -> Any {
            guard let text = file.metadata[key] else { throw fail("__metadata__ has no '\(key)'") }
            do { return try JSONSerialization.jsonObject(with: Data(text.utf8), options: []) } catch {
                throw fail("__metadata__ '\(key)' is not valid JSON")
            }
        }
        var named = Set<String>()
        var depth = 0
        func value(_ any: Any) throws -> PickleValue {
            guard let a = any as? [Any], let tag = a.first as? String else { throw fail("module_tree: malformed value \(String(describing: any).prefix(80))") }
            func arg(_ i: Int) throws -> Any {
                guard a.count > i else { throw fail("module_tree: '\(tag)' value without its content") }
                return a[i]
            }
            switch tag {
            case "none": return .none
            case "bool": return .bool(((try arg(1)) as? NSNumber)?.intValue ?? 0 != 0)
            case "int":
                guard let n = (try arg(1)) as? NSNumber else { throw fail("module_tree: int value is not a number") }
                return .int(n.intValue)
            case "float":
                guard let s = (try arg(1)) as? String, let d = Double(s) else { throw fail("module_tree: float value is not a number") }
                return .float(d)
            case "str":
                guard let s = (try arg(1)) as? String else { throw fail("module_tree: str value is not a string") }
                return .string(s)
            case "tuple", "list":
                guard let items = (try arg(1)) as? [Any] else { throw fail("module_tree: \(tag) is not a list") }
                let values = try items.map(value)
                return tag == "tuple" ? .tuple(values) : .list(values)
            case "dict":
                guard let pairs = (try arg(1)) as? [Any] else { throw fail("module_tree: dict is not a list of pairs") }
                return .dict(try pairs.map { p in
                    guard let kv = p as? [Any], kv.count == 2 else { throw fail("module_tree: dict entry is not a pair") }
                    return (try value(kv[0]), try value(kv[1]))
                })
            case "tensor":
                guard let shape = ((try arg(1)) as? [Any])?.compactMap({ ($0 as? NSNumber)?.intValue }),
                      let texts = (try arg(2)) as? [String], shape.allSatisfy({ $0 >= 0 }), texts.count <= 64,
                      shape.reduce(1, *) == texts.count else { throw fail("module_tree: malformed inline tensor") }
                let values = try texts.map { s -> Float in
                    guard let d = Double(s) else { throw fail("module_tree: inline tensor value '\(s)' is not a number") }
                    return Float(d)
                }
                return .tensor(source.inline(values, shape: shape))
            default: throw fail("module_tree: unknown value tag '\(tag)'")
            }
        }
        func module(_ any: Any, prefix: String) throws -> PickleObject {
            depth += 1
            defer { depth -= 1 }
            guard depth <= 64 else { throw fail("module_tree: nested more than 64 modules deep") }
            guard let node = any as? [String: Any], let mod = node["module"] as? String, let cls = node["class"] as? String else {
                throw fail("module_tree: a module at '\(prefix)' has no module/class")
            }
            var state: [(key: PickleValue, value: PickleValue)] = []
            for item in node["attributes"] as? [Any] ?? [] {
                guard let kv = item as? [Any], kv.count == 2, let k = kv[0] as? String else { throw fail("module_tree: \(prefix)\(cls): malformed attribute") }
                state.append((.string(k), try value(kv[1])))
            }
            func tensors(_ key: String) throws -> PickleValue {
                var out: [(key: PickleValue, value: PickleValue)] = []
                for item in node[key] as? [Any] ?? [] {
                    guard let kv = item as? [Any], kv.count == 2, let name = kv[0] as? String,
                          let shape = (kv[1] as? [Any])?.compactMap({ ($0 as? NSNumber)?.intValue }) else {
                        throw fail("module_tree: \(prefix)\(cls): malformed \(key) entry")
                    }
                    let full = prefix + name
                    guard let entry = file.entry(named: full) else { throw fail("tensor '\(full)' named by the module tree is not in the file") }
                    guard entry.shape == shape else { throw fail("tensor '\(full)' has shape \(entry.shape) in the file but \(shape) in the module tree") }
                    guard let dtype = entry.dtype.torchDType else { throw fail("tensor '\(full)' has dtype \(entry.dtype.rawValue), which no torch tensor has") }
                    if key == "parameters" && !entry.dtype.isFloatingPoint { throw fail("tensor '\(full)' is a parameter but \(entry.dtype.rawValue)") }
                    named.insert(full)
                    let count = shape.reduce(1, *)
                    var strides = [Int](repeating: 1, count: shape.count)
                    for d in stride(from: shape.count - 2, through: 0, by: -1) { strides[d] = strides[d + 1] * shape[d + 1] }
                    out.append((.string(name), .tensor(TorchTensor(storageKey: full, dtype: dtype, shape: shape, strides: strides, storageOffset: 0,
                                                                   storageCount: count, storageLocation: "safetensors"))))
                }
                return .dict(out)
            }
            state.append((.string("_parameters"), try tensors("parameters")))
            state.append((.string("_buffers"), try tensors("buffers")))
            var children: [(key: PickleValue, value: PickleValue)] = []
            for item in node["children"] as? [Any] ?? [] {
                guard let kv = item as? [Any], kv.count == 2, let name = kv[0] as? String else { throw fail("module_tree: \(prefix)\(cls): malformed child") }
                children.append((.string(name), .object(try module(kv[1], prefix: prefix + name + "."))))
            }
            state.append((.string("_modules"), .dict(children)))
            return PickleObject(module: mod, name: cls, state: .dict(state))
        }
        let tree = try module(try parse("module_tree"), prefix: "")
        if let stray = file.entries.first(where: { !named.contains($0.name) }) {
            throw fail("tensor '\(stray.name)' is not named by the module tree")
        }
        var top: [(key: PickleValue, value: PickleValue)] = [(.string("model"), .object(tree))]
        for item in (try? parse("checkpoint")) as? [Any] ?? [] {
            guard let kv = item as? [Any], kv.count == 2, let k = kv[0] as? String else { continue }
            top.append((.string(k), try value(kv[1])))
        }
        return (source, .dict(top))
    }
}

/// The tensors of an exported safetensors file (and the few small inline tensors of its module tree).
final class SafetensorsTensorSource: TorchTensorSource {
    let file: SafetensorsFile
    private var inlineValues: [String: [Float]] = [:]
    init(file: SafetensorsFile) { self.file = file }
    var path: String { file.path }

    func inline(_ values: [Float], shape: [Int]) -> TorchTensor {
        let key = "inline:\(inlineValues.count)"
        inlineValues[key] = values
        var strides = [Int](repeating: 1, count: shape.count)
        for d in stride(from: shape.count - 2, through: 0, by: -1) { strides[d] = strides[d + 1] * shape[d + 1] }
        return TorchTensor(storageKey: key, dtype: .float32, shape: shape, strides: strides, storageOffset: 0,
                           storageCount: values.count, storageLocation: "metadata")
    }

    func floats(_ t: TorchTensor) throws -> [Float] {
        if let v = inlineValues[t.storageKey] { return v }
        let values = try file.floats(named: t.storageKey)
        guard values.count == t.count else { throw ModelLoadError(path: path, reason: "tensor '\(t.storageKey)' has \(values.count) values, expected \(t.count)") }
        return values
    }

    func int64s(_ t: TorchTensor) throws -> [Int64] {
        guard let e = file.entry(named: t.storageKey), !e.dtype.isFloatingPoint else {
            throw ModelLoadError(path: path, reason: "tensor '\(t.storageKey)' is not an integer tensor of the file")
        }
        return file.withBytes(of: e) { raw -> [Int64] in
            switch e.dtype {
            case .int64, .uint64: return (0..<e.elementCount).map { Int64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * $0, as: Int64.self)) }
            case .int32, .uint32: return (0..<e.elementCount).map { Int64(Int32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: Int32.self))) }
            default: return WeightTensor.floats(e.dtype, raw).map { Int64($0) }
            }
        }
    }
}
