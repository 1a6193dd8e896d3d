import Foundation

/// A Darknet model ready to run: the network (one node per cfg layer section, same indices as Darknet),
/// its [yolo] heads, and how the cfg wants images prepared.
public struct DarknetModel {
    public let network: Network
    public let heads: [YOLOLayer]  // in network.outputIndices order
    public let letterbox: Bool     // [net] letter_box=1
    public let configPath: String
    public let weightsPath: String
    /// The cfg the network was built from (info and export read its sections and text).
    public let config: DarknetConfig
}

/// Builds a `Network` from a Darknet cfg and weights file. Generic over the supported sections:
/// [net], [convolutional], [maxpool], [route], [upsample], [shortcut], [yolo].
public enum DarknetLoader {
    /// The sections and the keys each one uses; other keys listed here are training-only and ignored.
    /// [net] holds mostly training hyper-parameters, so its other keys are ignored without a list.
    static let usedKeys: [String: Set<String>] = [
        "convolutional": ["filters", "size", "stride", "pad", "padding", "groups", "batch_normalize", "activation"],
        "maxpool": ["size", "stride", "padding"],
        "upsample": ["stride", "scale"],
        "route": ["layers", "groups", "group_id"],
        "shortcut": ["from", "activation"],
        "yolo": ["mask", "anchors", "classes", "num", "scale_x_y", "new_coords"],
    ]
    static let trainingKeys: [String: Set<String>] = [
        "convolutional": ["stopbackward", "dontload", "dontloadscales", "learning_rate", "train"],
        "maxpool": ["train"],
        "upsample": ["train"],
        "route": ["train"],
        "shortcut": ["train"],
        "yolo": ["jitter", "ignore_thresh", "truth_thresh", "random", "iou_thresh", "cls_normalizer",
                 "iou_normalizer", "obj_normalizer", "iou_loss", "iou_thresh_kind", "nms_kind", "beta_nms",
                 "max_delta", "resize", "counters_per_class", "label_smooth_eps", "objectness_smooth",
                 "focal_loss", "uc_normalizer", "delta_normalizer", "max", "map", "train"],
    ]

    enum Spec {
        case convolution(filters: Int, size: Int, stride: Int, pad: Int, groups: Int, batchNormalize: Bool, activation: Activation)
        case maxPool(size: Int, stride: Int, pad: Int)
        case upsample(factor: Int, scale: Float)
        case route(layers: [Int], groups: Int, groupID: Int)
        case shortcut(from: Int, activation: Activation)
        case yolo(classes: Int, anchors: [(w: Float, h: Float)], scaleXY: Float, newCoords: Bool)
    }

    /// Loads `cfgPath` and `weightsPath` (default: the cfg's path with extension .weights).
    /// `inputSize` overrides the cfg's width and height (Darknet models run at any multiple of 32).
    /// `options`: the limits the files are checked against and the Winograd policy the convolutions are built with.
    public static func load(cfgPath: String, weightsPath: String? = nil, inputSize: Int? = nil,
                            options: ExecutionOptions = ExecutionOptions()) throws -> DarknetModel {
        let config = try DarknetConfig.load(path: cfgPath)
        let weightsPath = weightsPath ?? (cfgPath as NSString).deletingPathExtension + ".weights"
        var weights = try DarknetWeights(path: weightsPath)
        return try build(config, weights: &weights, inputSize: inputSize, options: options)
    }

    /// The validated layer list of a cfg: specs, output shapes, inputs, and what the network will need.
    struct Plan {
        var specs: [(spec: Spec, section: DarknetConfig.Section, output: TensorShape, inputs: [Int])] = []
        var inputShape: TensorShape
        var letterbox: Bool
        /// Float32 parameters the weights file must hold after its header.
        var parameterCount = 0
        /// Floats the built network holds: input, every layer output, the im2col workspace, the weights.
        var networkFloats = 0
    }

