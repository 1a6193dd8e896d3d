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
    /// Calibration photos. When given, each conv keeps the principal subspace of its *outputs* on these images
    /// (data-aware: the rank-r conv closest to the original on them) instead of the weights' own SVD, and the
    /// energy is the fraction of the output variance kept.
    public var calibration: [RGBImage]
    /// How the calibration forward passes run.
    public var execution: ExecutionOptions

    public init(rank: Rank, maxCostFraction: Double = 0.75, roundTo: Int = 8, calibration: [RGBImage] = [],
                execution: ExecutionOptions = ExecutionOptions()) {
        self.rank = rank
        self.maxCostFraction = maxCostFraction
        self.roundTo = roundTo
        self.calibration = calibration
        self.execution = execution
    }
}

/// Low-rank factorization of convolutions: the weight W[Cout, Cin·k·k] (unfused: a BatchNorm after it stays after
/// the pair) ≈ U_r·Σ_r·V_rᵀ by truncated SVD, so the conv becomes a k×k conv Cin → r (weights √Σ_r·V_rᵀ, same stride
/// and padding, no bias) followed by a 1×1 conv r → Cout (weights U_r·√Σ_r, the original bias / BatchNorm /
/// activation). Eligible: ungrouped convs whose tensors are known and not shared, except those feeding a head.
///
/// Data-aware (with calibration statistics): with Y = W_f·X the conv's outputs on the calibration images (W_f with
/// the BatchNorm folded in, W_f = D·W) and Q_r the top r eigenvectors of their covariance, the rank-r weights closest
/// to W_f on those outputs are Q_r·Q_rᵀ·W_f (Eckart–Young on Y, and reachable). The pair is then Q_rᵀ·W_f (k×k,
/// Cin → r) and D⁻¹·Q_r (1×1, r → Cout, the BatchNorm after it restoring D), and the mean the projection drops,
/// (I − Q_r·Q_rᵀ)·E[y], goes back into the BatchNorm mean (or the bias).
struct LowRankFactorization {
    struct Factor {
        let node: Int
        let names: ConvTensorNames
        let rank: Int
        /// [r, Cin, k, k] and [Cout, r, 1, 1].
        let first: FloatTensor, second: FloatTensor
        /// Fraction of Σσ² kept (data-aware: of the output variance).
        let energyKept: Double
        /// Channel vectors (a BatchNorm mean, a bias) the data-aware mean correction replaced, by name.
        var corrected: [String: FloatTensor] = [:]
    }
    let factors: [Factor]
    /// Every eligible conv: full rank min(Cout, Cin·k²) before, the rank it got after (full when left alone).
    let layers: [CompressedLayer]

    /// The convs `plan` may replace (ungrouped, tensors known and not shared, not feeding a head).
    static func eligible(_ net: CompressibleNetwork) -> [Int] {
        // The convs whose outputs a head reads are left alone: those outputs are the boxes and scores themselves (on
        // yolov3-tiny, keeping 95 % of the energy of its two head convs alone moved the agreement from 0.88 to 0.37).
        var headInputs = Set<Int>()
        for node in net.network.nodes where node.layer is any DetectionHead { headInputs.formUnion(node.inputs) }
        return net.network.nodes.indices.filter { i in
            guard !headInputs.contains(i), let conv = net.conv(i), conv.groups == 1, let names = net.convs[i] else { return false }
            return !net.sharedWeights.contains(names.weight)
        }
    }

    /// `statistics`: calibration statistics by node (`ConvOutputStatistics`); a conv with none is factored by the
    /// SVD of its weights.
    static func plan(_ net: CompressibleNetwork, options: LowRankOptions, statistics: [Int: ConvOutputStatistics] = [:]) throws -> LowRankFactorization {
        switch options.rank {
        case .ratio(let r): guard r > 0, r <= 1 else { throw CompressionError(reason: "--rank-ratio must be in (0, 1], got \(r)") }
        case .energy(let e): guard e > 0, e <= 1 else { throw CompressionError(reason: "--energy must be in (0, 1], got \(e)") }
        }
        var factors: [Factor] = [], layers: [CompressedLayer] = []
        for i in eligible(net) {
            let conv = net.conv(i)!, names = net.convs[i]!
            let cout = conv.filters, columns = conv.inputShape.channels * conv.size * conv.size
            let w = try net.tensor(names.weight)
            guard w.values.count == cout * columns else {
                throw CompressionError(reason: "\(names.weight) has shape \(w.shape), the network's conv needs \([cout, conv.inputShape.channels, conv.size, conv.size])")
            }
            let full = min(cout, columns)
            let name = String(names.weight.dropLast(".weight".count))
            let rank = { (spectrum: [Double]) -> Int in
                var r: Int
                switch options.rank {
                case .ratio(let ratio): r = Int((ratio * Double(full)).rounded(.up))
                case .energy(let e): r = Self.rank(keeping: e, of: spectrum)
                }
                if options.roundTo > 1 { r = (r + options.roundTo - 1) / options.roundTo * options.roundTo }
                return max(1, min(full, r))
            }
            let factor: Factor
            if let stats = statistics[i] {
                let eigen = try SingularValueDecomposition(stats.covariance.map { Float($0) }, rows: cout, columns: cout,
                                                           what: "\(names.weight) (output covariance)")
                let r = rank(eigen.sigma.map { Double($0) })
                guard Double(r * (columns + cout)) <= options.maxCostFraction * Double(cout * columns) else {
                    layers.append(CompressedLayer(name: name, before: full, after: full))
                    continue
                }
                factor = try dataAwareFactor(node: i, net: net, names: names, weights: w, statistics: stats, eigen: eigen, rank: r)
            } else {
                let svd = try SingularValueDecomposition(w.values, rows: cout, columns: columns, what: names.weight)
                let r = rank(svd.sigma.map { Double($0) * Double($0) })
                guard Double(r * (columns + cout)) <= options.maxCostFraction * Double(cout * columns) else {
                    layers.append(CompressedLayer(name: name, before: full, after: full))
                    continue
                }
                let (left, right) = svd.factors(rank: r)
                let total = svd.discardedEnergy(rank: 0)
                factor = Factor(node: i, names: names, rank: r,
                                first: FloatTensor(shape: [r, conv.inputShape.channels, conv.size, conv.size], values: right),
                                second: FloatTensor(shape: [cout, r, 1, 1], values: left),
                                energyKept: total > 0 ? 1 - svd.discardedEnergy(rank: r) / total : 1)
            }
            factors.append(factor)
            layers.append(CompressedLayer(name: name, before: full, after: factor.rank))
        }
        return LowRankFactorization(factors: factors, layers: layers)
    }

