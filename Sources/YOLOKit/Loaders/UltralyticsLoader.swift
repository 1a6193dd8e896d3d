import Foundation

/// An Ultralytics detection checkpoint (`.pt`: YOLOv8, YOLO11, YOLO26 …) read without running any Python:
/// the module tree comes from the restricted unpickler, weights are folded once (BatchNorm into conv), and
/// a `Network` is built per input size (rect letterbox gives each aspect ratio its own size).
public final class UltralyticsModel {
    public let path: String
    public let names: [String]
    public let strides: [Int]
    /// Whether the head has YOLO26's one-to-one branch (NMS-free), and whether this model runs it.
    public let hasOneToOneHead: Bool
    public let endToEnd: Bool
    public let regMax: Int
    /// Bounds on sizes and on network memory (checked when the model loads, for a 640×640 input).
    public let limits: ModelLimits
    /// Estimated Float32 values a network for a 640×640 input holds (outputs, scratch, weights).
    public private(set) var estimatedFloats640 = 0
    let checkpoint: TorchCheckpoint
    let layers: [TorchModule]  // DetectionModel.model children, in order
    /// Folded conv weights by module path, shared by every network built.
    var foldedConvs: [String: (weights: FloatBuffer, bias: FloatBuffer)] = [:]

    /// Module class names this builder understands; anything else is an error naming class and layer.
    enum ModuleKind: String {
        case conv = "Conv", dwConv = "DWConv", conv2d = "Conv2d", c2f = "C2f", c3k2 = "C3k2", c3 = "C3", c3k = "C3k"
        case bottleneck = "Bottleneck", sppf = "SPPF", upsample = "Upsample", concat = "Concat", c2psa = "C2PSA"
        case psaBlock = "PSABlock", attention = "Attention", detect = "Detect", sequential = "Sequential", moduleList = "ModuleList"
        case maxPool = "MaxPool2d", identity = "Identity"
    }

    /// `endToEnd`: run the one-to-one (NMS-free) branch of a YOLO26 head; nil = whenever the head has one.
    /// false uses the one-to-many branch, whose boxes need NMS (Ultralytics 8.4's default `nms=None`).
    public init(path: String, endToEnd: Bool? = nil, limits: ModelLimits = .default) throws {
        self.path = path
        self.limits = limits
        checkpoint = try TorchCheckpoint(path: path)
        let fail = { (reason: String) in ModelLoadError(path: path, reason: reason) }
        // The model lives under "model" (released/stripped checkpoints) or "ema" (training checkpoints).
        let root = checkpoint.root
        let candidates = ["model", "ema"].compactMap { key -> PickleObject? in
            if case .object(let o)? = root.value(forKey: key) { return o }
            return nil
        }
        guard let object = candidates.first else {
            throw fail("not an Ultralytics checkpoint: no 'model' or 'ema' module in the top-level dict")
        }
        let model = try TorchModule(object, path: path)
        guard model.className == "DetectionModel" else {
            throw fail("unsupported task model \(model.typeName) (only DetectionModel — object detection — is supported)")
        }
        guard let sequential = model.child("model") else { throw fail("DetectionModel has no 'model' Sequential") }
        layers = sequential.children.map(\.module)
        guard let head = layers.last, head.className == "Detect" else {
            throw fail("the last layer is \(layers.last?.typeName ?? "missing"), expected an ultralytics Detect head")
        }
        // Class names: DetectionModel.names ({index: name}); else "class0", ….
        let nc = try head.int("nc")
        guard (1...limits.maxDimension).contains(nc) else { throw fail("Detect head: nc (number of classes) is \(nc), outside 1...\(limits.maxDimension)") }
        var names = (0..<nc).map { "class\($0)" }
        if case .dict(let pairs)? = model.attributes["names"] {
            for (k, v) in pairs { if let i = k.intValue, (0..<nc).contains(i), let s = v.stringValue { names[i] = s } }
        } else if case .list(let items)? = model.attributes["names"], items.count == nc {
            names = items.map { $0.stringValue ?? "" }
        }
        self.names = names
        guard case .tensor(let strideTensor)? = head.attributes["stride"] else { throw fail("Detect head has no stride tensor") }
        let strideValues = try checkpoint.floats(strideTensor)
        guard !strideValues.isEmpty, strideValues.allSatisfy({ $0.isFinite && $0 >= 1 && $0 <= Float(limits.maxDimension) }) else {
            throw fail("Detect head: strides \(strideValues.prefix(8)) must be numbers in 1...\(limits.maxDimension)")
        }
        strides = strideValues.map { Int($0.rounded()) }
        // The letterbox pads each image to a multiple of 32 (Preprocess.ultralyticsLetterbox's stride), so a head
        // whose largest stride is not 32 (P6 models: 64) would get inputs its levels cannot divide.
        guard strides.max() == 32 else {
            throw fail("Detect head strides \(strides): only models whose largest stride is 32 are supported")
        }
        regMax = try head.int("reg_max")
        guard (1...limits.maxDimension).contains(regMax) else { throw fail("Detect head: reg_max is \(regMax), outside 1...\(limits.maxDimension)") }
        hasOneToOneHead = head.child("one2one_cv2") != nil
        guard hasOneToOneHead || endToEnd != true else { throw fail("this checkpoint has no one-to-one (end-to-end) head") }
        self.endToEnd = hasOneToOneHead && ((endToEnd ?? true) || head.child("cv2") == nil)
        // Build once at a small size: checks every module and that every parameter is used, and estimates the
        // memory a 640×640 input needs (a hostile file must not make the first real image allocate terabytes).
        let (_, builder) = try build(height: 64, width: 64, checkUnused: true, budget: NetworkBudget(limits: limits, path: path))
        let estimate = builder.estimatedFloats(scale: 100)  // (640·640) / (64·64)
        estimatedFloats640 = estimate
        guard estimate <= limits.maxNetworkBytes / 4 else {
            throw fail("the network would need about \(NetworkBudget.size(floats: estimate)) for a 640×640 input, more than the limit of \(NetworkBudget.size(floats: limits.maxNetworkBytes / 4)) (ModelLimits.maxNetworkBytes)")
        }
    }

