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
    public init(path: String, endToEnd: Bool? = nil) throws {
        self.path = path
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
        var names = (0..<nc).map { "class\($0)" }
        if case .dict(let pairs)? = model.attributes["names"] {
            for (k, v) in pairs { if let i = k.intValue, (0..<nc).contains(i), let s = v.stringValue { names[i] = s } }
        } else if case .list(let items)? = model.attributes["names"], items.count == nc {
            names = items.map { $0.stringValue ?? "" }
        }
        self.names = names
        guard case .tensor(let strideTensor)? = head.attributes["stride"] else { throw fail("Detect head has no stride tensor") }
        strides = try checkpoint.floats(strideTensor).map { Int($0.rounded()) }
        regMax = try head.int("reg_max")
        hasOneToOneHead = head.child("one2one_cv2") != nil
        guard hasOneToOneHead || endToEnd != true else { throw fail("this checkpoint has no one-to-one (end-to-end) head") }
        self.endToEnd = hasOneToOneHead && ((endToEnd ?? true) || head.child("cv2") == nil)
        // Build once at a small size: checks every module and that every parameter is used.
        _ = try makeNetwork(height: 64, width: 64, checkUnused: true)
    }

    /// The network for an input of `height`×`width` (multiples of the largest stride). The output node
    /// is `network.outputIndices[0]`: a DetectHeadLayer's [4 + nc, 1, N].
    public func makeNetwork(height: Int, width: Int, checkUnused: Bool = false) throws -> Network {
        let builder = GraphBuilder(model: self, network: Network(inputShape: TensorShape(channels: 3, height: height, width: width)))
        var outputs: [Int] = []  // node index of each top-level layer's output
        for (i, layer) in layers.enumerated() {
            let from = try layer.ints("f")
            let inputs = try from.map { f -> Int in
                let j = f < 0 ? i + f : f
                guard j < i else { throw builder.error(layer, "layer \(i) reads layer \(f), which is not an earlier layer") }
                return j < 0 ? Network.inputIndex : outputs[j]
            }
            outputs.append(try builder.module(layer, path: "model.\(i)", inputs: inputs))
        }
        builder.network.outputIndices = [outputs[outputs.count - 1]]
        if checkUnused { try builder.checkAllParametersUsed(layers) }
        return builder.network
    }
}

/// Walks the module tree, appending layers to a network and recording which parameters were consumed.
final class GraphBuilder {
    let model: UltralyticsModel
    let network: Network
    var used: Set<String> = []

    init(model: UltralyticsModel, network: Network) {
        self.model = model
        self.network = network
    }

    var path: String { model.path }

    func error(_ m: TorchModule, _ reason: String) -> ModelLoadError {
        ModelLoadError(path: path, reason: "\(m.className): \(reason)")
    }

    func floats(_ m: TorchModule, _ name: String, path p: String, isBuffer: Bool = false) throws -> [Float] {
        guard let t = isBuffer ? m.buffer(name) : m.parameter(name) else {
            throw ModelLoadError(path: path, reason: "\(p): \(m.className) is missing \(isBuffer ? "buffer" : "parameter") '\(name)'")
        }
        used.insert(p + "." + name)
        return try model.checkpoint.floats(t)
    }

