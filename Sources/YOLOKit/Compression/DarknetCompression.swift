import Foundation

/// `yolo prune` and `yolo compress` for Darknet models. The tensors are `DarknetExport`'s (`layers.i.conv.weight`,
/// `layers.i.bn.*` or `layers.i.conv.bias`); the result is a Darknet safetensors export whose cfg is rewritten:
/// `filters=` (and a depthwise conv's `groups=`) of every pruned conv; for a factored conv a new
/// `[convolutional]` (k×k, `filters=r`, linear, no BatchNorm, zero biases) before it, the original becoming the 1×1
/// conv r → filters, and every `[route] layers=` and `[shortcut] from=` renumbered for the inserted sections.
extension DarknetDetectionModel {
    /// The network, its conv tensors and the header of the weights they come from.
    func compressible() throws -> (net: CompressibleNetwork, header: (Int32, Int32, Int32, UInt64)) {
        let plan = try DarknetLoader.plan(config)  // the tensor layout depends on channel counts only, as export's
        let weights = try reloadWeights()
        var tensors: [String: FloatTensor] = [:]
        for t in try DarknetExport.tensors(plan, weights: weights) { tensors[t.name] = FloatTensor(shape: t.shape, values: t.floats()) }
        var convs: [Int: ConvTensorNames] = [:]
        for (i, item) in plan.specs.enumerated() {
            guard case let .convolution(_, _, _, _, _, bn, _) = item.spec else { continue }
            convs[i] = bn ? ConvTensorNames(weight: "layers.\(i).conv.weight", batchNorm: "layers.\(i).bn")
                          : ConvTensorNames(weight: "layers.\(i).conv.weight", bias: "layers.\(i).conv.bias")
        }
        return (CompressibleNetwork(network: network, convs: convs, tensors: tensors), (weights.major, weights.minor, weights.revision, weights.seen))
    }

    public func prune(_ options: PruningOptions, to path: String, dtype: WeightDType?) throws -> CompressionResult {
        let (net, header) = try compressible()
        let plan = try ChannelPruning.plan(net, options: options)
        let tensors = try plan.apply(to: net)
        var sections = config.sections
        for i in net.convs.keys {
            guard let conv = net.conv(i) else { continue }
            sections[i + 1].set("filters", String(plan.kept[i].count))
            if conv.groups > 1 { sections[i + 1].set("groups", String(plan.kept[i].count)) }  // depthwise: tied to its input
        }
        let note = "pruned: ratio \(options.ratio), importance \(options.importance.rawValue)"
        let size = try writeCompressed(tensors, sections: sections, header: header, dtype: dtype ?? .float32, note: note, to: path)
        return CompressionResult(path: path, layers: plan.layers, fileSize: size)
    }

    public func factorize(_ options: LowRankOptions, to path: String, dtype: WeightDType?) throws -> CompressionResult {
        let (net, header) = try compressible()
        let plan = try LowRankFactorization.plan(net, options: options) { image, input in _ = placeImage(image, into: input) }
        let factors = Dictionary(uniqueKeysWithValues: plan.factors.map { ($0.node, $0) })
        let layerSections = Array(config.sections.dropFirst())
        // New index of each old layer's output (a factored conv's: its second, 1×1 conv).
        var map: [Int] = [], next = 0
        for i in layerSections.indices {
            next += factors[i] == nil ? 1 : 2
            map.append(next - 1)
        }
        var sections = [config.sections[0]], tensors: [String: FloatTensor] = [:]
        func moved(_ name: String, from i: Int, to j: Int) -> String { "layers.\(j)." + name.dropFirst("layers.\(i).".count) }
        for (i, section) in layerSections.enumerated() {
            var s = section
            if let f = factors[i] {
                let first = map[i] - 1
                var a = DarknetConfig.Section(name: "convolutional", line: section.line)
                a.set("filters", String(f.rank))
                for key in ["size", "stride", "pad", "padding"] { if let v = section.options[key]?.value { a.set(key, v) } }
                a.set("activation", "linear")
                sections.append(a)
                tensors["layers.\(first).conv.weight"] = f.first
                tensors["layers.\(first).conv.bias"] = FloatTensor(shape: [f.rank], values: [Float](repeating: 0, count: f.rank))
                s.set("size", "1")
                s.set("stride", "1")
                s.set("pad", "0")
                s.remove("padding")
                tensors[moved(f.names.weight, from: i, to: map[i])] = f.second
                for name in f.names.channelVectors { tensors[moved(name, from: i, to: map[i])] = try f.corrected[name] ?? net.tensor(name) }
            } else if net.convs[i] != nil {
                for (name, t) in net.tensors where name.hasPrefix("layers.\(i).") { tensors[moved(name, from: i, to: map[i])] = t }
            }
            for key in ["layers", "from"] where ["route", "shortcut"].contains(s.name) {
                guard let refs = try s.ints(key, path: config.path) else { continue }
                let renumbered = refs.map { r in r < 0 ? map[i + r] - map[i] : map[r] }
                s.set(key, renumbered.map(String.init).joined(separator: ","))
            }
            sections.append(s)
        }
        let note = options.summary
        let size = try writeCompressed(tensors, sections: sections, header: header, dtype: dtype ?? .float32, note: note, to: path)
        return CompressionResult(path: path, layers: plan.layers, fileSize: size)
    }

    /// Writes the tensors with the cfg rebuilt from `sections` (tensors in layer order, as the `.weights` file holds them).
    func writeCompressed(_ tensors: [String: FloatTensor], sections: [DarknetConfig.Section], header: (Int32, Int32, Int32, UInt64),
                       dtype: WeightDType, note: String, to path: String) throws -> Int {
        guard dtype == .float32 || dtype == .float16 || dtype == .bfloat16 else { throw WeightsWriteError(path: path, reason: "weights must be F32, F16 or BF16") }
        var text = "# \(note), from \((model.configPath as NSString).lastPathComponent) (written by yolo)\n"
        for s in sections {
            text += "[\(s.name)]\n" + s.keys.map { "\($0)=\(s.options[$0]!.value)\n" }.joined() + "\n"
        }
        func layer(_ name: String) -> Int { Int(name.split(separator: ".")[1]) ?? 0 }
        let ordered = tensors.sorted { (layer($0.key), $0.key) < (layer($1.key), $1.key) }
        let written = ordered.map { WeightTensor(name: $0.key, shape: $0.value.shape, floats: $0.value.values, dtype: dtype) }
        try writeSafetensors(written, cfgText: text, header: header, dtype: dtype, extra: ["compression": note], to: path)
        return (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
    }
}

extension DarknetConfig.Section {
    /// Sets `key` (appended after the section's other keys when new).
    mutating func set(_ key: String, _ value: String) {
        if options[key] == nil { keys.append(key) }
        options[key] = (value, options[key]?.line ?? line)
    }

    mutating func remove(_ key: String) {
        options[key] = nil
        keys.removeAll { $0 == key }
    }
}
