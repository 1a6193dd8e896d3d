import Foundation

/// A new Detect head for a dataset whose classes differ from the checkpoint's, as Ultralytics builds one when it
/// loads pretrained weights into a model made for the dataset (`DetectionModel.load`, ultralytics 8.4.190):
///
/// - the class branches (`cv3.i`, and YOLO26's `one2one_cv3.i`) keep the source's hidden layers (Ultralytics rebuilds
///   them at the source width so they transfer); only their last `Conv2d` becomes `Conv2d(c, nc, 1)`: weight drawn as
///   torch's default init (kaiming-uniform with a = √5, i.e. U(−1/√fan_in, 1/√fan_in)), bias set by `Detect.bias_init`
///   to the prior log(5 / nc / (640 / stride)²) (about 0.01 objects per anchor cell at 640);
/// - rows of classes whose name is also a source class (case-insensitive, spaces trimmed) are copied from the
///   source (`_remap_cls_by_names`); with the same class count and no shared name, the source rows stay as they are
///   (Ultralytics' `intersect_dicts` transfers tensors whose shapes match);
/// - every other tensor is transferred unchanged; the box branch (`cv2`), whose biases `bias_init` resets to 2.0, is
///   transferred too, so it keeps the source's values.
///
/// The model is the exported form (`UltralyticsModel.stateDict()` + `exportMetadata`): the module tree in the
/// metadata is edited to match (Detect `nc` / `no`, the convs' `out_channels` and tensor shapes, the model's `names`
/// and its yaml's `nc`), so the result is a loadable `.safetensors`. The random weights come from `seed` (the values
/// differ from torch's generator; their distribution is the same).
public enum DetectHeadReinitialization {
    public struct Result {
        public var tensors: [WeightTensor]
        public var metadata: [String: String]
        /// State-dict names of the tensors made anew (weights and biases of the class convs).
        public var reinitialized: [String]
        /// Classes whose rows came from a source class of the same name.
        public var remappedClasses: Int
    }

