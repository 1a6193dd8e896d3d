import Foundation

extension TrainingGraph {
    /// The training graph of `model` and a store of its state dict in float32: parameters in named_parameters
    /// order (kinds from their modules: Conv2d weights decayed, BatchNorm weights and every bias not), the
    /// BatchNorms' running_mean / running_var as buffers. Frozen (Ultralytics' rule, BaseTrainer._setup_train):
    /// every name containing ".dfl" or "model.{i}." for i < `freeze` (Ultralytics' `freeze=N`).
    public static func make(from model: UltralyticsModel, freeze: Int = 0) throws -> (graph: TrainingGraph, store: ParameterStore) {
        guard freeze >= 0 else { throw TrainingGraphError("freeze must be 0 or more, got \(freeze)") }
        return try make(from: model, frozenLayers: Array(0..<freeze))
    }

    /// As `make(from:freeze:)` with the frozen top-level modules listed (Ultralytics' `freeze=[i, j, …]`):
    /// gradients still pass through them (their BatchNorms in eval mode) to the trainable modules before them.
    public static func make(from model: UltralyticsModel, frozenLayers: [Int]) throws -> (graph: TrainingGraph, store: ParameterStore) {
        guard frozenLayers.allSatisfy({ $0 >= 0 }) else { throw TrainingGraphError("frozen layer indices must be 0 or more, got \(frozenLayers)") }
        guard !model.hasOneToOneHead else {
            throw TrainingGraphError("\(model.path): YOLO26 end-to-end heads are not trainable yet (their loss, Ultralytics' E2ELoss, is not implemented)")
        }
        let layers = Array(Set(frozenLayers)).sorted()
        let frozenNames = layers.map { "model.\($0)." } + [".dfl"]
        let store = try parameterStore(of: model, frozenNames: frozenNames)
        let builder = TrainingGraphBuilder(model: model, store: store, frozenNames: frozenNames)
        try builder.build()
        return (builder.graph(frozenLayers: layers), store)
    }

    /// Every floating-point state-dict entry: parameters, then the persistent float buffers (not the integer
    /// num_batches_tracked), in the module tree's order.
    static func parameterStore(of model: UltralyticsModel, frozenNames: [String]) throws -> ParameterStore {
        var parameters: [ParameterStore.ParameterSpec] = []
        var buffers: [(name: String, shape: [Int], values: [Float])] = []
        var visits = 0
        func walk(_ m: TorchModule, _ prefix: String) throws {
            visits += 1
            guard visits <= UltralyticsGraphBuilder.maxVisits else { throw TrainingGraphError("\(model.path): the module tree is too large") }
            for (name, t) in m.parameters {
                let full = prefix + name
                let kind: ParameterKind = name == "bias" ? .bias : m.className.contains("Norm") ? .normalizationWeight : .weight
                parameters.append(.init(name: full, shape: t.shape, kind: kind, isFrozen: frozenNames.contains { full.contains($0) },
                                        values: try model.checkpoint.floats(t)))
            }
            let nonPersistent = Set(m.attributes["_non_persistent_buffers_set"]?.items?.compactMap(\.stringValue) ?? [])
            for (name, t) in m.buffers where !nonPersistent.contains(name) && [.float32, .float16, .bfloat16, .float64].contains(t.dtype) {
                buffers.append((prefix + name, t.shape, try model.checkpoint.floats(t)))
            }
            for (name, child) in m.children { try walk(child, prefix + name + ".") }
        }
        try walk(model.detectionModel, "")
        return try ParameterStore(parameters: parameters, buffers: buffers)
    }
}

/// Walks the module tree as UltralyticsGraphBuilder does for inference, appending training ops instead of fused
/// layers. Channel counts are checked here; spatial sizes are the batch's, checked by the kernels.
final class TrainingGraphBuilder {
    let model: UltralyticsModel
    let store: ParameterStore
    let frozenNames: [String]
    let bufferIndex: [String: Int]
    var ops: [TrainingGraphOp] = []
    /// Per tensor: channels, and whether its gradient is needed. Tensor 0 is the input batch.
    var channels: [Int] = [3]
    var needsGradient: [Bool] = [false]
    var heads: [(box: Int, classes: Int)] = []

