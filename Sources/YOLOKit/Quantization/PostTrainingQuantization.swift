/// Post-training quantization of a model, the steps of `yolo quantize`: calibrate every eligible conv's input range
/// on images, measure each conv's sensitivity (`QuantizationSensitivity`), keep the most sensitive `keepFP32` convs in
/// fp32, and give the plan the file writer stores.
public struct PostTrainingQuantization {
    public var method: CalibrationMethod
    /// How many of the most sensitive convs stay fp32.
    public var keepFP32: Int
    /// Images (of the calibration set, from its start) the sensitivity pass runs.
    public var sensitivityImages: Int

    public init(method: CalibrationMethod = .minmax, keepFP32: Int = 3, sensitivityImages: Int = 4) {
        self.method = method
        self.keepFP32 = max(0, keepFP32)
        self.sensitivityImages = max(1, sensitivityImages)
    }

    /// What `run` found: the plan, every conv's sensitivity (network order) and the nodes kept fp32.
    public struct Result {
        public let plan: Int8Plan
        public let sensitivity: [LayerSensitivity]
        public let keptFP32: Set<Int>
        /// Convs of the network that cannot run int8 (grouped), by node index.
        public let ineligible: [Int]
        /// The export's name of each conv node's tensors (the weight's name without `.weight`), where known.
        public let names: [Int: String]
    }

    /// The convs of `model`'s network for `shape` that can run int8 (groups 1), and the node indices of the others.
    public static func eligibleConvolutions(_ model: any DetectionModel, shape: TensorShape) -> (eligible: [ConvolutionLayer], ineligible: [Int]) {
        var eligible: [ConvolutionLayer] = [], ineligible: [Int] = []
        for (i, node) in model.network(for: shape).nodes.enumerated() {
            guard let conv = node.layer as? ConvolutionLayer else { continue }
            if conv.groups == 1 { eligible.append(conv) } else { ineligible.append(i) }
        }
        return (eligible, ineligible)
    }

    /// Calibrates on `images` (loaded one at a time by `image(i)`, `count` of them), then the sensitivity pass on the
    /// first `sensitivityImages`. `progress(stage, done, total)` reports each image.
    public func run(_ model: any DetectionModel, imageCount count: Int, image: (Int) throws -> RGBImage, options: ExecutionOptions,
                    progress: (String, Int, Int) -> Void = { _, _, _ in }) throws -> Result {
        guard count > 0 else { throw QuantizationError("no calibration images") }
        let first = try image(0)
        let shape = model.inputShape(imageWidth: first.width, imageHeight: first.height)
        let (eligible, ineligible) = Self.eligibleConvolutions(model, shape: shape)
        let calibration = ActivationCalibration(model: model, candidates: eligible)
        for i in 0..<count {
            calibration.observeRange(i == 0 ? first : try image(i), options: options)
            progress("ranges", i + 1, count)
        }
        if method != .minmax {
            for i in 0..<count {
                calibration.observeHistogram(i == 0 ? first : try image(i), options: options)
                progress("histograms", i + 1, count)
            }
        }
        var plan = try calibration.plan(method)
        let subset = try (0..<min(count, sensitivityImages)).map { $0 == 0 ? first : try image($0) }
        let sensitivity = try QuantizationSensitivity.measure(model, plan: plan, images: subset, options: options)
        let kept = Set(sensitivity.sorted { $0.error > $1.error }.prefix(keepFP32).map(\.node))
        let network = model.network(for: shape)
        for node in kept { if let conv = network.nodes[node].layer as? ConvolutionLayer { plan = plan.removing(conv) } }
        var byWeights: [ObjectIdentifier: String] = [:]
        for (conv, names) in try (model as? QuantizableModel)?.namedConvolutions() ?? [] {
            byWeights[ObjectIdentifier(conv.weights)] = String(names.weight.dropLast(".weight".count))
        }
        var names: [Int: String] = [:]
        for (i, node) in network.nodes.enumerated() {
            if let conv = node.layer as? ConvolutionLayer, let name = byWeights[ObjectIdentifier(conv.weights)] { names[i] = name }
        }
        return Result(plan: plan, sensitivity: sensitivity, keptFP32: kept, ineligible: ineligible, names: names)
    }
}