    /// The network for an input of `height`×`width` (multiples of the largest stride). The output node
    /// is `network.outputIndices[0]`: a DetectHeadLayer's [4 + nc, 1, N].
    public func makeNetwork(height: Int, width: Int, checkUnused: Bool = false) throws -> Network {
        try build(height: height, width: width, checkUnused: checkUnused, budget: nil).network
    }

    /// Builds the network; with a `budget`, every allocation is checked against it before it happens.
    func build(height: Int, width: Int, checkUnused: Bool, budget: NetworkBudget?) throws -> (network: Network, builder: GraphBuilder) {
        guard (1...limits.maxDimension).contains(height), (1...limits.maxDimension).contains(width) else {
            throw ModelLoadError(path: path, reason: "input size \(width)×\(height) is outside 1...\(limits.maxDimension) per side")
        }
        let builder = GraphBuilder(model: self, network: Network(inputShape: TensorShape(channels: 3, height: height, width: width)))
        builder.budget = budget
        try builder.budget?.reserve(NetworkBudget.product(3, height, width), for: "the input")
        var outputs: [Int] = []  // node index of each top-level layer's output
        for (i, layer) in layers.enumerated() {
            let from = try layer.ints("f")
            guard !from.isEmpty else { throw builder.error(layer, "layer \(i) reads no layer ('f' is empty)") }
            let inputs = try from.map { f -> Int in
                let (j, overflow) = i.addingReportingOverflow(f)
                guard f < 0 ? !overflow && j >= -1 : f < i else {
                    throw builder.error(layer, "layer \(i) reads layer \(f), which is not an earlier layer")
                }
                let k = f < 0 ? j : f
                return k < 0 ? Network.inputIndex : outputs[k]
            }
            outputs.append(try builder.module(layer, path: "model.\(i)", inputs: inputs))
        }
        builder.network.outputIndices = [outputs[outputs.count - 1]]
        if checkUnused { try builder.checkAllParametersUsed(layers) }
        return (builder.network, builder)
    }
}

