/// How `yolo compress` chooses each conv's rank.
public struct LowRankOptions: Sendable {
    public enum Rank: Sendable, Equatable {
        /// r = ⌈ratio · min(Cout, Cin·k²)⌉.
        case ratio(Double)
        /// The smallest r keeping this fraction of Σσ² (the weight matrix's squared Frobenius norm).
        case energy(Double)
        /// Per-conv ranks (those keeping `LowRankOptions.budgetEnergies` of the output variance) chosen for the most
        /// measured time saved while the estimated output error on the calibration photos stays within this budget
        /// (`RankBudget`). Needs `calibration` and `timing`.
        case errorBudget(Double)
    }
    public var rank: Rank
    /// A conv is replaced (and, with `timing`, timed) only when the two convs' multiply-accumulates, r·(Cin·k² + Cout),
    /// are at most this fraction of the original's Cout·Cin·k²; above 1 lets every eligible conv through.
    public var maxCostFraction: Double
    /// The measured cost rule: when set, a conv is replaced only where its pair, timed as the network runs it, takes
    /// at most `timing.maxTimeFraction` of the conv's time. Without it the counted rule alone decides.
    public var timing: MeasuredCost?
    /// Ranks are rounded up to a multiple of this (GEMM rows stay SIMD-sized), never above full rank.
    public var roundTo: Int
    /// Calibration photos. When given, each conv keeps the principal subspace of its *outputs* on these images
    /// (data-aware: the rank-r conv closest to the original on them) instead of the weights' own SVD, and the
    /// energy is the fraction of the output variance kept.
    public var calibration: [RGBImage]
    /// How the calibration forward passes and the timing run.
    public var execution: ExecutionOptions
    /// With `.errorBudget`: how many of the calibration photos the output errors are measured on.
    public var sensitivityImages: Int

    /// The energies whose ranks `.errorBudget` chooses among, per conv.
    public static let budgetEnergies = [0.9, 0.95, 0.97, 0.98, 0.99, 0.995]

    public init(rank: Rank, maxCostFraction: Double = 0.75, timing: MeasuredCost? = nil, roundTo: Int = 8, calibration: [RGBImage] = [],
                execution: ExecutionOptions = ExecutionOptions(), sensitivityImages: Int = 4) {
        self.rank = rank
        self.maxCostFraction = maxCostFraction
        self.timing = timing
        self.roundTo = roundTo
        self.calibration = calibration
        self.execution = execution
        self.sensitivityImages = sensitivityImages
    }

    /// How the settings read in a written file's metadata.
    var summary: String {
        let rule = timing.map { "pairs measured at most \($0.maxTimeFraction) of the conv's time" } ?? "at most \(maxCostFraction) of each conv's cost"
        return "low-rank: \(rank), \(rule)"
    }
}

/// The measured cost rule of `LowRankOptions.timing`.
public struct MeasuredCost: Sendable {
    /// A pair is used only when it takes at most this fraction of the original conv's time.
    public var maxTimeFraction: Double
    public var clock: any ConvClock

    public init(maxTimeFraction: Double = 0.9, clock: any ConvClock = MeasuredConvClock()) {
        self.maxTimeFraction = maxTimeFraction
        self.clock = clock
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
        /// Data-aware: the 1×1 conv's weights [Cout·r] and bias [Cout] as the network runs them (BatchNorm folded in).
        var runtimeSecond: [Float] = [], runtimeBias: [Float] = []
    }
    let factors: [Factor]
    /// Every eligible conv: full rank min(Cout, Cin·k²) before, the rank it got after (full when left alone), with
    /// the measured times and the reason a conv was left alone.
    let layers: [CompressedLayer]

    /// One eligible conv, analysed: its spectrum, and the candidate ranks that passed the cost rules.
    struct Analysis {
        let node: Int, names: ConvTensorNames, name: String, full: Int
        let weights: FloatTensor
        /// The output covariance's eigen-decomposition (data-aware), or the weights' SVD.
        let eigen: SingularValueDecomposition?, svd: SingularValueDecomposition?
        /// Eigenvalues (data-aware) or σ², descending.
        let spectrum: [Double]
        var originalMilliseconds: Double? = nil
        /// Ascending, each with the pair's measured milliseconds (nil without timing).
        var ranks: [(rank: Int, milliseconds: Double?)] = []
        /// Why no rank passed, and the rejected pair's time.
        var note: String? = nil, rejectedMilliseconds: Double? = nil
    }

