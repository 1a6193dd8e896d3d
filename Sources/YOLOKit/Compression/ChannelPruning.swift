import Foundation

/// How `yolo prune` chooses what to remove.
public struct PruningOptions: Sendable {
    /// How a channel's importance is measured: the L1 norm of its filters (mean |w| per producing conv, summed over
    /// the convs that produce the channel), or the |γ| of the BatchNorm after them (L1 where a conv has none).
    public enum Importance: String, CaseIterable, Sendable { case l1, bn }

    /// Fraction of each group of prunable channels to remove (0 removes nothing; below 1).
    public var ratio: Double
    public var importance: Importance
    /// Kept channel counts are rounded up to a multiple of this when the layer's count is one (GEMM rows stay
    /// SIMD-sized); 1 keeps exactly what the ratio gives.
    public var roundTo: Int

    public init(ratio: Double, importance: Importance = .l1, roundTo: Int = 8) {
        self.ratio = ratio
        self.importance = importance
        self.roundTo = roundTo
    }
}

/// Structured channel pruning: the channels each conv keeps, chosen per group of channels that must go together
/// (`ChannelDependencies`), and the tensors cut to them. A group is the set of classes produced by the same convs
/// (one conv's filters, or the convs tied by residual adds); within a group the `ratio` least important are removed.
struct ChannelPruning {
    /// Output channels every node keeps, ascending.
    let kept: [[Int]]
    /// Every conv whose tensors are known, in network order.
    let layers: [CompressedLayer]

    static func plan(_ net: CompressibleNetwork, options: PruningOptions) throws -> ChannelPruning {
        guard options.ratio >= 0, options.ratio < 1 else { throw CompressionError(reason: "--ratio must be in [0, 1), got \(options.ratio)") }
        var deps = ChannelDependencies(net)
        let nodes = net.network.nodes
        var members: [Int: [(node: Int, channel: Int)]] = [:]
        for (i, node) in nodes.enumerated() {
            for c in 0..<node.output.shape.channels where !deps.isFixed(i, c) { members[deps.classOf(i, c), default: []].append((i, c)) }
        }
        // Group classes by the convs producing them; score each class.
        var groups: [[Int]: [(root: Int, score: Double)]] = [:]
        for (root, list) in members {
            let producers = list.filter { net.conv($0.node)?.groups == 1 }
            guard !producers.isEmpty else { continue }  // nothing to cut: keep
            var score = 0.0
            for (node, c) in producers { score += try importance(net, node: node, channel: c, options.importance) }
            groups[Array(Set(producers.map(\.node))).sorted(), default: []].append((root, score))
        }
        var removed = Set<Int>()
        for (_, classes) in groups {
            let n = classes.count
            var keep = n - Int((Double(n) * options.ratio).rounded(.down))
            if options.roundTo > 1 && n % options.roundTo == 0 { keep = min(n, (keep + options.roundTo - 1) / options.roundTo * options.roundTo) }
            keep = max(1, keep)
            let order = classes.sorted { ($0.score, $0.root) < ($1.score, $1.root) }
            for item in order.prefix(n - keep) { removed.insert(item.root) }
        }
        var kept: [[Int]] = []
        for (i, node) in nodes.enumerated() {
            kept.append((0..<node.output.shape.channels).filter { !removed.contains(deps.classOf(i, $0)) })
        }
        let layers = nodes.indices.compactMap { i -> CompressedLayer? in
            guard let names = net.convs[i] else { return nil }
            return CompressedLayer(name: String(names.weight.dropLast(".weight".count)), before: nodes[i].output.shape.channels, after: kept[i].count)
        }
        return ChannelPruning(kept: kept, layers: layers)
    }

    /// Mean |w| of filter `channel` as the conv runs it (BatchNorm scale folded in: a filter whose BatchNorm shrinks it
    /// counts as small), or |γ| of its BatchNorm for `.bn` when there is one.
    static func importance(_ net: CompressibleNetwork, node: Int, channel: Int, _ kind: PruningOptions.Importance) throws -> Double {
        let names = net.convs[node]!
        if kind == .bn, let bn = names.batchNorm {
            let gamma = try net.tensor(bn + ".weight")
            guard channel < gamma.values.count else { throw CompressionError(reason: "\(bn).weight has \(gamma.values.count) values, fewer than the conv's channels") }
            return Double(abs(gamma.values[channel]))
        }
        let conv = net.conv(node)!, row = conv.weights.count / conv.filters
        var sum = 0.0
        for k in 0..<row { sum += Double(abs(conv.weights.pointer[channel * row + k])) }
        return sum / Double(row)
    }