/// Walks the module tree, appending layers to a network and recording which parameters were consumed.
final class GraphBuilder {
    let model: UltralyticsModel
    let network: Network
    var used: Set<String> = []
    /// When set, every layer's memory is reserved before the layer is appended (allocated).
    var budget: NetworkBudget?
    /// For the estimate at another input size: Σ output floats (∝ H·W), weights read (constant), and per layer the
    /// workspace / scratch floats that grow ∝ H·W and ∝ (H·W)² (attention scores).
    private(set) var outputFloats = 0
    private(set) var weightFloats = 0
    private(set) var scratch: [(linear: Int, quadratic: Int)] = []
    /// Modules visited: a pickle can share one module object many times (a DAG), so a tree walk could take
    /// exponential time without a bound.
    var visits = 0
    static let maxVisits = 200_000

    init(model: UltralyticsModel, network: Network) {
        self.model = model
        self.network = network
    }

    var path: String { model.path }
    var limits: ModelLimits { model.limits }

    /// Floats of this network at an input with `scale` times as many pixels (saturating).
    func estimatedFloats(scale: Int) -> Int {
        func mul(_ a: Int, _ b: Int) -> Int { NetworkBudget.product(a, b) ?? Int.max }
        func add(_ a: Int, _ b: Int) -> Int { a.addingReportingOverflow(b).overflow ? Int.max : a + b }
        let work = scratch.map { add(mul($0.linear, scale), mul(mul($0.quadratic, scale), scale)) }.max() ?? 0
        return add(add(mul(outputFloats, scale), work), weightFloats)
    }

    /// Appends a layer after checking its sizes (overflow-free) and reserving its memory in the budget.
    @discardableResult
    func append(_ layer: any NetworkLayer, inputs: [Int], for m: TorchModule, path p: String) throws -> Int {
        let s = layer.outputShape
        guard s.channels >= 1, s.height >= 1, s.width >= 1,
              s.channels <= limits.maxDimension || (layer is DetectHeadLayer && s.channels <= limits.maxDimension + 4),
              s.height <= limits.maxDimension, s.width <= limits.maxDimension || layer is DetectHeadLayer,
              let count = NetworkBudget.product(s.channels, s.height, s.width) else {
            throw error(m, "\(p): output \(s) is empty or larger than \(limits.maxDimension) per dimension")
        }
        var linear = layer.workspaceSize, quadratic = 0, extra = 0
        if let attention = layer as? AttentionLayer {
            // Scratch qᵀ [N, keyDim] and scores 2·[N, N], plus v and pe outputs and pe's own workspace.
            let n = s.planeSize
            linear = NetworkBudget.product(n, attention.keyDim) ?? Int.max
            quadratic = NetworkBudget.product(2, n, n) ?? Int.max
            extra = NetworkBudget.product(2, count).map { $0 + attention.positional.workspaceSize } ?? Int.max
        }
        if var b = budget {
            try b.reserve(count, for: "\(p) (\(m.className))")
            try b.reserve(extra, for: "\(p) (\(m.className))")
            let previous = scratch.map { $0.linear + $0.quadratic }.max() ?? 0
            let (work, overflow) = linear.addingReportingOverflow(quadratic)
            try b.reserve(overflow ? nil : max(0, work - previous), for: "\(p) (\(m.className)) scratch")
            budget = b
        }
        outputFloats += count + extra
        scratch.append((linear, quadratic))
        return network.append(layer, inputs: inputs)
    }

    func error(_ m: TorchModule, _ reason: String) -> ModelLoadError {
        ModelLoadError(path: path, reason: "\(m.className): \(reason)")
    }

    func floats(_ m: TorchModule, _ name: String, path p: String, isBuffer: Bool = false) throws -> [Float] {
        guard let t = isBuffer ? m.buffer(name) : m.parameter(name) else {
            throw ModelLoadError(path: path, reason: "\(p): \(m.className) is missing \(isBuffer ? "buffer" : "parameter") '\(name)'")
        }
        used.insert(p + "." + name)
        if var b = budget {
            try b.reserve(t.count, for: "\(p).\(name)")
            budget = b
        }
        weightFloats += t.count
        return try model.checkpoint.floats(t)
    }