    /// The convs `plan` may replace (ungrouped, tensors known and not shared, not feeding a head).
    static func eligible(_ net: CompressibleNetwork) -> [Int] {
        // The convs whose outputs a head reads are left alone: those outputs are the boxes and scores themselves (on
        // yolov3-tiny, keeping 95 % of the energy of its two head convs alone moved the agreement from 0.88 to 0.37).
        let heads = headInputs(net.network)
        return net.network.nodes.indices.filter { i in
            guard !heads.contains(i), let conv = net.conv(i), conv.groups == 1, let names = net.convs[i] else { return false }
            return !net.sharedWeights.contains(names.weight)
        }
    }

    /// The nodes a detection head reads.
    static func headInputs(_ network: Network) -> Set<Int> {
        var inputs = Set<Int>()
        for node in network.nodes where node.layer is any DetectionHead { inputs.formUnion(node.inputs) }
        return inputs
    }

    /// `statistics`: calibration statistics by node (`ConvOutputStatistics`); a conv with none is factored by the
    /// SVD of its weights. `inputs`: the calibration images as network inputs (`.errorBudget` runs the network on them).
    static func plan(_ net: CompressibleNetwork, options: LowRankOptions, statistics: [Int: ConvOutputStatistics] = [:],
                     inputs: [FeatureMap] = []) throws -> LowRankFactorization {
        switch options.rank {
        case .ratio(let r): guard r > 0, r <= 1 else { throw CompressionError(reason: "--rank-ratio must be in (0, 1], got \(r)") }
        case .energy(let e): guard e > 0, e <= 1 else { throw CompressionError(reason: "--energy must be in (0, 1], got \(e)") }
        case .errorBudget(let b):
            guard b >= 0 else { throw CompressionError(reason: "--error-budget must be at least 0, got \(b)") }
            guard !statistics.isEmpty, !inputs.isEmpty, options.timing != nil else {
                throw CompressionError(reason: "--error-budget needs calibration photos (--calib) and the measured cost rule (--max-time above 0)")
            }
        }
        if let t = options.timing, !(t.maxTimeFraction > 0) { throw CompressionError(reason: "--max-time must be positive, got \(t.maxTimeFraction)") }
        var analyses: [Analysis] = []
        for i in eligible(net) { analyses.append(try analyse(node: i, net: net, options: options, statistics: statistics[i])) }
        var chosen: [Int?] = analyses.map { $0.ranks.isEmpty ? nil : 0 }
        var errors: [[Double]] = analyses.map { _ in [] }
        if case .errorBudget(let budget) = options.rank {
            (chosen, errors) = try budgetChoice(analyses, net: net, options: options, statistics: statistics, inputs: inputs, budget: budget)
        }
        var factors: [Factor] = [], layers: [CompressedLayer] = []
        for (k, a) in analyses.enumerated() {
            guard let c = chosen[k] else {
                // Left alone by the budget: its highest candidate rank (the least error) did not fit either.
                let highest = a.note == nil ? a.ranks.last : nil
                let note = a.note ?? String(format: "rank %d would add output error %.2g: over what is left of the budget", highest?.rank ?? 0, errors[k].last ?? 0)
                layers.append(CompressedLayer(name: a.name, before: a.full, after: a.full, originalMilliseconds: a.originalMilliseconds,
                                              factoredMilliseconds: a.rejectedMilliseconds ?? highest?.milliseconds, note: note))
                continue
            }
            let r = a.ranks[c].rank
            let factor: Factor
            if let eigen = a.eigen, let stats = statistics[a.node] {
                factor = try dataAwareFactor(node: a.node, net: net, names: a.names, weights: a.weights, statistics: stats, eigen: eigen, rank: r)
            } else {
                factor = weightFactor(node: a.node, net: net, names: a.names, svd: a.svd!, rank: r)
            }
            factors.append(factor)
            let note = errors[k].isEmpty ? nil : String(format: "output error %.2g (estimated)", errors[k][c])
            layers.append(CompressedLayer(name: a.name, before: a.full, after: r, originalMilliseconds: a.originalMilliseconds,
                                          factoredMilliseconds: a.ranks[c].milliseconds, note: note))
        }
        return LowRankFactorization(factors: factors, layers: layers)
    }

