import Foundation

/// `yolo prune` and `yolo compress` for Ultralytics models: the network is analysed with every Detect branch built
/// (YOLO26's unused pair too, so its tensors are cut alike), the state dict is cut or factored, and the result is
/// written as the export's safetensors with its module tree edited to match — new tensor shapes; Conv2d
/// `in_channels` / `out_channels` / `groups`, BatchNorm2d `num_features` and C2f/C3k2/C2PSA `c` updated; a
/// factored conv becomes `Sequential(Conv2d k×k Cin→r, Conv2d 1×1 r→Cout)` in the place of the Conv2d, which is
/// what a PyTorch module holding those two convs would pickle.
extension UltralyticsModel {
    /// The network with every Detect branch and its conv tensors, and the state dict as float32.
    /// The network is built at `size`² (channel counts do not depend on it; calibration runs at the model's size).
    func compressible(size: Int = 128) throws -> (net: CompressibleNetwork, stateDict: [WeightTensor]) {
        let (network, builder) = try build(height: size, width: size, checkUnused: false, budget: nil, countAllBranches: true)
        let (tensors, _) = try stateDict(dtype: .float32)
        var floats: [String: FloatTensor] = [:]
        for t in tensors where t.dtype.isFloatingPoint { floats[t.name] = FloatTensor(shape: t.shape, values: t.floats()) }
        return (CompressibleNetwork(network: network, convs: builder.convNodes, tensors: floats), tensors)
    }

    /// The floating-point dtype the checkpoint stores its weights in (fp16 for most released checkpoints).
    var storedFloatDType: WeightDType {
        var stack = [detectionModel], visits = 0
        while let m = stack.popLast(), visits < UltralyticsGraphBuilder.maxVisits {
            visits += 1
            if let t = m.parameters.first?.tensor, WeightDType(t.dtype).isFloatingPoint { return WeightDType(t.dtype) == .float64 ? .float32 : WeightDType(t.dtype) }
            stack += m.children.map(\.module).reversed()
        }
        return .float32
    }

    func prune(_ options: PruningOptions, to path: String, dtype: WeightDType?, imageSize: Int) throws -> CompressionResult {
        let (net, stateDict) = try compressible()
        let plan = try ChannelPruning.plan(net, options: options)
        let tensors = try plan.apply(to: net)
        let size = try writeCompressed(tensors, stateDict: stateDict, replacing: [:], to: path, dtype: dtype ?? storedFloatDType, imageSize: imageSize,
                                       note: "pruned: ratio \(options.ratio), importance \(options.importance.rawValue)")
        return CompressionResult(path: path, layers: plan.layers, fileSize: size)
    }

    /// `place` letterboxes a calibration photo into the network input (the detection model's preprocessing).
    func factorize(_ options: LowRankOptions, to path: String, dtype: WeightDType?, imageSize: Int,
                   place: (RGBImage, FeatureMap) -> Void) throws -> CompressionResult {
        // At the model's size when calibrating or timing (the convs are timed at their real input shapes).
        let (net, stateDict) = try compressible(size: options.calibration.isEmpty && options.timing == nil ? 128 : imageSize)
        let plan = try LowRankFactorization.plan(net, options: options, place: place)
        var tensors = net.tensors
        var replacing: [String: LowRankFactorization.Factor] = [:]
        for f in plan.factors {
            let conv = String(f.names.weight.dropLast(".weight".count))
            tensors[f.names.weight] = nil
            tensors[conv + ".0.weight"] = f.first
            tensors[conv + ".1.weight"] = f.second
            for (name, t) in f.corrected { tensors[name] = t }
            if let bias = f.names.bias { tensors[conv + ".1.bias"] = tensors.removeValue(forKey: bias) }
            replacing[conv] = f
        }
        let size = try writeCompressed(tensors, stateDict: stateDict, replacing: replacing, to: path, dtype: dtype ?? storedFloatDType,
                                       imageSize: imageSize, note: options.summary)
        return CompressionResult(path: path, layers: plan.layers, fileSize: size)
    }