    /// A size-like attribute within 1...maxDimension (0... when `allowZero`).
    func checkDimension(_ m: TorchModule, _ p: String, _ what: String, _ value: Int, allowZero: Bool = false) throws {
        guard value >= (allowZero ? 0 : 1), value <= limits.maxDimension else {
            throw error(m, "\(p): \(what) is \(value), outside \(allowZero ? 0 : 1)...\(limits.maxDimension)")
        }
    }

    /// One module (or container) reading `inputs` (node indices); returns the node of its output.
    func module(_ m: TorchModule, path p: String, inputs: [Int]) throws -> Int {
        visits += 1
        guard visits <= GraphBuilder.maxVisits else {
            throw ModelLoadError(path: path, reason: "\(p): the module tree has more than \(GraphBuilder.maxVisits) modules (shared submodules repeated too often)")
        }
        guard let kind = UltralyticsModel.ModuleKind(rawValue: m.className) else {
            throw ModelLoadError(path: path, reason: "\(p): unsupported module \(m.typeName) (layer \(p.split(separator: ".").dropFirst().first ?? "?"))")
        }
        guard let x = inputs.first else { throw error(m, "\(p): no input") }
        switch kind {
        case .conv, .dwConv:
            return try conv(m, path: p, input: x)
        case .conv2d:
            return try conv2d(m, path: p, input: x, batchNorm: nil, activation: .linear)
        case .identity:
            return x
        case .sequential, .moduleList:
            var y = x
            for (name, child) in m.children { y = try module(child, path: p + "." + name, inputs: [y]) }
            return y
        case .bottleneck:
            let a = try module(try child(m, "cv1"), path: p + ".cv1", inputs: [x])
            let b = try module(try child(m, "cv2"), path: p + ".cv2", inputs: [a])
            return try m.bool("add") ? try add(x, b, m, p) : b
        case .c2f, .c3k2:
            // cv1 → [a | b] (two halves); each block reads the previous block's output (starting at b);
            // cv2 reads cat(a, b, block outputs…) — cat(cv1 output, …) since a|b is cv1's output itself.
            let y = try module(try child(m, "cv1"), path: p + ".cv1", inputs: [x])
            let second = try append(RouteLayer(inputShapes: [try evenSplit(y, m, p + ".cv1")], groups: 2, groupID: 1), inputs: [y], for: m, path: p)
            var parts = [y], last = second
            for (name, block) in try child(m, "m").children {
                last = try module(block, path: p + ".m." + name, inputs: [last])
                parts.append(last)
            }
            return try module(try child(m, "cv2"), path: p + ".cv2", inputs: [try concat(parts, m, p)])
        case .c3, .c3k:
            let a = try module(try child(m, "m"), path: p + ".m", inputs: [try module(try child(m, "cv1"), path: p + ".cv1", inputs: [x])])
            let b = try module(try child(m, "cv2"), path: p + ".cv2", inputs: [x])
            return try module(try child(m, "cv3"), path: p + ".cv3", inputs: [try concat([a, b], m, p)])
        case .sppf:
            let y = try module(try child(m, "cv1"), path: p + ".cv1", inputs: [x])
            let pool = try child(m, "m")
            var parts = [y]
            let n = m.attributes["n"]?.intValue ?? 3
            guard (1...16).contains(n) else { throw error(m, "\(p): n is \(n), outside 1...16") }
            for _ in 0..<n {
                parts.append(try module(pool, path: p + ".m", inputs: [parts[parts.count - 1]]))
            }
            let out = try module(try child(m, "cv2"), path: p + ".cv2", inputs: [try concat(parts, m, p)])
            return (m.attributes["add"]?.boolValue ?? false) ? try add(x, out, m, p) : out
        case .maxPool:
            let k = try m.ints("kernel_size"), s = try m.ints("stride"), pad = try m.ints("padding")
            guard let k0 = k.first, let s0 = s.first, let pad0 = pad.first,
                  k.allSatisfy({ $0 == k0 }), s.allSatisfy({ $0 == s0 }), pad.allSatisfy({ $0 == pad0 }) else {
                throw error(m, "only square pooling is supported (kernel \(k), stride \(s), padding \(pad))")
            }
            try checkDimension(m, p, "kernel_size", k0)
            try checkDimension(m, p, "stride", s0)
            try checkDimension(m, p, "padding", pad0, allowZero: true)
            let layer = MaxPoolLayer(inputShape: network.shape(of: x), size: k0, stride: s0, pad: 2 * pad0)
            return try append(layer, inputs: [x], for: m, path: p)
        case .upsample:
            let mode = (try? m.string("mode")) ?? "nearest"
            let factor = m.attributes["scale_factor"]?.doubleValue ?? m.attributes["scale_factor"]?.items?.first?.doubleValue
            guard mode == "nearest", let factor, factor == factor.rounded(), factor >= 1 else {
                throw error(m, "only nearest upsampling by an integer factor is supported (mode \(mode), scale_factor \(String(describing: factor)))")
            }
            guard factor <= Double(limits.maxDimension) else { throw error(m, "\(p): scale_factor \(factor) is larger than \(limits.maxDimension)") }
            return try append(UpsampleLayer(inputShape: network.shape(of: x), factor: Int(factor)), inputs: [x], for: m, path: p)
        case .concat:
            let d = m.attributes["d"]?.intValue ?? 1
            guard d == 1 else { throw error(m, "only channel concatenation (d=1) is supported, got d=\(d)") }
            return try concat(inputs, m, p)
        case .c2psa:
            let y = try module(try child(m, "cv1"), path: p + ".cv1", inputs: [x])
            let yShape = try evenSplit(y, m, p + ".cv1")
            let first = try append(RouteLayer(inputShapes: [yShape], groups: 2, groupID: 0), inputs: [y], for: m, path: p)
            let second = try append(RouteLayer(inputShapes: [yShape], groups: 2, groupID: 1), inputs: [y], for: m, path: p)
            let b = try module(try child(m, "m"), path: p + ".m", inputs: [second])
            return try module(try child(m, "cv2"), path: p + ".cv2", inputs: [try concat([first, b], m, p)])
        case .psaBlock:
            let residual = m.attributes["add"]?.boolValue ?? true
            let a = try module(try child(m, "attn"), path: p + ".attn", inputs: [x])
            let x1 = residual ? try add(x, a, m, p) : a
            let f = try module(try child(m, "ffn"), path: p + ".ffn", inputs: [x1])
            return residual ? try add(x1, f, m, p) : f
        case .attention:
            return try attention(m, path: p, input: x)
        case .detect:
            return try detect(m, path: p, inputs: inputs)
        }
    }

