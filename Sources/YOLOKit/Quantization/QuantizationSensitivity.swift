/// How much quantizing one convolution alone changes a model's raw outputs: the per-layer pass that picks which convs
/// stay fp32. For each conv of a plan, only that conv runs in int8 and the heads' outputs are compared with fp32 on the
/// same images; the error is the mean over output channels c of ‖Δ_c‖² / ‖y_c‖² (each channel of each head output —
/// box coordinates and class scores alike — weighs the same, so small score channels are not drowned by pixel-sized
/// boxes), averaged over the images.
public struct LayerSensitivity: Sendable {
    /// The conv's node index in the model's network (the first image's), and its role when it is a notable one.
    public let node: Int
    public let role: Role?
    public let error: Double
    /// Which layer the pass measures by name in the report.
    public enum Role: String, Sendable {
        /// Reads the network input (the image).
        case first = "first conv"
        /// Its output feeds a head directly (the box and class convs at the end).
        case head = "head input"
    }
}

public enum QuantizationSensitivity {
    /// One row per conv of `plan` (in network order) on `images`. Cost: one forward per conv and image.
    public static func measure(_ model: any DetectionModel, plan: Int8Plan, images: [RGBImage], options: ExecutionOptions) throws -> [LayerSensitivity] {
        guard let first = images.first else { return [] }
        let network = model.network(for: model.inputShape(imageWidth: first.width, imageHeight: first.height))
        var headInputs = Set<Int>()
        for index in network.outputIndices { headInputs.formUnion(network.nodes[index].inputs) }
        let references = images.map { outputChannels(model, $0, options: options) }
        var rows: [LayerSensitivity] = []
        for (index, node) in network.nodes.enumerated() {
            guard let conv = node.layer as? ConvolutionLayer, plan.input(for: conv) != nil else { continue }
            let single = try QuantizedDetectionModel(base: model, plan: plan.only(conv), method: "sensitivity", probeShape: network.inputShape)
            var total = 0.0
            for (image, reference) in zip(images, references) {
                total += relativeError(outputChannels(single, image, options: options), reference)
            }
            let role: LayerSensitivity.Role? = node.inputs == [Network.inputIndex] ? .first : headInputs.contains(index) ? .head : nil
            rows.append(LayerSensitivity(node: index, role: role, error: total / Double(images.count)))
        }
        return rows
    }

    /// Every output channel of every head output (raw, before NMS) for `image`.
    static func outputChannels(_ model: any DetectionModel, _ image: RGBImage, options: ExecutionOptions) -> [[Float]] {
        let network = model.network(for: model.inputShape(imageWidth: image.width, imageHeight: image.height))
        _ = model.placeImage(image, into: network.input)
        network.forward(options)
        return network.outputs.flatMap { map in
            (0..<map.shape.channels).map { Array(UnsafeBufferPointer(start: map.plane($0), count: map.shape.planeSize)) }
        }
    }

    /// Mean over channels of ‖a_c − b_c‖² / ‖b_c‖² (a channel of zeros compares as 0 / tiny).
    public static func relativeError(_ a: [[Float]], _ b: [[Float]]) -> Double {
        precondition(a.count == b.count, "relativeError: \(a.count) channels against \(b.count)")
        guard !b.isEmpty else { return 0 }
        var sum = 0.0
        for (x, y) in zip(a, b) {
            var difference = 0.0, energy = 0.0
            for (u, v) in zip(x, y) { difference += Double(u - v) * Double(u - v); energy += Double(v) * Double(v) }
            sum += difference / max(energy, 1e-12)
        }
        return sum / Double(b.count)
    }
}