    /// `tensors` / `metadata` of a model with `sourceNames` classes, `strides` per level; `names` the dataset's.
    /// Names identical to the source's (count and order) return the input unchanged.
    public static func apply(tensors: [WeightTensor], metadata: [String: String], sourceNames: [String], names: [String],
                             strides: [Int], seed: UInt64) throws -> Result {
        guard !names.isEmpty else { throw TrainingGraphError("the dataset has no classes") }
        guard strides.allSatisfy({ $0 > 0 }) else { throw TrainingGraphError("strides \(strides) must be positive") }
        if names == sourceNames {
            return Result(tensors: tensors, metadata: metadata, reinitialized: [], remappedClasses: 0)
        }
        let normalized = { (s: String) in s.trimmingCharacters(in: .whitespacesAndNewlines).lowercased() }
        var sourceIndex: [String: Int] = [:]
        for (i, name) in sourceNames.enumerated() { sourceIndex[normalized(name)] = i }
        // Placeholder names ("0", "1", …) match nothing (Ultralytics skips them).
        let placeholder = { (list: [String]) in list.enumerated().allSatisfy { String($0.offset) == $0.element } }
        let matches: [Int?] = placeholder(sourceNames) || placeholder(names) ? names.map { _ in nil } : names.map { sourceIndex[normalized($0)] }
        let matched = matches.compactMap { $0 }.count
        if names.count == sourceNames.count && matched == 0 {
            // Same shapes, nothing to remap: every tensor transfers; only the names change.
            var metadata = metadata
            metadata = try editedMetadata(metadata, names: names, classCount: names.count, regMax: nil, classConvs: [])
            return Result(tensors: tensors, metadata: metadata, reinitialized: [], remappedClasses: 0)
        }

        guard let treeText = metadata["module_tree"],
              var tree = try JSONSerialization.jsonObject(with: Data(treeText.utf8)) as? [String: Any] else {
            throw TrainingGraphError("the model has no module tree to rebuild its head in")
        }
        let head = try detectHead(of: tree)
        let regMax = try intAttribute(head.node, "reg_max")
        var generator = SplitMix64(seed: seed)
        var byName: [String: Int] = [:]
        for (i, t) in tensors.enumerated() { byName[t.name] = i }
        var out = tensors, reinitialized: [String] = []
        var classConvs: [String] = []  // module paths of the rebuilt convs
        for branch in ["cv3", "one2one_cv3"] {
            guard let sequences = child(head.node, branch) else { continue }
            let levels = (sequences["children"] as? [Any]) ?? []
            guard levels.count == strides.count else {
                throw TrainingGraphError("\(head.path).\(branch) has \(levels.count) levels, the model \(strides.count) strides")
            }
            for (level, entry) in levels.enumerated() {
                guard let pair = entry as? [Any], pair.count == 2, let index = pair[0] as? String, let sequence = pair[1] as? [String: Any],
                      let last = (sequence["children"] as? [Any])?.last as? [Any], last.count == 2, let lastName = last[0] as? String else {
                    throw TrainingGraphError("\(head.path).\(branch): malformed level in the module tree")
                }
                let path = "\(head.path).\(branch).\(index).\(lastName)"
                guard let w = byName[path + ".weight"], let b = byName[path + ".bias"] else {
                    throw TrainingGraphError("\(path): the class conv has no weight and bias")
                }
                let source = (weight: tensors[w], bias: tensors[b])
                guard source.weight.shape.count == 4, source.weight.shape[0] == sourceNames.count, source.weight.shape[2] == 1,
                      source.weight.shape[3] == 1, source.bias.shape == [sourceNames.count] else {
                    throw TrainingGraphError("\(path): expected a 1×1 conv to \(sourceNames.count) classes, the weight is \(source.weight.shape)")
                }
                let fanIn = source.weight.shape[1]
                let oldWeight = source.weight.floats(), oldBias = source.bias.floats()
                let bound = 1 / Float(fanIn).squareRoot()
                var weight = [Float](repeating: 0, count: names.count * fanIn)
                for i in weight.indices { weight[i] = generator.uniform(-bound, bound) }
                let prior = Float(log(5 / Double(names.count) / pow(640 / Double(strides[level]), 2)))
                var bias = [Float](repeating: prior, count: names.count)
                for (c, match) in matches.enumerated() {
                    guard let s = match else { continue }
                    for k in 0..<fanIn { weight[c * fanIn + k] = oldWeight[s * fanIn + k] }
                    bias[c] = oldBias[s]
                }
                out[w] = WeightTensor(name: path + ".weight", shape: [names.count, fanIn, 1, 1], floats: weight, dtype: source.weight.dtype)
                out[b] = WeightTensor(name: path + ".bias", shape: [names.count], floats: bias, dtype: source.bias.dtype)
                reinitialized += [path + ".weight", path + ".bias"]
                classConvs.append(path)
            }
        }
        guard !classConvs.isEmpty else { throw TrainingGraphError("\(head.path) has no class branch (cv3)") }
        tree = try rewriteTree(tree, path: "", names: names, regMax: regMax, classConvs: Set(classConvs))
        var edited = metadata
        edited["module_tree"] = try jsonText(tree)
        edited = try editedMetadata(edited, names: names, classCount: names.count, regMax: regMax, classConvs: [])
        return Result(tensors: out, metadata: edited, reinitialized: reinitialized, remappedClasses: matched)
    }

    // MARK: - Module tree (the JSON of UltralyticsModel.exportMetadata)

    /// The Detect node: the last child of the root's "model" Sequential, and its state-dict path ("model.22").
    static func detectHead(of tree: [String: Any]) throws -> (node: [String: Any], path: String) {
        guard let sequential = child(tree, "model"), let last = (sequential["children"] as? [Any])?.last as? [Any], last.count == 2,
              let index = last[0] as? String, let node = last[1] as? [String: Any], node["class"] as? String == "Detect" else {
            throw TrainingGraphError("the module tree's last layer is not a Detect head")
        }
        return (node, "model.\(index)")
    }

    static func child(_ node: [String: Any], _ name: String) -> [String: Any]? {
        for entry in node["children"] as? [Any] ?? [] {
            if let pair = entry as? [Any], pair.count == 2, pair[0] as? String == name { return pair[1] as? [String: Any] }
        }
        return nil
    }