    func child(_ m: TorchModule, _ name: String) throws -> TorchModule {
        guard let c = m.child(name) else { throw error(m, "missing submodule '\(name)'") }
        return c
    }

    /// Element-wise sum of two nodes, which must have the same shape.
    func add(_ a: Int, _ b: Int, _ m: TorchModule, _ p: String) throws -> Int {
        guard network.shape(of: a) == network.shape(of: b) else {
            throw error(m, "\(p): residual add of different shapes \(network.shape(of: a)) and \(network.shape(of: b))")
        }
        return try append(ShortcutLayer(shape: network.shape(of: b), activation: .linear), inputs: [a, b], for: m, path: p)
    }

    /// Channel concatenation of same-sized nodes.
    func concat(_ parts: [Int], _ m: TorchModule, _ p: String) throws -> Int {
        let shapes = parts.map(network.shape(of:))
        guard let first = shapes.first, shapes.allSatisfy({ $0.height == first.height && $0.width == first.width }) else {
            throw error(m, "\(p): inputs of different sizes \(shapes)")
        }
        return try append(RouteLayer(inputShapes: shapes), inputs: parts, for: m, path: p)
    }

    /// The shape of a node that is split into two channel halves (C2f, C2PSA): its channel count must be even.
    func evenSplit(_ node: Int, _ m: TorchModule, _ p: String) throws -> TensorShape {
        let shape = network.shape(of: node)
        guard shape.channels % 2 == 0 else { throw error(m, "\(p): \(shape.channels) channels cannot be split in two halves") }
        return shape
    }