    init(model: UltralyticsModel, store: ParameterStore, frozenNames: [String]) {
        self.model = model
        self.store = store
        self.frozenNames = frozenNames
        bufferIndex = Dictionary(uniqueKeysWithValues: store.buffers.enumerated().map { ($1.name, $0) })
    }

    func graph(frozenLayers: [Int]) -> TrainingGraph {
        var lastReader = [Int](repeating: -1, count: channels.count)
        for (index, op) in ops.enumerated() { for input in op.inputs { lastReader[input] = index } }
        for head in heads { lastReader[head.box] = ops.count; lastReader[head.classes] = ops.count }
        var producer = [Int](repeating: -1, count: channels.count)
        for (index, op) in ops.enumerated() { producer[op.output] = index }
        var batchNormBeforeActivation: [Int: Int] = [:]
        for (index, op) in ops.enumerated() {
            guard case let .activation(_, input, _) = op, producer[input] >= 0,
                  case .batchNorm(_, _, _, _, _, true, _, _) = ops[producer[input]] else { continue }
            batchNormBeforeActivation[index] = producer[input]
        }
        return TrainingGraph(classes: model.names.count, regMax: model.regMax, strides: model.strides, frozenLayers: frozenLayers, ops: ops,
                             tensorCount: channels.count, heads: heads, needsGradient: needsGradient, lastReader: lastReader,
                             batchNormBeforeActivation: batchNormBeforeActivation)
    }

    func error(_ p: String, _ reason: String) -> TrainingGraphError { TrainingGraphError("\(model.path): \(p): \(reason)") }

    /// Appends `op` with a new output tensor of `outChannels`; `trainable` says whether it has a parameter that
    /// takes gradients.
    func append(_ make: (Int) -> TrainingGraphOp, inputs: [Int], outChannels: Int, trainable: Bool = false) -> Int {
        let output = channels.count
        channels.append(outChannels)
        needsGradient.append(trainable || inputs.contains { needsGradient[$0] })
        ops.append(make(output))
        return output
    }

    func parameter(_ name: String) throws -> Int {
        guard let index = store.parameterIndex(named: name) else { throw TrainingGraphError("\(model.path): parameter \(name) is missing") }
        return index
    }

    func buffer(_ name: String) throws -> Int {
        guard let index = bufferIndex[name] else { throw TrainingGraphError("\(model.path): buffer \(name) is missing") }
        return index
    }

    func child(_ m: TorchModule, _ name: String, _ p: String) throws -> TorchModule {
        guard let c = m.child(name) else { throw error(p, "\(m.className) has no submodule '\(name)'") }
        return c
    }

    func build() throws {
        var outputs: [Int] = []
        for (i, layer) in model.layers.enumerated() {
            let from = try layer.ints("f")
            let inputs = try from.map { f -> Int in
                let k = f < 0 ? i + f : f
                guard k < i, k >= -1 else { throw error("model.\(i)", "reads layer \(f), which is not an earlier layer") }
                return k < 0 ? 0 : outputs[k]
            }
            guard !inputs.isEmpty else { throw error("model.\(i)", "reads no layer") }
            outputs.append(try module(layer, path: "model.\(i)", inputs: inputs))
        }
        guard heads.count == model.strides.count, !heads.isEmpty else {
            throw TrainingGraphError("\(model.path): the last module must be a Detect head with one branch pair per stride")
        }
    }