    public static func build(_ config: DarknetConfig, weights: inout DarknetWeights, inputSize: Int? = nil,
                             options: ExecutionOptions = ExecutionOptions()) throws -> DarknetModel {
        let plan = try self.plan(config, inputSize: inputSize, limits: options.limits)
        return try build(plan, config: config, weights: &weights, winograd: options.winograd)
    }

    /// Pass 1: parses every section, resolves references, computes shapes, the parameter count and the memory
    /// the network will need (all with overflow-checked arithmetic, against `limits`), without allocating.
    static func plan(_ config: DarknetConfig, inputSize: Int? = nil, limits: ModelLimits = ModelLimits()) throws -> Plan {
        let path = config.path
        guard let net = config.sections.first, net.name == "net" || net.name == "network" else {
            throw ModelLoadError(path: path, line: config.sections.first?.line, reason: "the first section must be [net]")
        }
        let width = try inputSize ?? net.int("width", path: path), height = try inputSize ?? net.int("height", path: path)
        let channels = try net.int("channels", default: 3, path: path)
        guard width > 0, height > 0, channels == 3 else {
            throw net.error(path, nil, "width, height must be positive and channels must be 3 (got \(width)×\(height)×\(channels))")
        }
        guard width <= limits.maxDimension, height <= limits.maxDimension else {
            throw net.error(path, inputSize == nil ? (width > limits.maxDimension ? "width" : "height") : nil,
                            "input size \(width)×\(height) is larger than \(limits.maxDimension) per side")
        }
        let letterbox = try net.int("letter_box", default: 0, path: path) != 0
        var budget = NetworkBudget(limits: limits, path: path)
        var workspace = 0

        var specs: [(spec: Spec, section: DarknetConfig.Section, output: TensorShape, inputs: [Int])] = []
        var shapes: [TensorShape] = []
        var parameterCount = 0
        let inputShape = TensorShape(channels: channels, height: height, width: width)
        try budget.reserve(NetworkBudget.product(channels, height, width), for: "the \(width)×\(height) input")
        for section in config.sections.dropFirst() {
            let index = shapes.count
            let previous = index == 0 ? Network.inputIndex : index - 1
            func shapeOf(_ i: Int) -> TensorShape { i == Network.inputIndex ? inputShape : shapes[i] }
            func resolve(_ ref: Int, key: String) throws -> Int {
                let absolute = ref < 0 ? index + ref : ref
                guard (0..<index).contains(absolute) else {
                    throw section.error(path, key, "'\(key)' refers to layer \(ref), which is not an earlier layer (this is layer \(index))")
                }
                return absolute
            }
            guard let used = usedKeys[section.name] else {
                throw ModelLoadError(path: path, line: section.line, reason: "unknown section [\(section.name)] (supported: convolutional, maxpool, route, upsample, shortcut, yolo)")
            }
            try section.checkKeys(used: used, ignored: trainingKeys[section.name] ?? [], path: path)
            let input = shapeOf(previous)
            let spec: Spec, output: TensorShape, inputs: [Int]
            /// A size-like option within 1...maxDimension (0... when `allowZero`).
            func checkRange(_ key: String, _ value: Int, allowZero: Bool = false) throws {
                guard value >= (allowZero ? 0 : 1), value <= limits.maxDimension else {
                    throw section.error(path, section.options[key] != nil ? key : nil,
                                        "'\(key)' is \(value), outside \(allowZero ? 0 : 1)...\(limits.maxDimension)")
                }
            }
            switch section.name {
            case "convolutional":
                let filters = try section.int("filters", default: 1, path: path)
                let size = try section.int("size", default: 1, path: path)
                let stride = try section.int("stride", default: 1, path: path)
                let groups = try section.int("groups", default: 1, path: path)
                let pad = try section.int("pad", default: 0, path: path) != 0 ? size / 2 : try section.int("padding", default: 0, path: path)
                let bn = try section.int("batch_normalize", default: 0, path: path) != 0
                let activationName = section.string("activation", default: "logistic", path: path)
                guard let activation = Activation(rawValue: activationName) else {
                    throw section.error(path, "activation", "unsupported activation '\(activationName)' (supported: \(Activation.allCases.map(\.rawValue).joined(separator: ", ")))")
                }
                guard filters > 0, size > 0, stride > 0, pad >= 0, groups > 0 else {
                    throw section.error(path, nil, "filters, size, stride, groups must be positive and padding non-negative")
                }
                try checkRange("filters", filters)
                try checkRange("size", size)
                try checkRange("stride", stride)
                try checkRange("groups", groups)
                try checkRange(section.options["padding"] != nil ? "padding" : "pad", pad, allowZero: true)
                guard input.channels % groups == 0, filters % groups == 0 else {
                    throw section.error(path, "groups", "groups=\(groups) must divide the input channels (\(input.channels)) and filters (\(filters))")
                }
                let outH = ConvolutionGeometry.outputSize(input.height, size: size, stride: stride, pad: pad)
                let outW = ConvolutionGeometry.outputSize(input.width, size: size, stride: stride, pad: pad)
                guard outH > 0, outW > 0 else {
                    throw section.error(path, nil, "a \(size)×\(size) conv does not fit its \(input) input")
                }
                spec = .convolution(filters: filters, size: size, stride: stride, pad: pad, groups: groups, batchNormalize: bn, activation: activation)
                output = TensorShape(channels: filters, height: outH, width: outW)
                inputs = [previous]
                // [filters, C/groups·k·k] weights plus bias (and 3 BatchNorm vectors); im2col needs C/groups·k·k × outH·outW.
                guard let (kernel, columns) = ConvolutionGeometry.checkedCounts(inputShape: input, filters: filters, size: size,
                                                                                 stride: stride, pad: pad, groups: groups) else {
                    throw section.error(path, nil, "a \(size)×\(size) conv with \(filters) filters on a \(input) input is too large")
                }
                let (p1, o1) = parameterCount.addingReportingOverflow(kernel)
                let (params, o2) = p1.addingReportingOverflow(filters * (bn ? 4 : 1))
                guard !o1, !o2, params <= limits.maxNetworkBytes / 4 else {
                    throw section.error(path, nil, "the network has more parameters than the limit of \(limits.maxNetworkBytes / 4)")
                }
                parameterCount = params
                workspace = max(workspace, columns)
            case "maxpool":
                let stride = try section.int("stride", default: 1, path: path)
                let size = try section.int("size", default: stride, path: path)
                let pad = try section.int("padding", default: size - 1, path: path)
                guard size > 0, stride > 0, pad >= 0 else { throw section.error(path, nil, "size and stride must be positive") }
                try checkRange("size", size)
                try checkRange("stride", stride)
                try checkRange("padding", pad, allowZero: true)
                spec = .maxPool(size: size, stride: stride, pad: pad)
                output = MaxPoolLayer(inputShape: input, size: size, stride: stride, pad: pad).outputShape
                guard output.height > 0, output.width > 0 else { throw section.error(path, nil, "pooling window does not fit its \(input) input") }
                inputs = [previous]
            case "upsample":
                let factor = try section.int("stride", default: 2, path: path)
                guard factor >= 1 else { throw section.error(path, "stride", "only upsampling by a positive integer factor is supported (stride=\(factor))") }
                try checkRange("stride", factor)
                spec = .upsample(factor: factor, scale: try section.float("scale", default: 1, path: path))
                output = TensorShape(channels: input.channels, height: input.height * factor, width: input.width * factor)
                inputs = [previous]
            case "route":
                guard let refs = try section.ints("layers", path: path), !refs.isEmpty else {
                    throw section.error(path, nil, "missing required key 'layers'")
                }
                let groups = try section.int("groups", default: 1, path: path)
                let groupID = try section.int("group_id", default: 0, path: path)
                guard groups >= 1, (0..<groups).contains(groupID) else {
                    throw section.error(path, "group_id", "group_id=\(groupID) must be in 0..<groups (groups=\(groups))")
                }
                try checkRange("groups", groups)
                inputs = try refs.map { try resolve($0, key: "layers") }
                let first = shapeOf(inputs[0])
                for i in inputs {
                    let s = shapeOf(i)
                    guard s.height == first.height, s.width == first.width else {
                        throw section.error(path, "layers", "routed layers have different sizes (\(first) vs \(s) from layer \(i))")
                    }
                    guard s.channels % groups == 0 else {
                        throw section.error(path, "groups", "layer \(i) has \(s.channels) channels, not divisible by groups=\(groups)")
                    }
                }
                spec = .route(layers: inputs, groups: groups, groupID: groupID)
                output = RouteLayer(inputShapes: inputs.map(shapeOf), groups: groups, groupID: groupID).outputShape
            case "shortcut":
                guard let refs = try section.ints("from", path: path), refs.count == 1 else {
                    throw section.error(path, "from", "'from' must name exactly one layer")
                }
                let from = try resolve(refs[0], key: "from")
                guard shapeOf(from) == input else {
                    throw section.error(path, "from", "shortcut adds layer \(from) (\(shapeOf(from))) to the previous layer (\(input)): shapes differ")
                }
                let activationName = section.string("activation", default: "linear", path: path)
                guard let activation = Activation(rawValue: activationName) else {
                    throw section.error(path, "activation", "unsupported activation '\(activationName)'")
                }
                spec = .shortcut(from: from, activation: activation)
                output = input
                inputs = [previous, from]
            case "yolo":
                let classes = try section.int("classes", default: 20, path: path)
                let num = try section.int("num", default: 1, path: path)
                try checkRange("classes", classes)
                try checkRange("num", num)
                let allAnchors = try section.floats("anchors", path: path) ?? []
                guard allAnchors.count >= 2 * num else {
                    throw section.error(path, "anchors", "needs \(num) anchor pairs (num=\(num)), found \(allAnchors.count) numbers")
                }
                let mask = try section.ints("mask", path: path) ?? Array(0..<num)
                guard mask.allSatisfy({ (0..<num).contains($0) }) else {
                    throw section.error(path, "mask", "mask entries must be in 0..<num (num=\(num))")
                }
                guard classes > 0 else { throw section.error(path, "classes", "classes must be positive") }
                guard !mask.isEmpty else { throw section.error(path, "mask", "mask must name at least one anchor") }
                let expected = mask.count * (5 + classes)  // both ≤ maxDimension: no overflow
                guard input.channels == expected else {
                    throw section.error(path, nil, "the layer before [yolo] outputs \(input.channels) channels, but \(mask.count) anchors × (5 + \(classes) classes) = \(expected) are needed (set filters=\(expected) in the last [convolutional])")
                }
                spec = .yolo(classes: classes, anchors: mask.map { (allAnchors[2 * $0], allAnchors[2 * $0 + 1]) },
                             scaleXY: try section.float("scale_x_y", default: 1, path: path),
                             newCoords: try section.int("new_coords", default: 0, path: path) != 0)
                output = input
                inputs = [previous]
            default:
                fatalError("unreachable: usedKeys lists only handled sections")
            }
            guard output.channels <= limits.maxDimension, output.height <= limits.maxDimension, output.width <= limits.maxDimension else {
                throw section.error(path, nil, "output \(output) is larger than \(limits.maxDimension) per dimension")
            }
            try budget.reserve(output.count, for: "layer \(index) ([\(section.name)] at line \(section.line))")
            specs.append((spec, section, output, inputs))
            shapes.append(output)
        }
        guard !specs.isEmpty else { throw ModelLoadError(path: path, reason: "config has no layers after [net]") }
        let headClasses = specs.compactMap { item -> Int? in
            if case .yolo(let classes, _, _, _) = item.spec { return classes }
            return nil
        }
        guard !headClasses.isEmpty else { throw ModelLoadError(path: path, reason: "config has no [yolo] layer: nothing to detect with") }
        guard Set(headClasses).count == 1 else {
            throw ModelLoadError(path: path, reason: "[yolo] layers disagree on the number of classes (\(headClasses))")
        }
        try budget.reserve(workspace, for: "the im2col workspace")
        try budget.reserve(parameterCount, for: "the weights")
        return Plan(specs: specs, inputShape: inputShape, letterbox: letterbox, parameterCount: parameterCount,
                    networkFloats: budget.floats)
    }