    /// The constant each output channel is taken to carry once removed: after a BatchNorm, the mean of act(y) for
    /// y ~ N(β, γ²) — on the data BatchNorm was trained on, the normalised pre-activation has mean β and standard
    /// deviation |γ|; for a conv without BatchNorm, act(bias) (its response taken as zero); passed on by pooling,
    /// upsampling and concat, summed by residual adds, and through a tied depthwise conv without BatchNorm as
    /// act(bias + v·Σkernel). Zero for layers whose channels are never removed.
    func removedChannelValues(_ net: CompressibleNetwork) -> [[Float]] {
        let network = net.network
        var values: [[Float]] = []
        func input(_ j: Int) -> [Float] { j == Network.inputIndex ? [Float](repeating: 0, count: network.inputShape.channels) : values[j] }
        for (i, node) in network.nodes.enumerated() {
            let count = node.output.shape.channels
            var v = [Float](repeating: 0, count: count)
            switch node.layer {
            case let conv as ConvolutionLayer:
                let x = input(node.inputs[0]), depthwise = conv.groups > 1 && conv.groups == conv.inputShape.channels && conv.groups == count
                let k2 = conv.size * conv.size
                if let bn = net.convs[i]?.batchNorm,
                   let gamma = net.tensors[bn + ".weight"]?.values, let beta = net.tensors[bn + ".bias"]?.values,
                   gamma.count == count, beta.count == count {
                    for c in 0..<count { v[c] = Self.meanActivation(conv.activation, mean: beta[c], deviation: abs(gamma[c])) }
                } else {
                    for c in 0..<count {
                        var y = conv.bias.pointer[c]
                        if depthwise { for k in 0..<k2 { y += conv.weights.pointer[c * k2 + k] * x[c] } }
                        v[c] = conv.activation.apply(y)
                    }
                }
            case let route as RouteLayer:
                v = node.inputs.flatMap { j -> [Float] in
                    let x = input(j), slice = x.count / route.groups
                    return Array(x[(route.groupID * slice)..<((route.groupID + 1) * slice)])
                }
            case let add as ShortcutLayer:
                let a = input(node.inputs[0]), b = input(node.inputs[1])
                if a.count == count && b.count == count { for c in 0..<count { v[c] = add.activation.apply(a[c] + b[c]) } }
            case is MaxPoolLayer, is UpsampleLayer:
                v = input(node.inputs[0])
            default:
                break
            }
            values.append(v.count == count ? v : [Float](repeating: 0, count: count))
        }
        return values
    }

    /// E[act(y)] for y ~ N(mean, deviation²), by the midpoint rule over ±6 deviations (241 points).
    static func meanActivation(_ act: Activation, mean: Float, deviation: Float) -> Float {
        guard deviation > 0 else { return act.apply(mean) }
        var sum = 0.0, weight = 0.0
        for i in -120...120 {
            let z = Double(i) * 0.05, p = exp(-0.5 * z * z)
            sum += p * Double(act.apply(mean + deviation * Float(z)))
            weight += p
        }
        return Float(sum / weight)
    }

    /// The model's tensors with every conv cut to the kept channels: weight rows (output channels) and columns (the
    /// input's kept channels; a depthwise conv keeps its one column), bias and BatchNorm vectors. What a removed input
    /// channel carried (`removedChannelValues`) is given back to each consumer as a constant: Σ_k W[o, c, k]·v added to
    /// its bias, or subtracted from its BatchNorm running mean (BN(x + δ) with mean μ equals BN(x) with mean μ − δ).
    func apply(to net: CompressibleNetwork) throws -> [String: FloatTensor] {
        var out = net.tensors
        let removedValues = removedChannelValues(net)
        for (i, names) in net.convs {
            guard let conv = net.conv(i), conv.groups == 1 else { continue }
            let x = net.network.nodes[i].inputs[0]
            guard x != Network.inputIndex else { continue }
            let keptIn = Set(kept[x]), removedIn = (0..<conv.inputShape.channels).filter { !keptIn.contains($0) && removedValues[x][$0] != 0 }
            guard !removedIn.isEmpty else { continue }
            let w = try net.tensor(names.weight), k2 = conv.size * conv.size, cin = conv.inputShape.channels
            var delta = [Float](repeating: 0, count: conv.filters)
            for o in 0..<conv.filters {
                var d: Float = 0
                for c in removedIn { for k in 0..<k2 { d += w.values[(o * cin + c) * k2 + k] * removedValues[x][c] } }
                delta[o] = d
            }
            if let bn = names.batchNorm, var mean = out[bn + ".running_mean"], mean.values.count == conv.filters {
                for o in 0..<conv.filters { mean.values[o] -= delta[o] }
                out[bn + ".running_mean"] = mean
            } else if let bias = names.bias, var b = out[bias], b.values.count == conv.filters {
                for o in 0..<conv.filters { b.values[o] += delta[o] }
                out[bias] = b
            }
        }
        let compensated = out
        for (i, names) in net.convs {
            guard let conv = net.conv(i) else { continue }
            let node = net.network.nodes[i]
            let keepOut = kept[i]
            let keepIn = conv.groups == 1 ? (node.inputs[0] == Network.inputIndex ? Array(0..<conv.inputShape.channels) : kept[node.inputs[0]]) : [0]
            let w = try net.tensor(names.weight)
            let perGroupIn = conv.inputShape.channels / conv.groups, k2 = conv.size * conv.size
            guard w.shape == [conv.filters, perGroupIn, conv.size, conv.size] else {
                throw CompressionError(reason: "\(names.weight) has shape \(w.shape), the network's conv needs \([conv.filters, perGroupIn, conv.size, conv.size])")
            }
            var values: [Float] = []
            values.reserveCapacity(keepOut.count * keepIn.count * k2)
            for o in keepOut { for c in keepIn { values += w.values[((o * perGroupIn + c) * k2)..<((o * perGroupIn + c + 1) * k2)] } }
            out[names.weight] = FloatTensor(shape: [keepOut.count, keepIn.count, conv.size, conv.size], values: values)
            for name in names.channelVectors {
                guard let v = compensated[name] else { throw CompressionError(reason: "tensor '\(name)' is not in the model's weights") }
                guard v.values.count == conv.filters else { throw CompressionError(reason: "\(name) has \(v.values.count) values for \(conv.filters) channels") }
                out[name] = FloatTensor(shape: [keepOut.count], values: keepOut.map { v.values[$0] })
            }
        }
        return out
    }
}

extension CompressibleNetwork {
    func tensor(_ name: String) throws -> FloatTensor {
        guard let t = tensors[name] else { throw CompressionError(reason: "tensor '\(name)' is not in the model's weights") }
        return t
    }
}