    static func intAttribute(_ node: [String: Any], _ key: String) throws -> Int {
        for entry in node["attributes"] as? [Any] ?? [] {
            if let pair = entry as? [Any], pair.count == 2, pair[0] as? String == key, let value = pair[1] as? [Any], value.first as? String == "int",
               value.count == 2, let n = (value[1] as? NSNumber)?.intValue { return n }
        }
        throw TrainingGraphError("the module tree's Detect head has no int attribute '\(key)'")
    }

    /// Replaces attribute `key` (or adds it) with a typed value.
    static func setAttribute(_ node: inout [String: Any], _ key: String, _ value: [Any]) {
        var attributes = node["attributes"] as? [Any] ?? []
        if let i = attributes.firstIndex(where: { ($0 as? [Any])?.first as? String == key }) {
            attributes[i] = [key, value]
        } else {
            attributes.append([key, value])
        }
        node["attributes"] = attributes
    }

    static func attribute(_ node: [String: Any], _ key: String) -> [Any]? {
        for entry in node["attributes"] as? [Any] ?? [] {
            if let pair = entry as? [Any], pair.count == 2, pair[0] as? String == key { return pair[1] as? [Any] }
        }
        return nil
    }

    /// The names attribute as the checkpoint pickles it: {0: "a", 1: "b", …}.
    static func namesValue(_ names: [String]) -> [Any] {
        ["dict", names.enumerated().map { [["int", $0.offset], ["str", $0.element]] as [Any] }]
    }

    /// Walks the tree: the root gets the new names (and its yaml dict the new nc), Detect its nc / no, each rebuilt
    /// conv its out_channels and tensor shapes.
    static func rewriteTree(_ node: [String: Any], path: String, names: [String], regMax: Int, classConvs: Set<String>) throws -> [String: Any] {
        var node = node
        let nc = names.count
        if path.isEmpty {
            setAttribute(&node, "names", namesValue(names))
            if let yaml = attribute(node, "yaml"), yaml.first as? String == "dict", let pairs = yaml[1] as? [Any] {
                let edited = pairs.map { entry -> Any in
                    guard let pair = entry as? [Any], pair.count == 2, let key = pair[0] as? [Any], key.count == 2, key[1] as? String == "nc" else { return entry }
                    return [key, ["int", nc]] as [Any]
                }
                setAttribute(&node, "yaml", ["dict", edited])
            }
            if attribute(node, "nc") != nil { setAttribute(&node, "nc", ["int", nc]) }
        }
        if node["class"] as? String == "Detect" {
            setAttribute(&node, "nc", ["int", nc])
            setAttribute(&node, "no", ["int", nc + 4 * regMax])
        }
        if classConvs.contains(path) {
            setAttribute(&node, "out_channels", ["int", nc])
            node["parameters"] = (node["parameters"] as? [Any] ?? []).map { entry -> Any in
                guard let pair = entry as? [Any], pair.count == 2, let name = pair[0] as? String, var shape = pair[1] as? [Any], !shape.isEmpty else { return entry }
                shape[0] = nc
                return [name, shape] as [Any]
            }
        }
        if let children = node["children"] as? [Any] {
            node["children"] = try children.map { entry -> Any in
                guard let pair = entry as? [Any], pair.count == 2, let name = pair[0] as? String, let child = pair[1] as? [String: Any] else { return entry }
                return [name, try rewriteTree(child, path: path.isEmpty ? name : path + "." + name, names: names, regMax: regMax, classConvs: classConvs)] as [Any]
            }
        }
        return node
    }

    /// The metadata's own `names`; with names of the same count (no rebuild) also the tree's names attribute.
    static func editedMetadata(_ metadata: [String: String], names: [String], classCount: Int, regMax: Int?, classConvs: [String]) throws -> [String: String] {
        var out = metadata
        out["names"] = try jsonText(names)
        if regMax == nil, let treeText = metadata["module_tree"],
           var tree = try JSONSerialization.jsonObject(with: Data(treeText.utf8)) as? [String: Any] {
            setAttribute(&tree, "names", namesValue(names))
            out["module_tree"] = try jsonText(tree)
        }
        return out
    }

    static func jsonText(_ value: Any) throws -> String {
        String(decoding: try JSONSerialization.data(withJSONObject: value, options: []), as: UTF8.self)
    }
}