    /// Writes `tensors` (float, by state-dict name; integer tensors come from `stateDict`) with the module tree edited:
    /// the Conv2d at each path of `replacing` becomes a Sequential of its two factors. Returns the file size.
    func writeCompressed(_ tensors: [String: FloatTensor], stateDict: [WeightTensor], replacing: [String: LowRankFactorization.Factor],
                                 to path: String, dtype: WeightDType, imageSize: Int, note: String) throws -> Int {
        guard dtype.isFloatingPoint, dtype != .float64 else { throw WeightsWriteError(path: path, reason: "weights must be F32, F16 or BF16") }
        let integers = Dictionary(stateDict.filter { !$0.dtype.isFloatingPoint }.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        var written: [WeightTensor] = [], seen = Set<String>()
        func edit(_ node: [String: Any], _ prefix: String) throws -> [String: Any] {
            var node = node
            let module = String(prefix.dropLast())
            if let f = replacing[module] { node = Self.factoredNode(node, f) }
            for key in ["parameters", "buffers"] {
                var entries: [Any] = []
                for case let entry as [Any] in node[key] as? [Any] ?? [] {
                    guard let name = entry.first as? String else { continue }
                    let full = prefix + name
                    if let t = tensors[full] {
                        entries.append([name, t.shape])
                        if seen.insert(full).inserted { written.append(WeightTensor(name: full, shape: t.shape, floats: t.values, dtype: dtype)) }
                    } else if let t = integers[full] {
                        entries.append([name, t.shape])
                        if seen.insert(full).inserted { written.append(t) }
                    } else {
                        throw CompressionError(reason: "tensor '\(full)' of the module tree has no value after compression")
                    }
                }
                node[key] = entries
            }
            var children: [Any] = []
            for case let pair as [Any] in node["children"] as? [Any] ?? [] {
                guard pair.count == 2, let name = pair[0] as? String, let child = pair[1] as? [String: Any] else { continue }
                children.append([name, try edit(child, prefix + name + ".")])
            }
            node["children"] = children
            Self.updateChannelAttributes(&node, tensors: tensors, prefix: prefix)
            return node
        }
        let tree = try edit(UltralyticsTreeCodec.encode(detectionModel, tensors: checkpoint), "")
        var metadata = try exportMetadata(dtype: dtype, imageSize: imageSize)
        metadata["module_tree"] = try UltralyticsTreeCodec.json(tree)
        metadata["compression"] = note
        try SafetensorsWriter.write(written, metadata: metadata, to: path)
        return (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
    }

    /// A Conv2d node replaced by Sequential(k×k conv to r channels without bias, 1×1 conv back with the original bias).
    static func factoredNode(_ conv: [String: Any], _ f: LowRankFactorization.Factor) -> [String: Any] {
        let attributes = (conv["attributes"] as? [Any] ?? []).compactMap { $0 as? [Any] }
        func with(_ changes: [String: Any]) -> [Any] {
            attributes.map { pair -> Any in
                guard let key = pair.first as? String, let v = changes[key] else { return pair }
                return [key, v]
            }
        }
        let r = f.rank, cin = f.first.shape[1], cout = f.second.shape[0]
        let one: Any = ["tuple", [["int", 1], ["int", 1]]], zero: Any = ["tuple", [["int", 0], ["int", 0]]]
        var first = conv, second = conv
        first["attributes"] = with(["out_channels": ["int", r], "in_channels": ["int", cin]])
        first["parameters"] = [["weight", f.first.shape]]
        first["buffers"] = []
        second["attributes"] = with(["in_channels": ["int", r], "out_channels": ["int", cout], "kernel_size": one, "stride": one, "padding": zero])
        second["parameters"] = [["weight", f.second.shape]] + (f.names.bias != nil ? [["bias", [cout]]] : [])
        second["buffers"] = []
        return ["module": "torch.nn.modules.container", "class": "Sequential",
                "attributes": attributes.filter { ($0.first as? String) == "training" },
                "parameters": [] as [Any], "buffers": [] as [Any], "children": [["0", first], ["1", second]]]
    }

    /// Conv2d in/out channels and groups, BatchNorm2d num_features and a split module's `c` from the new shapes.
    static func updateChannelAttributes(_ node: inout [String: Any], tensors: [String: FloatTensor], prefix: String) {
        var attributes = (node["attributes"] as? [Any] ?? []).compactMap { $0 as? [Any] }
        func int(_ key: String) -> Int? {
            attributes.first { $0.first as? String == key }.flatMap { ($0[1] as? [Any])?.last as? Int }
        }
        func set(_ key: String, _ value: Int) {
            if let i = attributes.firstIndex(where: { $0.first as? String == key }) { attributes[i] = [key, ["int", value]] }
        }
        switch node["class"] as? String {
        case "Conv2d":
            guard let w = tensors[prefix + "weight"], w.shape.count == 4, let groups = int("groups"), let out = int("out_channels") else { break }
            let depthwise = groups > 1 && groups == out
            let newGroups = depthwise ? w.shape[0] : groups
            set("groups", newGroups)
            set("out_channels", w.shape[0])
            set("in_channels", w.shape[1] * newGroups)
        case "BatchNorm2d":
            if let g = tensors[prefix + "weight"] { set("num_features", g.shape[0]) }
        default:
            if int("c") != nil, let cv1 = tensors[prefix + "cv1.conv.weight"] ?? tensors[prefix + "cv1.conv.1.weight"] { set("c", cv1.shape[0] / 2) }
        }
        node["attributes"] = attributes
    }
}

extension UltralyticsDetectionModel {
    public func prune(_ options: PruningOptions, to path: String, dtype: WeightDType?) throws -> CompressionResult {
        try model.prune(options, to: path, dtype: dtype, imageSize: imageSize)
    }

    public func factorize(_ options: LowRankOptions, to path: String, dtype: WeightDType?) throws -> CompressionResult {
        // Calibration photos go into a square imgsz² input (predict's rect letterbox would change its shape per photo).
        try model.factorize(options, to: path, dtype: dtype, imageSize: imageSize) { image, input in
            _ = Preprocess.ultralyticsLetterbox(image, into: input, imageSize: imageSize, rect: false)
        }
    }
}