    /// Ultralytics Conv / DWConv: Conv2d (no bias) + BatchNorm2d + activation (SiLU or Identity).
    func conv(_ m: TorchModule, path p: String, input: Int) throws -> Int {
        let actName = m.child("act")?.className ?? "Identity"
        let activation: Activation
        switch actName {
        case "SiLU": activation = .swish
        case "Identity": activation = .linear
        case "ReLU": activation = .relu
        default: throw error(m, "\(p): unsupported activation \(actName)")
        }
        return try conv2d(try child(m, "conv"), path: p + ".conv", input: input, batchNorm: (try child(m, "bn"), p + ".bn"), activation: activation)
    }

    /// nn.Conv2d, optionally followed by a BatchNorm2d folded into it.
    func conv2d(_ c: TorchModule, path p: String, input: Int, batchNorm: (TorchModule, String)?, activation: Activation) throws -> Int {
        let inShape = network.shape(of: input)
        guard let wt = c.parameter("weight"), wt.shape.count == 4 else { throw error(c, "\(p): missing 4-D weight") }
        let (out, inPerGroup, kh, kw) = (wt.shape[0], wt.shape[1], wt.shape[2], wt.shape[3])
        let groups = try c.int("groups")
        let stride = try c.ints("stride"), padding = try c.ints("padding"), dilation = try c.ints("dilation")
        guard kh == kw, let stride0 = stride.first, let padding0 = padding.first, stride.allSatisfy({ $0 == stride0 }),
              padding.allSatisfy({ $0 == padding0 }), dilation.allSatisfy({ $0 == 1 }) else {
            throw error(c, "\(p): only square kernels, equal strides/padding and dilation 1 are supported")
        }
        try checkDimension(c, p, "out_channels", out)
        try checkDimension(c, p, "in_channels per group", inPerGroup)
        try checkDimension(c, p, "kernel_size", kh)
        try checkDimension(c, p, "groups", groups)
        try checkDimension(c, p, "stride", stride0)
        try checkDimension(c, p, "padding", padding0, allowZero: true)
        guard inPerGroup * groups == inShape.channels, out % groups == 0 else {
            throw error(c, "\(p): weight \(wt.shape) with groups=\(groups) does not fit a \(inShape.channels)-channel input")
        }
        if let bias = c.parameter("bias"), bias.count != out {
            throw error(c, "\(p): bias has \(bias.count) values for \(out) output channels")
        }
        let folded: (weights: FloatBuffer, bias: FloatBuffer)
        if let cached = model.foldedConvs[p] {
            folded = cached
            used.insert(p + ".weight")
            if c.parameter("bias") != nil { used.insert(p + ".bias") }
            if let (_, bnPath) = batchNorm { for n in ["weight", "bias", "running_mean", "running_var"] { used.insert(bnPath + "." + n) } }
        } else {
            var w = try floats(c, "weight", path: p)
            var b: [Float] = c.parameter("bias") != nil ? try floats(c, "bias", path: p) : [Float](repeating: 0, count: out)
            if let (bn, bnPath) = batchNorm {
                let gamma = try floats(bn, "weight", path: bnPath), beta = try floats(bn, "bias", path: bnPath)
                let mean = try floats(bn, "running_mean", path: bnPath, isBuffer: true), variance = try floats(bn, "running_var", path: bnPath, isBuffer: true)
                guard [gamma.count, beta.count, mean.count, variance.count].allSatisfy({ $0 == out }) else {
                    throw error(bn, "\(bnPath): BatchNorm size does not match the conv's \(out) channels")
                }
                (w, b) = ConvolutionLayer.foldBatchNorm(weights: w, convBias: b, gamma: gamma, beta: beta, mean: mean, variance: variance,
                                                        epsilon: Float(try bn.double("eps")))
            }
            folded = (FloatBuffer(w), FloatBuffer(b))
            model.foldedConvs[p] = folded
        }
        let outH = ConvolutionLayer.outputSize(inShape.height, size: kh, stride: stride0, pad: padding0)
        let outW = ConvolutionLayer.outputSize(inShape.width, size: kh, stride: stride0, pad: padding0)
        guard outH > 0, outW > 0 else { throw error(c, "\(p): input \(inShape) too small") }
        // im2col workspace [inPerGroup·k·k, outH·outW] and the multiply-accumulate count must be countable.
        guard NetworkBudget.product(out, inPerGroup, kh, kh, outH, outW) != nil else {
            throw error(c, "\(p): a \(kh)×\(kh) conv with weight \(wt.shape) on a \(inShape) input is too large")
        }
        let layer = ConvolutionLayer(inputShape: inShape, filters: out, size: kh, stride: stride0, pad: padding0, groups: groups,
                                     activation: activation, weights: folded.weights, bias: folded.bias)
        guard layer.outputShape.height > 0, layer.outputShape.width > 0 else { throw error(c, "\(p): input \(inShape) too small") }
        return try append(layer, inputs: [input], for: c, path: p)
    }