    /// One module (or container) reading `inputs` (node indices); returns the node of its output.
    func module(_ m: TorchModule, path p: String, inputs: [Int]) throws -> Int {
        guard let kind = UltralyticsModel.ModuleKind(rawValue: m.className) else {
            throw ModelLoadError(path: path, reason: "\(p): unsupported module \(m.typeName) (layer \(p.split(separator: ".").dropFirst().first ?? "?"))")
        }
        let x = inputs[0]
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
            return try m.bool("add") ? add(x, b) : b
        case .c2f, .c3k2:
            // cv1 → [a | b] (two halves); each block reads the previous block's output (starting at b);
            // cv2 reads cat(a, b, block outputs…) — cat(cv1 output, …) since a|b is cv1's output itself.
            let y = try module(try child(m, "cv1"), path: p + ".cv1", inputs: [x])
            let second = network.append(RouteLayer(inputShapes: [network.shape(of: y)], groups: 2, groupID: 1), inputs: [y])
            var parts = [y], last = second
            for (name, block) in try child(m, "m").children {
                last = try module(block, path: p + ".m." + name, inputs: [last])
                parts.append(last)
            }
            let cat = network.append(RouteLayer(inputShapes: parts.map(network.shape(of:))), inputs: parts)
            return try module(try child(m, "cv2"), path: p + ".cv2", inputs: [cat])
        case .c3, .c3k:
            let a = try module(try child(m, "m"), path: p + ".m", inputs: [try module(try child(m, "cv1"), path: p + ".cv1", inputs: [x])])
            let b = try module(try child(m, "cv2"), path: p + ".cv2", inputs: [x])
            let cat = network.append(RouteLayer(inputShapes: [network.shape(of: a), network.shape(of: b)]), inputs: [a, b])
            return try module(try child(m, "cv3"), path: p + ".cv3", inputs: [cat])
        case .sppf:
            let y = try module(try child(m, "cv1"), path: p + ".cv1", inputs: [x])
            let pool = try child(m, "m")
            var parts = [y]
            for _ in 0..<(m.attributes["n"]?.intValue ?? 3) {
                parts.append(try module(pool, path: p + ".m", inputs: [parts[parts.count - 1]]))
            }
            let cat = network.append(RouteLayer(inputShapes: parts.map(network.shape(of:))), inputs: parts)
            let out = try module(try child(m, "cv2"), path: p + ".cv2", inputs: [cat])
            return (m.attributes["add"]?.boolValue ?? false) ? add(x, out) : out
        case .maxPool:
            let k = try m.ints("kernel_size"), s = try m.ints("stride"), pad = try m.ints("padding")
            guard k.allSatisfy({ $0 == k[0] }), s.allSatisfy({ $0 == s[0] }), pad.allSatisfy({ $0 == pad[0] }) else {
                throw error(m, "only square pooling is supported (kernel \(k), stride \(s), padding \(pad))")
            }
            let layer = MaxPoolLayer(inputShape: network.shape(of: x), size: k[0], stride: s[0], pad: 2 * pad[0])
            return network.append(layer, inputs: [x])
        case .upsample:
            let mode = (try? m.string("mode")) ?? "nearest"
            let factor = m.attributes["scale_factor"]?.doubleValue ?? m.attributes["scale_factor"]?.items?.first?.doubleValue
            guard mode == "nearest", let factor, factor == factor.rounded(), factor >= 1 else {
                throw error(m, "only nearest upsampling by an integer factor is supported (mode \(mode), scale_factor \(String(describing: factor)))")
            }
            return network.append(UpsampleLayer(inputShape: network.shape(of: x), factor: Int(factor)), inputs: [x])
        case .concat:
            let d = m.attributes["d"]?.intValue ?? 1
            guard d == 1 else { throw error(m, "only channel concatenation (d=1) is supported, got d=\(d)") }
            let shapes = inputs.map(network.shape(of:))
            guard shapes.allSatisfy({ $0.height == shapes[0].height && $0.width == shapes[0].width }) else {
                throw error(m, "\(p): inputs of different sizes \(shapes)")
            }
            return network.append(RouteLayer(inputShapes: shapes), inputs: inputs)
        case .c2psa:
            let y = try module(try child(m, "cv1"), path: p + ".cv1", inputs: [x])
            let first = network.append(RouteLayer(inputShapes: [network.shape(of: y)], groups: 2, groupID: 0), inputs: [y])
            let second = network.append(RouteLayer(inputShapes: [network.shape(of: y)], groups: 2, groupID: 1), inputs: [y])
            let b = try module(try child(m, "m"), path: p + ".m", inputs: [second])
            let cat = network.append(RouteLayer(inputShapes: [network.shape(of: first), network.shape(of: b)]), inputs: [first, b])
            return try module(try child(m, "cv2"), path: p + ".cv2", inputs: [cat])
        case .psaBlock:
            let residual = m.attributes["add"]?.boolValue ?? true
            let a = try module(try child(m, "attn"), path: p + ".attn", inputs: [x])
            let x1 = residual ? add(x, a) : a
            let f = try module(try child(m, "ffn"), path: p + ".ffn", inputs: [x1])
            return residual ? add(x1, f) : f
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

    func add(_ a: Int, _ b: Int) -> Int {
        network.append(ShortcutLayer(shape: network.shape(of: b), activation: .linear), inputs: [a, b])
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
        guard kh == kw, stride.allSatisfy({ $0 == stride[0] }), padding.allSatisfy({ $0 == padding[0] }), dilation.allSatisfy({ $0 == 1 }) else {
            throw error(c, "\(p): only square kernels, equal strides/padding and dilation 1 are supported")
        }
        guard inPerGroup * groups == inShape.channels, out % groups == 0 else {
            throw error(c, "\(p): weight \(wt.shape) with groups=\(groups) does not fit a \(inShape.channels)-channel input")
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
        let layer = ConvolutionLayer(inputShape: inShape, filters: out, size: kh, stride: stride[0], pad: padding[0], groups: groups,
                                     activation: activation, weights: folded.weights, bias: folded.bias)
        guard layer.outputShape.height > 0, layer.outputShape.width > 0 else { throw error(c, "\(p): input \(inShape) too small") }
        return network.append(layer, inputs: [input])
    }

    func attention(_ m: TorchModule, path p: String, input: Int) throws -> Int {
        let heads = try m.int("num_heads"), keyDim = try m.int("key_dim"), headDim = try m.int("head_dim")
        let qkv = try module(try child(m, "qkv"), path: p + ".qkv", inputs: [input])
        let qkvShape = network.shape(of: qkv)
        guard qkvShape.channels == heads * (2 * keyDim + headDim) else {
            throw error(m, "\(p): qkv has \(qkvShape.channels) channels, expected \(heads)·(2·\(keyDim) + \(headDim))")
        }
        // pe is a depthwise Conv on v ([C, H, W]); build it on a scratch network to get a standalone layer.
        let valueShape = TensorShape(channels: heads * headDim, height: qkvShape.height, width: qkvShape.width)
        let scratch = GraphBuilder(model: model, network: Network(inputShape: valueShape))
        let peNode = try scratch.module(try child(m, "pe"), path: p + ".pe", inputs: [Network.inputIndex])
        guard let pe = scratch.network.nodes[peNode].layer as? ConvolutionLayer, pe.outputShape == valueShape else {
            throw error(m, "\(p): pe must be a shape-keeping Conv")
        }
        used.formUnion(scratch.used)
        let scale = Float(m.attributes["scale"]?.doubleValue ?? pow(Double(keyDim), -0.5))
        let core = network.append(AttentionLayer(inputShape: qkvShape, heads: heads, keyDim: keyDim, headDim: headDim, scale: scale, positional: pe),
                                  inputs: [qkv])
        return try module(try child(m, "proj"), path: p + ".proj", inputs: [core])
    }

    /// Detect: per level a box branch and a class branch (the one-to-one pair for end-to-end heads), then decode.
    func detect(_ m: TorchModule, path p: String, inputs: [Int]) throws -> Int {
        let nc = try m.int("nc"), regMax = try m.int("reg_max")
        let (boxName, clsName) = model.endToEnd ? ("one2one_cv2", "one2one_cv3") : ("cv2", "cv3")
        let boxes = try child(m, boxName).children, classes = try child(m, clsName).children
        guard boxes.count == inputs.count, classes.count == inputs.count, model.strides.count == inputs.count else {
            throw error(m, "\(p): \(inputs.count) inputs but \(boxes.count) box / \(classes.count) class branches and \(model.strides.count) strides")
        }
        var branchOutputs: [Int] = []
        for (level, input) in inputs.enumerated() {
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
        return network.append(head, inputs: branchOutputs)
    }

    /// Every parameter and BatchNorm statistic in the checkpoint must have been used (the one-to-many
    /// branches of an end-to-end head are training-only and skipped by design).
    func checkAllParametersUsed(_ layers: [TorchModule]) throws {
        var unused: [String] = []
        func walk(_ m: TorchModule, _ p: String) {
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
