import Foundation

/// `yolo info` for an Ultralytics model: the layer table as Ultralytics' `parse_model` prints it (index, from,
/// module, arguments, parameters), output shapes and GFLOPs at a square input, and the checkpoint's metadata.
/// Parameters are every parameter of the unfused module tree (`get_num_params`: BatchNorm weight and bias
/// included, running statistics excluded, both YOLO26 branch pairs and the DFL conv included); GFLOPs as
/// `get_flops` counts them (see `UltralyticsGraphBuilder.macs`).
extension UltralyticsModel {
    /// The checkpoint's top-level metadata keys, and the train args, shown by `info`.
    static let infoKeys = ["version", "date", "license", "epoch", "best_fitness"]
    static let infoTrainArguments = ["data", "epochs", "imgsz", "optimizer", "batch"]

    public func info(height: Int, width: Int) throws -> ModelInfo {
        let (network, builder) = try build(height: height, width: width, checkUnused: false, budget: nil, countAllBranches: true)
        var layerRows: [ModelInfo.Layer] = []
        for (i, layer) in layers.enumerated() {
            let from = (try? layer.ints("f")) ?? []
            let shape = network.shape(of: builder.layerOutputs[i])
            let inShape = from.first.map { f -> TensorShape in
                let k = f < 0 ? i + f : f
                return k < 0 ? network.inputShape : network.shape(of: builder.layerOutputs[k])
            } ?? network.inputShape
            layerRows.append(ModelInfo.Layer(
                index: i, from: from, kind: layer.className,
                arguments: Self.arguments(layer, input: inShape, output: shape),
                parameters: Self.parameterCount(layer), outputShape: [shape.channels, shape.height, shape.width],
                gflops: ModelInfo.gflops(macs: builder.macs["model.\(i)"] ?? 0)))
        }
        var metadata: [(key: String, value: String)] = []
        for key in Self.infoKeys {
            if let v = root.value(forKey: key), let text = UltralyticsCheckpointContents.text(v) { metadata.append((key, text)) }
        }
        let args = root.value(forKey: "train_args")?.dictItems ?? []
        for key in Self.infoTrainArguments {
            if let v = args.first(where: { $0.key.stringValue == key })?.value, let text = UltralyticsCheckpointContents.text(v) {
                metadata.append(("train_args." + key, text))
            }
        }
        let task = args.first(where: { $0.key.stringValue == "task" })?.value.stringValue ?? "detect"
        return ModelInfo(
            family: "Ultralytics", file: path, task: task, inputShape: [3, height, width], layers: layerRows,
            parameters: Self.parameterCount(detectionModel), gflops: ModelInfo.gflops(macs: builder.macs.values.reduce(0, +)),
            names: names, strides: strides, metadata: metadata,
            notes: ["parameters: every parameter of the unfused module tree, as Ultralytics' get_num_params (BatchNorm running statistics are buffers, not counted)",
                    "GFLOPs: 2 × multiply-accumulates as Ultralytics' get_flops (thop) counts them: Conv2d, BatchNorm2d (unfused), attention products, DFL"
                    + (hasOneToOneHead && detectionModel.module(at: "model.\(layers.count - 1).cv2") != nil ? "; both YOLO26 branch pairs, as its eval forward runs them" : "")])
    }

    /// Σ elements of every parameter in the tree; a tensor reached through a shared module is counted once
    /// (as `nn.Module.parameters()` yields each Parameter once).
    static func parameterCount(_ root: TorchModule) -> Int {
        var seen = Set<ObjectIdentifier>(), total = 0, visits = 0
        func walk(_ m: TorchModule) {
            visits += 1
            guard visits <= UltralyticsGraphBuilder.maxVisits, seen.insert(ObjectIdentifier(m)).inserted else { return }
            total += m.parameters.reduce(0) { $0 + $1.tensor.count }
            for (_, c) in m.children { walk(c) }
        }
        walk(root)
        return total
    }

    /// A short arguments summary: channels in → out, and the module's own settings.
    static func arguments(_ m: TorchModule, input: TensorShape, output: TensorShape) -> String {
        var parts = ["\(input.channels)→\(output.channels)"]
        switch m.className {
        case "Conv", "DWConv":
            if let w = m.child("conv")?.parameter("weight"), w.shape.count == 4 { parts.append("k=\(w.shape[2])") }
            if let s = try? m.child("conv")?.ints("stride").first { parts.append("s=\(s)") }
            if let g = try? m.child("conv")?.int("groups"), g > 1 { parts.append("g=\(g)") }
        case "C2f", "C3k2", "C3", "C3k", "C2PSA":
            parts.append("n=\(m.child("m")?.children.count ?? 0)")
            if let b = m.child("m")?.children.first?.module, let add = try? b.bool("add") { parts.append("shortcut=\(add)") }
        case "SPPF":
            if let k = try? m.child("m")?.ints("kernel_size").first { parts.append("k=\(k)") }
        case "Upsample":
            if let f = m.attributes["scale_factor"]?.doubleValue { parts.append("×\(Int(f))") }
        case "Detect":
            if let nc = try? m.int("nc") { parts.append("nc=\(nc)") }
            if let r = try? m.int("reg_max") { parts.append("reg_max=\(r)") }
            if m.child("one2one_cv2") != nil { parts.append("end2end") }
            parts[0] = "\(m.child("cv2")?.children.count ?? m.child("one2one_cv2")?.children.count ?? 0) levels"
        default: break
        }
        return parts.joined(separator: ", ")
    }
}