    func attention(_ m: TorchModule, path p: String, input: Int) throws -> Int {
        let heads = try m.int("num_heads"), keyDim = try m.int("key_dim"), headDim = try m.int("head_dim")
        try checkDimension(m, p, "num_heads", heads)
        try checkDimension(m, p, "key_dim", keyDim, allowZero: true)
        try checkDimension(m, p, "head_dim", headDim)
        let qkv = try module(try child(m, "qkv"), path: p + ".qkv", inputs: [input])
        let qkvShape = network.shape(of: qkv)
        // Scores are [N, N] per head (N = H·W): every size involved must be countable.
        guard NetworkBudget.product(heads, 2 * keyDim + headDim, qkvShape.planeSize, qkvShape.planeSize) != nil,
              NetworkBudget.product(3, qkvShape.planeSize, qkvShape.planeSize) != nil else {
            throw error(m, "\(p): attention over a \(qkvShape) input is too large")
        }
        guard qkvShape.channels == heads * (2 * keyDim + headDim) else {
            throw error(m, "\(p): qkv has \(qkvShape.channels) channels, expected \(heads)·(2·\(keyDim) + \(headDim))")
        }
        // pe is a depthwise Conv on v ([C, H, W]); build it on a scratch network to get a standalone layer.
        let valueShape = TensorShape(channels: heads * headDim, height: qkvShape.height, width: qkvShape.width)
        guard valueShape.channels <= limits.maxDimension, let valueCount = NetworkBudget.product(valueShape.channels, valueShape.height, valueShape.width) else {
            throw error(m, "\(p): value shape \(valueShape) is too large")
        }
        if var b = budget {
            try b.reserve(valueCount, for: "\(p).pe input")
            budget = b
        }
        let scratch = GraphBuilder(model: model, network: Network(inputShape: valueShape))
        scratch.budget = budget
        let peNode = try scratch.module(try child(m, "pe"), path: p + ".pe", inputs: [Network.inputIndex])
        guard let pe = scratch.network.nodes[peNode].layer as? ConvolutionLayer, pe.outputShape == valueShape else {
            throw error(m, "\(p): pe must be a shape-keeping Conv")
        }
        used.formUnion(scratch.used)
        budget = scratch.budget
        weightFloats += scratch.weightFloats
        let scale = Float(m.attributes["scale"]?.doubleValue ?? pow(Double(keyDim), -0.5))
        let core = try append(AttentionLayer(inputShape: qkvShape, heads: heads, keyDim: keyDim, headDim: headDim, scale: scale, positional: pe),
                              inputs: [qkv], for: m, path: p)
        return try module(try child(m, "proj"), path: p + ".proj", inputs: [core])
    }