    func module(_ m: TorchModule, path p: String, inputs: [Int]) throws -> Int {
        let x = inputs[0]
        switch m.className {
        case "Conv", "DWConv":
            return try conv(m, path: p, input: x)
        case "Conv2d":
            return try conv2d(m, path: p, input: x)
        case "Identity":
            return x
        case "Sequential", "ModuleList":
            var y = x
            for (name, c) in m.children { y = try module(c, path: p + "." + name, inputs: [y]) }
            return y
        case "Bottleneck":
            let a = try module(try child(m, "cv1", p), path: p + ".cv1", inputs: [x])
            let b = try module(try child(m, "cv2", p), path: p + ".cv2", inputs: [a])
            return try m.bool("add") ? try add(x, b, p) : b
        case "C2f", "C3k2":
            // cv1 → y = [a | b]; blocks chain from b; cv2 reads cat(y, block outputs…).
            let y = try module(try child(m, "cv1", p), path: p + ".cv1", inputs: [x])
            let half = try evenHalf(y, p + ".cv1")
            var parts = [y]
            var last = append({ .slice(input: y, start: half, count: half, output: $0) }, inputs: [y], outChannels: half)
            for (name, block) in try child(m, "m", p).children {
                last = try module(block, path: p + ".m." + name, inputs: [last])
                parts.append(last)
            }
            return try module(try child(m, "cv2", p), path: p + ".cv2", inputs: [concat(parts)])
        case "C3", "C3k":
            let a = try module(try child(m, "m", p), path: p + ".m", inputs: [try module(try child(m, "cv1", p), path: p + ".cv1", inputs: [x])])
            let b = try module(try child(m, "cv2", p), path: p + ".cv2", inputs: [x])
            return try module(try child(m, "cv3", p), path: p + ".cv3", inputs: [concat([a, b])])
        case "SPPF":
            let y = try module(try child(m, "cv1", p), path: p + ".cv1", inputs: [x])
            let pool = try child(m, "m", p)
            let n = m.attributes["n"]?.intValue ?? 3
            guard (1...16).contains(n) else { throw error(p, "SPPF n is \(n), outside 1...16") }
            var parts = [y]
            for _ in 0..<n { parts.append(try module(pool, path: p + ".m", inputs: [parts[parts.count - 1]])) }
            let out = try module(try child(m, "cv2", p), path: p + ".cv2", inputs: [concat(parts)])
            return (m.attributes["add"]?.boolValue ?? false) ? try add(x, out, p) : out
        case "MaxPool2d":
            let k = try m.ints("kernel_size"), s = try m.ints("stride"), pad = try m.ints("padding")
            guard let k0 = k.first, let s0 = s.first, let pad0 = pad.first, k.allSatisfy({ $0 == k0 }), s.allSatisfy({ $0 == s0 }),
                  pad.allSatisfy({ $0 == pad0 }), k0 > 0, s0 > 0, pad0 >= 0, pad0 <= k0 / 2 else {
                throw error(p, "only square max pooling with padding ≤ kernel/2 is supported (kernel \(k), stride \(s), padding \(pad))")
            }
            let pool = MaxPool2dTraining(kernel: k0, stride: s0, pad: pad0)
            return append({ .maxPool(pool, input: x, output: $0) }, inputs: [x], outChannels: channels[x])
        case "Upsample":
            let mode = (try? m.string("mode")) ?? "nearest"
            let factor = m.attributes["scale_factor"]?.doubleValue ?? m.attributes["scale_factor"]?.items?.first?.doubleValue
            guard mode == "nearest", let factor, factor == factor.rounded(), factor >= 1, factor <= 64 else {
                throw error(p, "only nearest upsampling by an integer factor is supported")
            }
            let upsample = NearestUpsampleTraining(factor: Int(factor))
            return append({ .upsample(upsample, input: x, output: $0) }, inputs: [x], outChannels: channels[x])
        case "Concat":
            guard (m.attributes["d"]?.intValue ?? 1) == 1 else { throw error(p, "only channel concatenation is supported") }
            return concat(inputs)
        case "C2PSA":
            let y = try module(try child(m, "cv1", p), path: p + ".cv1", inputs: [x])
            let half = try evenHalf(y, p + ".cv1")
            let a = append({ .slice(input: y, start: 0, count: half, output: $0) }, inputs: [y], outChannels: half)
            let b = append({ .slice(input: y, start: half, count: half, output: $0) }, inputs: [y], outChannels: half)
            let blocks = try module(try child(m, "m", p), path: p + ".m", inputs: [b])
            return try module(try child(m, "cv2", p), path: p + ".cv2", inputs: [concat([a, blocks])])
        case "PSABlock":
            let residual = m.attributes["add"]?.boolValue ?? true
            let a = try module(try child(m, "attn", p), path: p + ".attn", inputs: [x])
            let x1 = residual ? try add(x, a, p) : a
            let f = try module(try child(m, "ffn", p), path: p + ".ffn", inputs: [x1])
            return residual ? try add(x1, f, p) : f
        case "Attention":
            return try attention(m, path: p, input: x)
        case "Detect":
            try detect(m, path: p, inputs: inputs)
            return x
        default:
            throw error(p, "the training graph does not support \(m.typeName)")
        }
    }

