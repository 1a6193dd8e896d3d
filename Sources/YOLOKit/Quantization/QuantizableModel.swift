/// A model whose convolutions can be named by the tensors of its export (`yolo export`'s safetensors): what the
/// quantizer needs to write int8 weights under those names, and the loader to find the conv each names.
protocol QuantizableModel: DetectionModel {
    /// Every convolution node of the model's networks that has tensors of its own, with their names. The layers'
    /// weight buffers are the ones every network of the model shares (`Int8Plan`'s key).
    func namedConvolutions() throws -> [(conv: ConvolutionLayer, names: ConvTensorNames)]
}

extension UltralyticsDetectionModel: QuantizableModel {
    func namedConvolutions() throws -> [(conv: ConvolutionLayer, names: ConvTensorNames)] {
        // Built from the folded-weight cache, so these layers share their weight buffers with every network.
        let (network, builder) = try model.build(height: 128, width: 128, checkUnused: false, budget: nil, countAllBranches: true)
        return builder.convNodes.sorted { $0.key < $1.key }.compactMap { index, names in
            (network.nodes[index].layer as? ConvolutionLayer).map { ($0, names) }
        }
    }
}

extension DarknetDetectionModel: QuantizableModel {
    /// `DarknetExport`'s names: `layers.i.conv.weight` for the conv of cfg layer i (node i).
    func namedConvolutions() throws -> [(conv: ConvolutionLayer, names: ConvTensorNames)] {
        let plan = try DarknetLoader.plan(config)
        return plan.specs.enumerated().compactMap { i, item in
            guard case let .convolution(_, _, _, _, _, bn, _) = item.spec, let conv = network.nodes[i].layer as? ConvolutionLayer else { return nil }
            return (conv, bn ? ConvTensorNames(weight: "layers.\(i).conv.weight", batchNorm: "layers.\(i).bn")
                             : ConvTensorNames(weight: "layers.\(i).conv.weight", bias: "layers.\(i).conv.bias"))
        }
    }
}