    /// Detect: per level a box branch and a class branch (the one-to-one pair for end-to-end heads), then decode.
    func detect(_ m: TorchModule, path p: String, inputs: [Int]) throws -> Int {
        let nc = try m.int("nc"), regMax = try m.int("reg_max")
        guard nc == model.names.count, regMax == model.regMax else {
            throw error(m, "\(p): nc \(nc) / reg_max \(regMax) differ from the model's \(model.names.count) / \(model.regMax)")
        }
        let (boxName, clsName) = model.endToEnd ? ("one2one_cv2", "one2one_cv3") : ("cv2", "cv3")
        let boxes = try child(m, boxName).children, classes = try child(m, clsName).children
        guard boxes.count == inputs.count, classes.count == inputs.count, model.strides.count == inputs.count else {
            throw error(m, "\(p): \(inputs.count) inputs but \(boxes.count) box / \(classes.count) class branches and \(model.strides.count) strides")
        }
        var branchOutputs: [Int] = []
        for (level, input) in inputs.enumerated() {
            // Each level's map must be the input downsampled by its stride, or boxes would be scaled wrongly.
            let shape = network.shape(of: input), stride = model.strides[level]
            guard NetworkBudget.product(shape.height, stride) == network.inputShape.height,
                  NetworkBudget.product(shape.width, stride) == network.inputShape.width else {
                throw error(m, "\(p): level \(level) is \(shape.height)×\(shape.width) for a \(network.inputShape.height)×\(network.inputShape.width) input, which does not match its stride \(stride)")
            }
            let b = try module(boxes[level].module, path: "\(p).\(boxName).\(boxes[level].name)", inputs: [input])
            let c = try module(classes[level].module, path: "\(p).\(clsName).\(classes[level].name)", inputs: [input])
            guard network.shape(of: b).channels == 4 * regMax, network.shape(of: c).channels == nc else {
                throw error(m, "\(p): level \(level) branches give \(network.shape(of: b).channels) box and \(network.shape(of: c).channels) class channels, expected \(4 * regMax) and \(nc)")
            }
            branchOutputs += [b, c]
        }
        if regMax > 1 {
            // DFL's 1×1 conv holds the bin values 0…regMax−1; check instead of trusting.
            let dfl = try child(try child(m, "dfl"), "conv")
            let bins = try floats(dfl, "weight", path: p + ".dfl.conv")
            guard bins == (0..<regMax).map(Float.init) else { throw error(m, "\(p): DFL weights are not 0…\(regMax - 1)") }
        }
        let head = DetectHeadLayer(levelShapes: inputs.map(network.shape(of:)), classes: nc, regMax: regMax,
                                   strides: model.strides.map(Float.init),
                                   xyxy: model.endToEnd || (m.attributes["xyxy"]?.boolValue ?? false))
        return try append(head, inputs: branchOutputs, for: m, path: p)
    }

    /// Every parameter and BatchNorm statistic in the checkpoint must have been used (the one-to-many
    /// branches of an end-to-end head are training-only and skipped by design).
    func checkAllParametersUsed(_ layers: [TorchModule]) throws {
        var unused: [String] = []
        var walked = 0
        func walk(_ m: TorchModule, _ p: String) {
            walked += 1
            guard walked <= GraphBuilder.maxVisits else { return }  // bounded like `module` (which ran first)
            if model.hasOneToOneHead && m.className == "Detect" {
                // The branch pair that is not run is skipped: one-to-many (training only) or one-to-one.
                let skipped: Set<String> = model.endToEnd ? ["cv2", "cv3"] : ["one2one_cv2", "one2one_cv3"]
                for (name, c) in m.children where !skipped.contains(name) { walk(c, p + "." + name) }
                return
            }
            for (name, _) in m.parameters where !used.contains(p + "." + name) { unused.append(p + "." + name) }
            for (name, _) in m.buffers where name != "num_batches_tracked" && !used.contains(p + "." + name) { unused.append(p + "." + name) }
            for (name, c) in m.children { walk(c, p + "." + name) }
        }
        for (i, layer) in layers.enumerated() { walk(layer, "model.\(i)") }
        guard unused.isEmpty else {
            throw ModelLoadError(path: path, reason: "\(unused.count) tensors of the checkpoint are not used by the network: \(unused.prefix(5).joined(separator: ", "))\(unused.count > 5 ? ", …" : "")")
        }
    }
}