    func evenHalf(_ tensor: Int, _ p: String) throws -> Int {
        guard channels[tensor] % 2 == 0 else { throw error(p, "\(channels[tensor]) channels cannot be split in two halves") }
        return channels[tensor] / 2
    }

    func add(_ a: Int, _ b: Int, _ p: String) throws -> Int {
        guard channels[a] == channels[b] else { throw error(p, "residual add of \(channels[a]) and \(channels[b]) channels") }
        return append({ .add(a, b, output: $0) }, inputs: [a, b], outChannels: channels[a])
    }

    func concat(_ parts: [Int]) -> Int {
        append({ .concat(parts, output: $0) }, inputs: parts, outChannels: parts.reduce(0) { $0 + channels[$1] })
    }

    /// Ultralytics Conv / DWConv: Conv2d (no bias) → BatchNorm2d → activation (its `act`: SiLU or Identity).
    func conv(_ m: TorchModule, path p: String, input: Int) throws -> Int {
        let inner = try child(m, "conv", p)
        guard inner.className == "Conv2d" else { throw error(p, "a \(inner.className) conv (a factorized conv) is not trainable yet") }
        let y = try conv2d(inner, path: p + ".conv", input: input)
        let normalized = try batchNorm(try child(m, "bn", p), path: p + ".bn", input: y)
        let activation: ActivationTraining
        switch m.child("act")?.className ?? "Identity" {
        case "SiLU": activation = .silu
        case "Identity": activation = .identity
        case let other: throw error(p, "activation \(other) is not supported in training")
        }
        guard activation != .identity else { return normalized }
        return append({ .activation(activation, input: normalized, output: $0) }, inputs: [normalized], outChannels: channels[normalized])
    }

    func conv2d(_ c: TorchModule, path p: String, input: Int) throws -> Int {
        guard let weight = c.parameter("weight"), weight.shape.count == 4 else { throw error(p, "Conv2d without a 4-D weight") }
        let (out, inPerGroup, kh, kw) = (weight.shape[0], weight.shape[1], weight.shape[2], weight.shape[3])
        let groups = try c.int("groups"), stride = try c.ints("stride"), padding = try c.ints("padding")
        let dilation = (try? c.ints("dilation")) ?? [1]
        guard kh == kw, kh > 0, let s = stride.first, let pad = padding.first, stride.allSatisfy({ $0 == s }), s > 0,
              padding.allSatisfy({ $0 == pad }), pad >= 0, dilation.allSatisfy({ $0 == 1 }), groups > 0 else {
            throw error(p, "only square kernels, equal strides / padding and dilation 1 are supported")
        }
        guard inPerGroup * groups == channels[input], out % groups == 0 else {
            throw error(p, "weight \(weight.shape) with groups \(groups) does not fit a \(channels[input])-channel input")
        }
        let weightIndex = try parameter(p + ".weight")
        let biasIndex = c.parameter("bias") != nil ? try parameter(p + ".bias") : nil
        let conv = Conv2dTraining(inChannels: channels[input], outChannels: out, kernel: kh, stride: s, pad: pad, groups: groups,
                                  hasBias: biasIndex != nil)
        let trainable = !store.parameters[weightIndex].isFrozen
        return append({ .conv(conv, weight: weightIndex, bias: biasIndex, input: input, output: $0) }, inputs: [input],
                      outChannels: out, trainable: trainable)
    }

