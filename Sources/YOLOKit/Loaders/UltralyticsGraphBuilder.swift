import Foundation

/// Walks an Ultralytics module tree, appending layers to a network and recording which parameters were consumed.
final class UltralyticsGraphBuilder {
    let model: UltralyticsModel
    let network: Network
    var used: Set<String> = []
    /// When set, every layer's memory is reserved before the layer is appended (allocated).
    var budget: NetworkBudget?
    /// Σ output floats, weights read and per-layer scratch, for `estimatedFloats` (UltralyticsMemoryEstimate.swift).
    var outputFloats = 0
    var weightFloats = 0
    var scratch: [(linear: Int, quadratic: Int)] = []
    /// The Detect head once built (the network's output).
    var head: DetectHeadLayer?
    /// Modules visited: a pickle can share one module object many times (a DAG), so a tree walk could take
    /// exponential time without a bound.
    var visits = 0
    static let maxVisits = 200_000
    /// Multiply-accumulates by top-level layer path ("model.12"), counted as Ultralytics' `get_flops` (thop) counts
    /// them on the unfused module tree: every Conv2d (output elements × input channels per group × k²), every
    /// BatchNorm2d (4 per element), attention's two matrix products, the DFL conv. Activations, pooling, nearest
    /// upsampling, concatenation and additions count nothing.
    var macs: [String: Int] = [:]
    /// For `info`: also build the Detect branch pair the network does not run (Ultralytics' eval forward of a
    /// YOLO26 head runs both pairs, so its FLOPs include both).
    var countAllBranches = false
    /// The output node of each top-level layer, once built.
    var layerOutputs: [Int] = []
    /// The state-dict names of every conv node's tensors (compression cuts and factors them).
    var convNodes: [Int: ConvTensorNames] = [:]

    func countMACs(_ p: String, _ n: Int) {
        let parts = p.split(separator: ".")
        let key = parts.count >= 2 ? parts[0] + "." + parts[1] : p[...]
        macs[String(key), default: 0] += n
    }

    /// Module class names this builder understands; anything else is an error naming class and layer.
    enum ModuleKind: String {
        case conv = "Conv", dwConv = "DWConv", conv2d = "Conv2d", c2f = "C2f", c3k2 = "C3k2", c3 = "C3", c3k = "C3k"
        case bottleneck = "Bottleneck", sppf = "SPPF", upsample = "Upsample", concat = "Concat", c2psa = "C2PSA"
        case psaBlock = "PSABlock", attention = "Attention", detect = "Detect", sequential = "Sequential", moduleList = "ModuleList"
        case maxPool = "MaxPool2d", identity = "Identity"
    }

    init(model: UltralyticsModel, network: Network) {
        self.model = model
        self.network = network
    }

    var path: String { model.path }
    var limits: ModelLimits { model.limits }

    func error(_ m: TorchModule, _ reason: String) -> ModelLoadError {
        ModelLoadError(path: path, reason: "\(m.className): \(reason)")
    }

    func floats(_ m: TorchModule, _ name: String, path p: String, isBuffer: Bool = false) throws -> [Float] {
        try model.checkpoint.floats(try tensor(m, name, path: p, isBuffer: isBuffer))
    }

    /// A parameter of `count` floats straight into a new buffer (the conv weights: no array copy in between).
    func floatBuffer(_ m: TorchModule, _ name: String, path p: String, count: Int) throws -> FloatBuffer {
        let t = try tensor(m, name, path: p, isBuffer: false)
        guard t.count == count else { throw error(m, "\(p): \(name) has \(t.count) values, expected \(count)") }
        let buffer = FloatBuffer(count: count)
        try model.checkpoint.floats(t, into: buffer.pointer)
        return buffer
    }

