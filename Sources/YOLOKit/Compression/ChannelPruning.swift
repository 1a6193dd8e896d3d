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

    /// Mean |w| of filter `channel` (or |γ| of its BatchNorm for `.bn` when there is one).
    static func importance(_ net: CompressibleNetwork, node: Int, channel: Int, _ kind: PruningOptions.Importance) throws -> Double {
        let names = net.convs[node]!
        if kind == .bn, let bn = names.batchNorm {
            let gamma = try net.tensor(bn + ".weight")
            guard channel < gamma.values.count else { throw CompressionError(reason: "\(bn).weight has \(gamma.values.count) values, fewer than the conv's channels") }
            return Double(abs(gamma.values[channel]))
        }
        let w = try net.tensor(names.weight)
        let row = w.values.count / max(1, w.shape.first ?? 1)
        guard row > 0, (channel + 1) * row <= w.values.count else { throw CompressionError(reason: "\(names.weight) does not hold filter \(channel)") }
        var sum = 0.0
        for v in w.values[(channel * row)..<((channel + 1) * row)] { sum += Double(abs(v)) }
        return sum / Double(row)
    }

    /// The model's tensors with every conv cut to the kept channels: weight rows (output channels) and columns (the
    /// input's kept channels; a depthwise conv keeps its one column), bias and BatchNorm vectors.
    func apply(to net: CompressibleNetwork) throws -> [String: FloatTensor] {
        var out = net.tensors
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
                let v = try net.tensor(name)
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