    /// Conv `node`'s spectrum and candidate ranks, kept where the pair counts at most `maxCostFraction` of the
    /// multiply-accumulates and (with `timing`) measured at most `maxTimeFraction` of the conv's time.
    static func analyse(node i: Int, net: CompressibleNetwork, options: LowRankOptions, statistics: ConvOutputStatistics?) throws -> Analysis {
        let conv = net.conv(i)!, names = net.convs[i]!
        let cout = conv.filters, columns = conv.inputShape.channels * conv.size * conv.size
        let w = try net.tensor(names.weight)
        guard w.values.count == cout * columns else {
            throw CompressionError(reason: "\(names.weight) has shape \(w.shape), the network's conv needs \([cout, conv.inputShape.channels, conv.size, conv.size])")
        }
        let full = min(cout, columns)
        var eigen: SingularValueDecomposition?, svd: SingularValueDecomposition?, spectrum: [Double]
        if let statistics {
            let e = try SingularValueDecomposition(statistics.covariance.map { Float($0) }, rows: cout, columns: cout,
                                                   what: "\(names.weight) (output covariance)")
            eigen = e
            spectrum = e.sigma.map { Double($0) }
        } else {
            let s = try SingularValueDecomposition(w.values, rows: cout, columns: columns, what: names.weight)
            svd = s
            spectrum = s.sigma.map { Double($0) * Double($0) }
        }
        func rounded(_ rank: Int) -> Int {
            let r = options.roundTo > 1 ? (rank + options.roundTo - 1) / options.roundTo * options.roundTo : rank
            return max(1, min(full, r))
        }
        let candidates: [Int]
        switch options.rank {
        case .ratio(let ratio): candidates = [rounded(Int((ratio * Double(full)).rounded(.up)))]
        case .energy(let e): candidates = [rounded(rank(keeping: e, of: spectrum))]
        case .errorBudget: candidates = Set(LowRankOptions.budgetEnergies.map { rounded(rank(keeping: $0, of: spectrum)) }).filter { $0 < full }.sorted()
        }
        var a = Analysis(node: i, names: names, name: String(names.weight.dropLast(".weight".count)), full: full, weights: w,
                         eigen: eigen, svd: svd, spectrum: spectrum)
        func counted(_ r: Int) -> Double { Double(r * (columns + cout)) / Double(cout * columns) }
        let cheap = candidates.filter { counted($0) <= options.maxCostFraction }
        guard let timing = options.timing else {
            a.ranks = cheap.map { ($0, nil) }
            if cheap.isEmpty { a.note = candidates.isEmpty ? "no rank below full" : String(format: "pair counts %.2f of the multiply-accumulates (> --max-cost %g)", counted(candidates[0]), options.maxCostFraction) }
            return a
        }
        guard !cheap.isEmpty else {
            a.note = candidates.isEmpty ? "no rank below full" : String(format: "pair counts %.2f of the multiply-accumulates (> --max-cost %g): not timed", counted(candidates[0]), options.maxCostFraction)
            return a
        }
        let original = timing.clock.milliseconds([conv], execution: options.execution)
        a.originalMilliseconds = original
        for r in cheap {
            let pair = timing.clock.milliseconds(FactoredPair.timingLayers(replacing: conv, rank: r, winograd: options.execution.winograd), execution: options.execution)
            if pair <= timing.maxTimeFraction * original {
                a.ranks.append((r, pair))
            } else if a.rejectedMilliseconds == nil {
                a.rejectedMilliseconds = pair
                a.note = String(format: "pair at rank %d measured %.2f of the conv's time (> --max-time %g)", r, pair / max(original, 1e-9), timing.maxTimeFraction)
            }
        }
        if !a.ranks.isEmpty { a.note = nil; a.rejectedMilliseconds = nil }
        return a
    }

