/// How `yolo compress` chooses each conv's rank.
public struct LowRankOptions: Sendable {
    public enum Rank: Sendable, Equatable {
        /// r = ⌈ratio · min(Cout, Cin·k²)⌉.
        case ratio(Double)
        /// The smallest r keeping this fraction of Σσ² (the weight matrix's squared Frobenius norm).
        case energy(Double)
    }
    public var rank: Rank
    /// A conv is replaced only when the two convs' multiply-accumulates, r·(Cin·k² + Cout), are at most this fraction
    /// of the original's Cout·Cin·k² (elsewhere the pair would be slower); above 1 replaces every eligible conv.
    public var maxCostFraction: Double
    /// Ranks are rounded up to a multiple of this (GEMM rows stay SIMD-sized), never above full rank.
    public var roundTo: Int

    public init(rank: Rank, maxCostFraction: Double = 0.75, roundTo: Int = 8) {
        self.rank = rank
        self.maxCostFraction = maxCostFraction
        self.roundTo = roundTo
    }
}

/// Low-rank factorization of convolutions: the weight W[Cout, Cin·k·k] (unfused: a BatchNorm after it stays after
/// the pair) ≈ U_r·Σ_r·V_rᵀ by truncated SVD, so the conv becomes a k×k conv Cin → r (weights √Σ_r·V_rᵀ, same stride
/// and padding, no bias) followed by a 1×1 conv r → Cout (weights U_r·√Σ_r, the original bias / BatchNorm /
/// activation). Eligible: ungrouped convs whose tensors are known and not shared, except those feeding a head.
struct LowRankFactorization {
    struct Factor {
        let node: Int
        let names: ConvTensorNames
        let rank: Int
        /// [r, Cin, k, k] and [Cout, r, 1, 1].
        let first: FloatTensor, second: FloatTensor
        /// Fraction of Σσ² kept.
        let energyKept: Double
    }
    let factors: [Factor]
    /// Every eligible conv: full rank min(Cout, Cin·k²) before, the rank it got after (full when left alone).
    let layers: [CompressedLayer]

    static func plan(_ net: CompressibleNetwork, options: LowRankOptions) throws -> LowRankFactorization {
        switch options.rank {
        case .ratio(let r): guard r > 0, r <= 1 else { throw CompressionError(reason: "--rank-ratio must be in (0, 1], got \(r)") }
        case .energy(let e): guard e > 0, e <= 1 else { throw CompressionError(reason: "--energy must be in (0, 1], got \(e)") }
        }
        // The convs whose outputs a head reads are left alone: those outputs are the boxes and scores themselves (on
        // yolov3-tiny, keeping 95 % of the energy of its two head convs alone moved the agreement from 0.88 to 0.37).
        var headInputs = Set<Int>()
        for node in net.network.nodes where node.layer is any DetectionHead { headInputs.formUnion(node.inputs) }
        var factors: [Factor] = [], layers: [CompressedLayer] = []
        for i in net.network.nodes.indices where !headInputs.contains(i) {
            guard let conv = net.conv(i), conv.groups == 1, let names = net.convs[i], !net.sharedWeights.contains(names.weight) else { continue }
            let cout = conv.filters, columns = conv.inputShape.channels * conv.size * conv.size
            let w = try net.tensor(names.weight)
            guard w.values.count == cout * columns else {
                throw CompressionError(reason: "\(names.weight) has shape \(w.shape), the network's conv needs \([cout, conv.inputShape.channels, conv.size, conv.size])")
            }
            let full = min(cout, columns)
            let name = String(names.weight.dropLast(".weight".count))
            let svd = try SingularValueDecomposition(w.values, rows: cout, columns: columns, what: names.weight)
            var r: Int
            switch options.rank {
            case .ratio(let ratio): r = Int((ratio * Double(full)).rounded(.up))
            case .energy(let e): r = svd.rank(keepingEnergy: e)
            }
            if options.roundTo > 1 { r = (r + options.roundTo - 1) / options.roundTo * options.roundTo }
            r = max(1, min(full, r))
            guard Double(r * (columns + cout)) <= options.maxCostFraction * Double(cout * columns) else {
                layers.append(CompressedLayer(name: name, before: full, after: full))
                continue
            }
            let (left, right) = svd.factors(rank: r)
            let total = svd.discardedEnergy(rank: 0)
            factors.append(Factor(node: i, names: names, rank: r,
                                  first: FloatTensor(shape: [r, conv.inputShape.channels, conv.size, conv.size], values: right),
                                  second: FloatTensor(shape: [cout, r, 1, 1], values: left),
                                  energyKept: total > 0 ? 1 - svd.discardedEnergy(rank: r) / total : 1))
            layers.append(CompressedLayer(name: name, before: full, after: r))
        }
        return LowRankFactorization(factors: factors, layers: layers)
    }
}