    /// Pass 2: reads parameters in layer order, folds BatchNorm, builds the layers.
    static func build(_ plan: Plan, config: DarknetConfig, weights: inout DarknetWeights, winograd: WinogradPolicy) throws -> DarknetModel {
        let path = config.path, specs = plan.specs, inputShape = plan.inputShape, letterbox = plan.letterbox
        let width = inputShape.width, height = inputShape.height
        try weights.expect(floats: plan.parameterCount, for: "\((path as NSString).lastPathComponent) (\(specs.count) layers)")

        let network = Network(inputShape: inputShape)
        var heads: [YOLOLayer] = []
        for (spec, _, _, inputs) in specs {
            let input = network.shape(of: inputs[0])
            let layer: any NetworkLayer
            var head: YOLOLayer?
            switch spec {
            case let .convolution(filters, size, stride, pad, groups, bn, activation):
                // Read straight into the layer's buffers and folded there: one copy of the weights at a time.
                let bias = FloatBuffer(try weights.read(filters))
                var gamma: [Float] = [], mean: [Float] = [], variance: [Float] = []
                if bn { gamma = try weights.read(filters); mean = try weights.read(filters); variance = try weights.read(filters) }
                let rest = input.channels / groups * size * size
                let w = FloatBuffer(count: filters * rest)
                try weights.read(filters * rest, into: w.pointer)
                if bn {
                    // OpenCV's Darknet importer uses eps = 1e-6 (Darknet: √σ² + 1e-6); the two agree to float rounding.
                    ConvolutionLayer.foldBatchNorm(weights: w.pointer, rest: rest, bias: bias.pointer, convBias: nil, gamma: gamma,
                                                   mean: mean, variance: variance, epsilon: 1e-6)
                }
                layer = ConvolutionLayer(inputShape: input, filters: filters, size: size, stride: stride, pad: pad, groups: groups,
                                         activation: activation, weights: w, bias: bias, winograd: winograd)
            case let .maxPool(size, stride, pad):
                layer = MaxPoolLayer(inputShape: input, size: size, stride: stride, pad: pad)
            case let .upsample(factor, scale):
                layer = UpsampleLayer(inputShape: input, factor: factor, scale: scale)
            case let .route(_, groups, groupID):
                layer = RouteLayer(inputShapes: inputs.map(network.shape(of:)), groups: groups, groupID: groupID)
            case let .shortcut(_, activation):
                layer = ShortcutLayer(shape: input, activation: activation)
            case let .yolo(classes, anchors, scaleXY, newCoords):
                let yolo = YOLOLayer(inputShape: input, classes: classes, anchors: anchors, scaleXY: scaleXY, newCoords: newCoords,
                                     networkWidth: width, networkHeight: height)
                heads.append(yolo)
                head = yolo
                layer = yolo
            }
            let index = network.append(layer, inputs: inputs)
            if let head { network.addOutput(index, head: head) }
        }
        guard !heads.isEmpty else { throw ModelLoadError(path: path, reason: "config has no [yolo] layer: nothing to detect with") }
        guard Set(heads.map(\.classes)).count == 1 else {
            throw ModelLoadError(path: path, reason: "[yolo] layers disagree on the number of classes (\(heads.map(\.classes)))")
        }
        return DarknetModel(network: network, heads: heads, letterbox: letterbox, configPath: path, weightsPath: weights.path, config: config)
    }
}