    /// The smallest r whose leading `spectrum` values (descending, non-negative) sum to `fraction` of the total.
    static func rank(keeping fraction: Double, of spectrum: [Double]) -> Int {
        let total = spectrum.reduce(0) { $0 + max($1, 0) }
        guard total > 0 else { return 1 }
        var kept = 0.0
        for (i, s) in spectrum.enumerated() {
            kept += max(s, 0)
            if kept >= fraction * total { return i + 1 }
        }
        return spectrum.count
    }

    /// The data-aware pair of conv `node` (see the type's comment). `eigen` is the SVD of the output covariance,
    /// whose U holds its eigenvectors (the covariance is symmetric positive semi-definite).
    static func dataAwareFactor(node: Int, net: CompressibleNetwork, names: ConvTensorNames, weights w: FloatTensor,
                                statistics: ConvOutputStatistics, eigen: SingularValueDecomposition, rank r: Int) throws -> Factor {
        let conv = net.conv(node)!
        let cout = conv.filters, columns = w.values.count / cout, p = eigen.p
        let fused = Array(UnsafeBufferPointer(start: conv.weights.pointer, count: cout * columns))
        // D per output channel, from the fused and the unfused rows (1 where the row is zero: any D fits it).
        let scale: [Double] = (0..<cout).map { c in
            var dot = 0.0, norm = 0.0
            for k in 0..<columns { dot += Double(fused[c * columns + k]) * Double(w.values[c * columns + k]); norm += Double(w.values[c * columns + k]) * Double(w.values[c * columns + k]) }
            return norm > 0 ? dot / norm : 1
        }
        func q(_ c: Int, _ j: Int) -> Double { Double(eigen.u[c * p + j]) }
        var first = [Float](repeating: 0, count: r * columns), second = [Float](repeating: 0, count: cout * r)
        for j in 0..<r {
            var row = [Double](repeating: 0, count: columns)
            for c in 0..<cout where q(c, j) != 0 {
                let a = q(c, j)
                for k in 0..<columns { row[k] += a * Double(fused[c * columns + k]) }
            }
            for k in 0..<columns { first[j * columns + k] = Float(row[k]) }
            for c in 0..<cout where abs(scale[c]) > 1e-12 { second[c * r + j] = Float(q(c, j) / scale[c]) }
        }
        // δ = (I − Q_r·Q_rᵀ)·E[y]: what the projection takes from each output's mean, given back after it.
        var delta = statistics.mean
        for j in 0..<r {
            var dot = 0.0
            for c in 0..<cout { dot += q(c, j) * statistics.mean[c] }
            for c in 0..<cout { delta[c] -= dot * q(c, j) }
        }
        var corrected: [String: FloatTensor] = [:]
        if let bn = names.batchNorm {
            // BN(z) = D·(z − m) + β: adding δ after it is m − δ/D.
            var mean = try net.tensor(bn + ".running_mean")
            for c in 0..<cout where abs(scale[c]) > 1e-12 { mean.values[c] -= Float(delta[c] / scale[c]) }
            corrected[bn + ".running_mean"] = mean
        } else if let biasName = names.bias {
            var bias = try net.tensor(biasName)
            for c in 0..<cout { bias.values[c] += Float(delta[c]) }
            corrected[biasName] = bias
        }
        let total = eigen.sigma.reduce(0) { $0 + Double(max($1, 0)) }
        let kept = eigen.sigma.prefix(r).reduce(0) { $0 + Double(max($1, 0)) }
        return Factor(node: node, names: names, rank: r,
                      first: FloatTensor(shape: [r, conv.inputShape.channels, conv.size, conv.size], values: first),
                      second: FloatTensor(shape: [cout, r, 1, 1], values: second),
                      energyKept: total > 0 ? kept / total : 1, corrected: corrected)
    }
}

extension LowRankFactorization {
    /// `plan`, with calibration statistics gathered first when `options.calibration` has photos (`place` letterboxes
    /// one into the network input, as the model's detection does).
    static func plan(_ net: CompressibleNetwork, options: LowRankOptions, place: (RGBImage, FeatureMap) -> Void) throws -> LowRankFactorization {
        guard !options.calibration.isEmpty else { return try plan(net, options: options) }
        let inputs = options.calibration.map { image in
            let input = FeatureMap(shape: net.network.inputShape)
            place(image, input)
            return input
        }
        let statistics = ConvOutputStatistics.collect(net, nodes: Set(eligible(net)), inputs: inputs, execution: options.execution)
        return try plan(net, options: options, statistics: statistics)
    }
}