    /// The tensor `name` of `m`, counted against the memory budget and marked used.
    private func tensor(_ m: TorchModule, _ name: String, path p: String, isBuffer: Bool) throws -> TorchTensor {
        guard let t = isBuffer ? m.buffer(name) : m.parameter(name) else {
            throw ModelLoadError(path: path, reason: "\(p): \(m.className) is missing \(isBuffer ? "buffer" : "parameter") '\(name)'")
        }
        used.insert(p + "." + name)
        if var b = budget {
            try b.reserve(t.count, for: "\(p).\(name)")
            budget = b
        }
        weightFloats += t.count
        return t
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
        guard visits <= UltralyticsGraphBuilder.maxVisits else {
            throw ModelLoadError(path: path, reason: "\(p): the module tree has more than \(UltralyticsGraphBuilder.maxVisits) modules (shared submodules repeated too often)")
        }
        guard let kind = ModuleKind(rawValue: m.className) else {
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

    /// Ultralytics Conv / DWConv: Conv2d (no bias) + BatchNorm2d + activation (SiLU or Identity). Its `conv` may be a
    /// Sequential of Conv2d (a low-rank factorized conv, `yolo compress`): all but the last run plain, the last gets
    /// the BatchNorm and the activation.
    func conv(_ m: TorchModule, path p: String, input: Int) throws -> Int {
        let inner = try child(m, "conv")
        guard inner.className == ModuleKind.sequential.rawValue else {
            let layer = try convLayer(m, path: p, inputShape: network.shape(of: input))
            return try appendConv(layer, input: input, module: inner, path: p + ".conv", batchNorm: p + ".bn")
        }
        let parts = inner.children
        guard let last = parts.last, parts.allSatisfy({ $0.module.className == ModuleKind.conv2d.rawValue }) else {
            throw error(m, "\(p).conv: a Sequential conv must hold Conv2d modules only")
        }
        var x = input
        for (name, c) in parts.dropLast() { x = try conv2d(c, path: p + ".conv." + name, input: x, batchNorm: nil, activation: .linear) }
        let layer = try conv2dLayer(last.module, path: p + ".conv." + last.name, inputShape: network.shape(of: x),
                                    batchNorm: (try child(m, "bn"), p + ".bn"), activation: try activation(m, p))
        return try appendConv(layer, input: x, module: last.module, path: p + ".conv." + last.name, batchNorm: p + ".bn")
    }

    /// Appends a conv layer built from the Conv2d `c` at `p`, recording its tensor names.
    func appendConv(_ layer: ConvolutionLayer, input: Int, module c: TorchModule, path p: String, batchNorm: String?) throws -> Int {
        let node = try append(layer, inputs: [input], for: c, path: p)
        convNodes[node] = ConvTensorNames(weight: p + ".weight", bias: c.parameter("bias") != nil ? p + ".bias" : nil, batchNorm: batchNorm)
        return node
    }

    /// The activation of an Ultralytics Conv (its `act` child).
    func activation(_ m: TorchModule, _ p: String) throws -> Activation {
        let actName = m.child("act")?.className ?? "Identity"
        switch actName {
        case "SiLU": return .swish
        case "Identity": return .linear
        case "ReLU": return .relu
        default: throw error(m, "\(p): unsupported activation \(actName)")
        }
    }

    /// The layer of an Ultralytics Conv / DWConv on an input of `inputShape`, not yet appended.
    func convLayer(_ m: TorchModule, path p: String, inputShape: TensorShape) throws -> ConvolutionLayer {
        try conv2dLayer(try child(m, "conv"), path: p + ".conv", inputShape: inputShape, batchNorm: (try child(m, "bn"), p + ".bn"),
                        activation: try activation(m, p))
    }

    /// nn.Conv2d, optionally followed by a BatchNorm2d folded into it.
    func conv2d(_ c: TorchModule, path p: String, input: Int, batchNorm: (TorchModule, String)?, activation: Activation) throws -> Int {
        let layer = try conv2dLayer(c, path: p, inputShape: network.shape(of: input), batchNorm: batchNorm, activation: activation)
        return try appendConv(layer, input: input, module: c, path: p, batchNorm: batchNorm?.1)
    }

    /// The layer of an nn.Conv2d (BatchNorm folded in) on an input of `inShape`, not yet appended.
    func conv2dLayer(_ c: TorchModule, path p: String, inputShape inShape: TensorShape, batchNorm: (TorchModule, String)?,
                     activation: Activation) throws -> ConvolutionLayer {
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
            // The weights go straight into the layer's buffer and the BatchNorm is folded there, in place.
            let w = try floatBuffer(c, "weight", path: p, count: wt.count)
            let convBias: [Float]? = c.parameter("bias") != nil ? try floats(c, "bias", path: p) : nil
            let b: FloatBuffer
            if let (bn, bnPath) = batchNorm {
                let gamma = try floats(bn, "weight", path: bnPath), beta = try floats(bn, "bias", path: bnPath)
                let mean = try floats(bn, "running_mean", path: bnPath, isBuffer: true), variance = try floats(bn, "running_var", path: bnPath, isBuffer: true)
                guard [gamma.count, beta.count, mean.count, variance.count].allSatisfy({ $0 == out }) else {
                    throw error(bn, "\(bnPath): BatchNorm size does not match the conv's \(out) channels")
                }
                b = FloatBuffer(beta)
                ConvolutionLayer.foldBatchNorm(weights: w.pointer, rest: wt.count / out, bias: b.pointer, convBias: convBias, gamma: gamma,
                                               mean: mean, variance: variance, epsilon: Float(try bn.double("eps")))
            } else {
                b = FloatBuffer(convBias ?? [Float](repeating: 0, count: out))
            }
            folded = (w, b)
            model.foldedConvs[p] = folded
        }
        let outH = ConvolutionGeometry.outputSize(inShape.height, size: kh, stride: stride0, pad: padding0)
        let outW = ConvolutionGeometry.outputSize(inShape.width, size: kh, stride: stride0, pad: padding0)
        guard outH > 0, outW > 0 else { throw error(c, "\(p): input \(inShape) too small") }
        // im2col workspace [inPerGroup·k·k, outH·outW] and the multiply-accumulate count must be countable.
        guard ConvolutionGeometry.checkedCounts(inputShape: inShape, filters: out, size: kh, stride: stride0, pad: padding0, groups: groups) != nil else {
            throw error(c, "\(p): a \(kh)×\(kh) conv with weight \(wt.shape) on a \(inShape) input is too large")
        }
        let layer = ConvolutionLayer(inputShape: inShape, filters: out, size: kh, stride: stride0, pad: padding0, groups: groups,
                                     activation: activation, weights: folded.weights, bias: folded.bias, winograd: model.winograd)
        guard layer.outputShape.height > 0, layer.outputShape.width > 0 else { throw error(c, "\(p): input \(inShape) too small") }
        let outCount = layer.outputShape.count
        countMACs(p, outCount * inPerGroup * kh * kh + (batchNorm != nil ? 4 * outCount : 0))
        return layer
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
        // pe is a depthwise Conv on v ([C, H, W]), run inside the attention layer: built as a standalone layer.
        let valueShape = TensorShape(channels: heads * headDim, height: qkvShape.height, width: qkvShape.width)
        guard valueShape.channels <= limits.maxDimension, let valueCount = NetworkBudget.product(valueShape.channels, valueShape.height, valueShape.width) else {
            throw error(m, "\(p): value shape \(valueShape) is too large")
        }
        let peModule = try child(m, "pe")
        guard ["Conv", "DWConv"].contains(peModule.className) else { throw error(m, "\(p): pe must be a shape-keeping Conv") }
        if var b = budget {
            try b.reserve(valueCount, for: "\(p).pe input")
            budget = b
        }
        let pe = try convLayer(peModule, path: p + ".pe", inputShape: valueShape)
        guard pe.outputShape == valueShape else { throw error(m, "\(p): pe must be a shape-keeping Conv") }
        if var b = budget {
            try b.reserve(valueCount, for: "\(p).pe (\(peModule.className))")
            budget = b
        }
        let scale = Float(m.attributes["scale"]?.doubleValue ?? pow(Double(keyDim), -0.5))
        let layer = AttentionLayer(inputShape: qkvShape, heads: heads, keyDim: keyDim, headDim: headDim, scale: scale, positional: pe)
        // Scratch qᵀ [N, keyDim] and scores 2·[N, N], plus v and pe outputs and pe's own workspace.
        let n = layer.outputShape.planeSize, count = layer.outputShape.count
        let extra = ExtraMemory(linear: NetworkBudget.product(n, keyDim) ?? Int.max, quadratic: NetworkBudget.product(2, n, n) ?? Int.max,
                                fixed: NetworkBudget.product(2, count).map { $0 + pe.workspaceSize } ?? Int.max)
        countMACs(p, heads * n * n * (keyDim + headDim))  // qᵀk and v·attnᵀ (Ultralytics' `@` products)
        let core = try append(layer, inputs: [qkv], for: m, path: p, extra: extra)
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
        if countAllBranches && model.hasOneToOneHead && m.child("cv2") != nil {
            // Built only to be counted: Ultralytics' eval forward runs both branch pairs of a YOLO26 head.
            let (otherBox, otherCls) = model.endToEnd ? ("cv2", "cv3") : ("one2one_cv2", "one2one_cv3")
            for (name, kids) in [(otherBox, try child(m, otherBox).children), (otherCls, try child(m, otherCls).children)] {
                for (level, input) in inputs.enumerated() where level < kids.count {
                    _ = try module(kids[level].module, path: "\(p).\(name).\(kids[level].name)", inputs: [input])
                }
            }
        }
        if regMax > 1 {
            countMACs(p, 4 * regMax * inputs.reduce(0) { $0 + network.shape(of: $1).planeSize })  // the DFL 1×1 conv
            // DFL's 1×1 conv holds the bin values 0…regMax−1; check instead of trusting.
            let dfl = try child(try child(m, "dfl"), "conv")
            let bins = try floats(dfl, "weight", path: p + ".dfl.conv")
            guard bins == (0..<regMax).map(Float.init) else { throw error(m, "\(p): DFL weights are not 0…\(regMax - 1)") }
        }
        let head = DetectHeadLayer(levelShapes: inputs.map(network.shape(of:)), classes: nc, regMax: regMax,
                                   strides: model.strides.map(Float.init),
                                   xyxy: model.endToEnd || (m.attributes["xyxy"]?.boolValue ?? false),
                                   endToEndTopK: model.endToEnd ? UltralyticsModel.endToEndTopK : nil)
        self.head = head
        return try append(head, inputs: branchOutputs, for: m, path: p, isHead: true)
    }
}