    func batchNorm(_ bn: TorchModule, path p: String, input: Int) throws -> Int {
        guard bn.className == "BatchNorm2d" else { throw error(p, "expected BatchNorm2d, found \(bn.className)") }
        let c = channels[input]
        let gamma = try parameter(p + ".weight"), beta = try parameter(p + ".bias")
        let mean = try buffer(p + ".running_mean"), variance = try buffer(p + ".running_var")
        guard [store.parameters[gamma].values.count, store.parameters[beta].values.count, store.buffers[mean].values.count,
               store.buffers[variance].values.count].allSatisfy({ $0 == c }) else {
            throw error(p, "BatchNorm size does not match its \(c)-channel input")
        }
        let momentum = bn.attributes["momentum"]?.doubleValue ?? 0.1
        let norm = BatchNorm2dTraining(channels: c, epsilon: Float(try bn.double("eps")), momentum: Float(momentum))
        // BaseTrainer._model_train puts the BatchNorms of frozen layers in eval mode (matched on the module name).
        let training = !frozenNames.contains { p.contains($0) }
        let trainable = !store.parameters[gamma].isFrozen
        return append({ .batchNorm(norm, gamma: gamma, beta: beta, mean: mean, variance: variance, training: training, input: input, output: $0) },
                      inputs: [input], outChannels: c, trainable: trainable)
    }

    /// Attention: qkv conv → core, + pe(v), → proj.
    func attention(_ m: TorchModule, path p: String, input: Int) throws -> Int {
        let heads = try m.int("num_heads"), keyDim = try m.int("key_dim"), headDim = try m.int("head_dim")
        guard heads > 0, keyDim > 0, headDim > 0 else { throw error(p, "num_heads, key_dim and head_dim must be positive") }
        let qkv = try module(try child(m, "qkv", p), path: p + ".qkv", inputs: [input])
        guard channels[qkv] == heads * (2 * keyDim + headDim) else {
            throw error(p, "qkv has \(channels[qkv]) channels, expected \(heads)·(2·\(keyDim) + \(headDim))")
        }
        let scale = m.attributes["scale"]?.doubleValue.map(Float.init)
        let core = AttentionCoreTraining(heads: heads, keyDim: keyDim, headDim: headDim, scale: scale)
        let attended = append({ .attention(core, qkv: qkv, output: $0) }, inputs: [qkv], outChannels: core.outputChannels)
        let v = append({ .attentionValues(core, qkv: qkv, output: $0) }, inputs: [qkv], outChannels: core.outputChannels)
        let pe = try module(try child(m, "pe", p), path: p + ".pe", inputs: [v])
        let sum = try add(attended, pe, p)
        return try module(try child(m, "proj", p), path: p + ".proj", inputs: [sum])
    }

    /// Detect: per level the box branch (cv2) and the class branch (cv3); the raw outputs are the graph's outputs.
    func detect(_ m: TorchModule, path p: String, inputs: [Int]) throws {
        let nc = try m.int("nc"), regMax = try m.int("reg_max")
        guard nc == model.names.count, regMax == model.regMax else {
            throw error(p, "nc \(nc) / reg_max \(regMax) differ from the model's \(model.names.count) / \(model.regMax)")
        }
        let boxes = try child(m, "cv2", p).children, classes = try child(m, "cv3", p).children
        guard boxes.count == inputs.count, classes.count == inputs.count, model.strides.count == inputs.count else {
            throw error(p, "\(inputs.count) inputs but \(boxes.count) box / \(classes.count) class branches and \(model.strides.count) strides")
        }
        for (level, input) in inputs.enumerated() {
            let box = try module(boxes[level].module, path: "\(p).cv2.\(boxes[level].name)", inputs: [input])
            let cls = try module(classes[level].module, path: "\(p).cv3.\(classes[level].name)", inputs: [input])
            guard channels[box] == 4 * regMax, channels[cls] == nc else {
                throw error(p, "level \(level) branches give \(channels[box]) box and \(channels[cls]) class channels, expected \(4 * regMax) and \(nc)")
            }
            heads.append((box, cls))
        }
    }
}