    /// `.errorBudget`: each conv's output error measured alone at its lowest candidate rank (`OutputSensitivity`, on
    /// the first `sensitivityImages` calibration images), scaled to its other ranks by the output variance each
    /// discards; then `RankBudget.choose`. Returns the chosen index into each analysis' ranks, and the errors.
    static func budgetChoice(_ analyses: [Analysis], net: CompressibleNetwork, options: LowRankOptions, statistics: [Int: ConvOutputStatistics],
                             inputs: [FeatureMap], budget: Double) throws -> ([Int?], [[Double]]) {
        var replacements: [(node: Int, layers: [ConvolutionLayer])] = [], measuredAt: [Int] = []
        for (k, a) in analyses.enumerated() where !a.ranks.isEmpty {
            guard let eigen = a.eigen, let stats = statistics[a.node], let conv = net.conv(a.node) else { continue }
            let r = a.ranks[0].rank
            let f = try dataAwareFactor(node: a.node, net: net, names: a.names, weights: a.weights, statistics: stats, eigen: eigen, rank: r)
            replacements.append((a.node, FactoredPair.layers(replacing: conv, rank: r, first: FloatBuffer(f.first.values), second: FloatBuffer(f.runtimeSecond),
                                                             bias: FloatBuffer(f.runtimeBias), winograd: options.execution.winograd)))
            measuredAt.append(k)
        }
        let measured = OutputSensitivity.errors(net, replacements: replacements, inputs: Array(inputs.prefix(max(1, options.sensitivityImages))),
                                                execution: options.execution)
        var errors: [[Double]] = analyses.map { _ in [] }, choices: [[RankBudget.Option]] = analyses.map { _ in [] }
        for (j, k) in measuredAt.enumerated() {
            let a = analyses[k], original = a.originalMilliseconds ?? 0
            let lowest = discardedFraction(of: a.spectrum, rank: a.ranks[0].rank)
            errors[k] = a.ranks.map { lowest > 0 ? measured[j] * discardedFraction(of: a.spectrum, rank: $0.rank) / lowest : 0 }
            choices[k] = zip(a.ranks, errors[k]).map { RankBudget.Option(saved: original - ($0.0.milliseconds ?? original), error: $0.1) }
        }
        return (RankBudget.choose(choices, budget: budget), errors)
    }

    /// The fraction of `spectrum` (descending, non-negative) beyond its first `rank` values.
    static func discardedFraction(of spectrum: [Double], rank: Int) -> Double {
        let total = spectrum.reduce(0) { $0 + max($1, 0) }
        guard total > 0 else { return 0 }
        return spectrum.dropFirst(rank).reduce(0) { $0 + max($1, 0) } / total
    }

    /// The pair from the weights' own SVD: √Σ_r·V_rᵀ and U_r·√Σ_r.
    static func weightFactor(node: Int, net: CompressibleNetwork, names: ConvTensorNames, svd: SingularValueDecomposition, rank r: Int) -> Factor {
        let conv = net.conv(node)!
        let (left, right) = svd.factors(rank: r)
        let total = svd.discardedEnergy(rank: 0)
        return Factor(node: node, names: names, rank: r,
                      first: FloatTensor(shape: [r, conv.inputShape.channels, conv.size, conv.size], values: right),
                      second: FloatTensor(shape: [conv.filters, r, 1, 1], values: left),
                      energyKept: total > 0 ? 1 - svd.discardedEnergy(rank: r) / total : 1)
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
        // As the network runs the pair: D·D⁻¹·Q_r = Q_r, and the fused bias plus δ (the corrected mean, folded).
        var runtimeSecond = [Float](repeating: 0, count: cout * r), runtimeBias = [Float](repeating: 0, count: cout)
        for c in 0..<cout {
            let kept = abs(scale[c]) > 1e-12
            for j in 0..<r where kept { runtimeSecond[c * r + j] = Float(q(c, j)) }
            let corrects = names.batchNorm != nil ? kept : names.bias != nil  // as the tensors above were corrected
            runtimeBias[c] = conv.bias.pointer[c] + (corrects ? Float(delta[c]) : 0)
        }
        let total = eigen.sigma.reduce(0) { $0 + Double(max($1, 0)) }
        let kept = eigen.sigma.prefix(r).reduce(0) { $0 + Double(max($1, 0)) }
        return Factor(node: node, names: names, rank: r,
                      first: FloatTensor(shape: [r, conv.inputShape.channels, conv.size, conv.size], values: first),
                      second: FloatTensor(shape: [cout, r, 1, 1], values: second),
                      energyKept: total > 0 ? kept / total : 1, corrected: corrected, runtimeSecond: runtimeSecond, runtimeBias: runtimeBias)
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
        return try plan(net, options: options, statistics: statistics, inputs: inputs)
    }
}
