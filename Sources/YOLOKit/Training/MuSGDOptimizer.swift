import Foundation

/// Ultralytics' MuSGD (ultralytics/optim/muon.py, 8.4.190), what `optimizer=auto` picks above 10000 iterations:
/// SGD with Nesterov momentum for every group, and for the matrices and conv filters (2-D / 4-D tensors) also a
/// Muon update — the momentum-averaged gradient orthogonalised by five Newton–Schulz steps — added before the SGD
/// step.
///
/// Groups, in torch's `param_groups` order as build_optimizer makes them for MuSGD (8): each of pg0 (decayed
/// weights that are not 2-D / 4-D), pg1 (normalization weights), pg2 (biases) and the Muon group (2-D / 4-D
/// weights, decayed) split into the Detect head's class branch first (`model[-1].cv3`, `one2one_cv3`: lr × 3)
/// and the rest: index 2·base + (boosted ? 0 : 1).
///
/// Per trainable parameter with gradient g, lr / momentum m / weight decay wd of its group (each line one float32
/// tensor op as torch runs it):
///   Muon groups    M = m·M + (1 − m)·g;  U = m·M + (1 − m)·g (Nesterov; else U = M)
///                  O = NS5(U as [shape[0], rest]) · √max(1, shape[−2] / shape[−1])   (the gradient's last two dims)
///                  p = p − (lr·0.2)·O;   then the SGD step below with lr·1.0 on its own buffer, from the new p
///   every group    d = g + wd·p (wd ≠ 0);  B = m·B + d;  u = d + m·B (Nesterov; else u = B);  p = p − lr·u
/// NS5 (zeropower_via_newtonschulz5) runs in bfloat16 as Ultralytics does: X = bf16(U) / (‖X‖_F + 1e-7),
/// transposed when it has more rows than columns, then five times A = X·Xᵀ, B = b·A + c·A·A, X = a·X + B·X with
/// (a, b, c) = (3.4445, −4.7750, 2.0315); every product accumulates in float32 (the `gemm` backend) and every
/// result is rounded to bf16, as torch's CPU bf16 kernels do. Ultralytics batches same-width matrices zero-padded
/// to one call; the padding leaves each matrix's result unchanged except, when the padded height exceeds the
/// width, which side is transposed — a difference of bf16 rounding only, not reproduced here (each matrix alone).
public struct MuSGDOptimizer: ParameterOptimizer {
    /// The 8 groups, torch's order (see the type's comment).
    public var groups: [OptimizerGroupSettings]
    /// The group index of every parameter of the store it was made for.
    public let groupOfParameter: [Int]
    public let nesterov: Bool
    /// Ultralytics' factors: the Muon step's lr × 0.2, the SGD step's lr × 1 in the Muon groups.
    public let muonScale: Double
    public let sgdScale: Double
    /// Runs the Newton–Schulz products.
    public let gemm: any GEMMBackend
    /// Muon momentum buffers (Muon groups) and SGD momentum buffers (every group), by parameter index; empty
    /// until the parameter's first step.
    public private(set) var muonBuffers: [[Float]]
    public private(set) var momentumBuffers: [[Float]]

    /// The lr multiplier of the Detect head's class branch.
    public static let headLearningRateFactor = 3.0
    /// The base groups: pg0, pg1, pg2 (`ParameterGroup`), then Muon.
    static let muonBase = 3

    public var groupKinds: [ParameterGroup] {
        [.decayedWeights, .decayedWeights, .normalizationWeights, .normalizationWeights, .biases, .biases,
         .decayedWeights, .decayedWeights]
    }

    /// Whether group `index` is one of the two Muon groups.
    public static func isMuonGroup(_ index: Int) -> Bool { index / 2 == muonBase }

    /// build_optimizer's MuSGD groups for `store`: lr `learningRate` (× 3 for `boosted` parameters, by index),
    /// momentum `momentum`, Nesterov, weight decay `weightDecay` on pg0 and the Muon groups.
    public init(store: ParameterStore, boosted: Set<Int>, learningRate: Double, momentum: Double, weightDecay: Double,
                nesterov: Bool = true, gemm: any GEMMBackend = SwiftGEMM()) throws {
        guard momentum > 0 || !nesterov else { throw OptimizerError("Nesterov momentum requires a momentum above 0") }
        guard boosted.allSatisfy({ store.parameters.indices.contains($0) }) else { throw OptimizerError("a boosted parameter index is outside the store") }
        groups = (0..<8).map { index in
            let base = index / 2, head = index % 2 == 0
            let decayed = base == ParameterGroup.decayedWeights.rawValue || base == Self.muonBase
            return OptimizerGroupSettings(learningRate: head ? learningRate * Self.headLearningRateFactor : learningRate,
                                          momentum: momentum, weightDecay: decayed ? weightDecay : 0)
        }
        groupOfParameter = store.parameters.indices.map { index in
            let parameter = store.parameters[index]
            let base = [2, 4].contains(parameter.shape.count) ? Self.muonBase : parameter.group.rawValue
            return 2 * base + (boosted.contains(index) ? 0 : 1)
        }
        self.nesterov = nesterov
        muonScale = 0.2
        sgdScale = 1.0
        self.gemm = gemm
        muonBuffers = Array(repeating: [], count: store.parameters.count)
        momentumBuffers = Array(repeating: [], count: store.parameters.count)
    }

    /// The Detect head's class-branch parameters build_optimizer boosts: those of `model.<last>.cv3.` and
    /// `model.<last>.one2one_cv3.`, the last top-level module being the head (state-dict names are module paths).
    public static func detectClassBranchParameters(in store: ParameterStore) -> Set<Int> {
        func layer(_ name: String) -> Int? {
            let parts = name.split(separator: ".", maxSplits: 2)
            return parts.count > 1 && parts[0] == "model" ? Int(parts[1]) : nil
        }
        guard let last = store.parameters.compactMap({ layer($0.name) }).max() else { return [] }
        let prefixes = ["model.\(last).cv3.", "model.\(last).one2one_cv3."]
        return Set(store.parameters.indices.filter { i in prefixes.contains { store.parameters[i].name.hasPrefix($0) } })
    }

    public var state: OptimizerState { OptimizerState(slots: ["muon_momentum": muonBuffers, "momentum": momentumBuffers]) }

    public mutating func restore(_ state: OptimizerState) throws {
        muonBuffers = try state.slot("muon_momentum", like: muonBuffers)
        momentumBuffers = try state.slot("momentum", like: momentumBuffers)
    }

    public mutating func step(_ store: inout ParameterStore) {
        precondition(groupOfParameter.count == store.parameters.count, "MuSGDOptimizer was made for another parameter store")
        for index in store.parameters.indices where !store.parameters[index].isFrozen {
            let group = groupOfParameter[index]
            let settings = groups[group]
            var learningRate = settings.learningRate
            let momentum = Float(settings.momentum ?? 0), weightDecay = Float(settings.weightDecay)
            let muonRest = Float(1 - (settings.momentum ?? 0))  // Python's 1 − beta, then float32
            let count = store.parameters[index].values.count
            if Self.isMuonGroup(group) {
                let shape = store.parameters[index].shape
                let update = muonUpdate(index, gradient: store.parameters[index].gradient, shape: shape, momentum: momentum, rest: muonRest)
                let alpha = Float(-(learningRate * muonScale))
                store.parameters[index].withValuesAndGradient { p, _ in
                    for i in 0..<count { p[i] = p[i] + alpha * update[i] }
                }
                learningRate *= sgdScale
            }
            if momentumBuffers[index].isEmpty { momentumBuffers[index] = [Float](repeating: 0, count: count) }
            let negativeLR = Float(-learningRate), nesterov = nesterov
            store.parameters[index].withValuesAndGradient { p, g in
                momentumBuffers[index].withUnsafeMutableBufferPointer { b in
                    for i in 0..<count {
                        let d = weightDecay != 0 ? g[i] + weightDecay * p[i] : g[i]
                        b[i] = b[i] * momentum + d
                        let u = nesterov ? d + momentum * b[i] : b[i]
                        p[i] = p[i] + negativeLR * u
                    }
                }
            }
        }
    }

    /// muon_update for one tensor: the Muon momentum, then the orthogonalised, scaled update (float32, `count`).
    mutating func muonUpdate(_ index: Int, gradient g: [Float], shape: [Int], momentum: Float, rest: Float) -> [Float] {
        let count = g.count
        if muonBuffers[index].isEmpty { muonBuffers[index] = [Float](repeating: 0, count: count) }
        var u = [Float](repeating: 0, count: count)
        for i in 0..<count {
            let m = muonBuffers[index][i] * momentum + rest * g[i]
            muonBuffers[index][i] = m
            u[i] = nesterov ? m * momentum + rest * g[i] : m
        }
        let rows = shape[0], columns = count / max(rows, 1)
        let scale = Float(max(1, Double(shape[shape.count - 2]) / Double(shape[shape.count - 1])).squareRoot())
        return Self.newtonSchulz(u, rows: rows, columns: columns, gemm: gemm).map { $0 * scale }
    }

    /// float32 → bfloat16 (round to nearest, ties to even), as a float.
    @inline(__always)
    static func bfloat16(_ x: Float) -> Float {
        guard !x.isNaN else { return x }
        let bits = x.bitPattern
        return Float(bitPattern: (bits &+ 0x7FFF &+ ((bits >> 16) & 1)) & 0xFFFF_0000)
    }

    /// zeropower_via_newtonschulz5 of a [rows, columns] row-major matrix, in bf16 (see the type's comment); the
    /// result is [rows, columns], bf16 values as floats.
    public static func newtonSchulz(_ g: [Float], rows: Int, columns: Int, gemm: any GEMMBackend) -> [Float] {
        precondition(g.count == rows * columns && rows > 0 && columns > 0, "MuSGD: \(g.count) values for a \(rows)×\(columns) matrix")
        var x = g.map(bfloat16)
        let squares = x.reduce(0.0) { $0 + Double($1) * Double($1) }
        let denominator = bfloat16(bfloat16(Float(squares.squareRoot())) + 1e-7)
        x = x.map { bfloat16($0 / denominator) }
        let transposed = rows > columns
        let (r, c) = transposed ? (columns, rows) : (rows, columns)
        if transposed { x = transpose(x, rows: rows, columns: columns) }
        let (a, b, cc): (Float, Float, Float) = (3.4445, -4.7750, 2.0315)
        var gram = [Float](repeating: 0, count: r * r), square = [Float](repeating: 0, count: r * r)
        var mix = [Float](repeating: 0, count: r * r), product = [Float](repeating: 0, count: r * c)
        for _ in 0..<5 {
            x.withUnsafeBufferPointer { xs in
                gram.withUnsafeMutableBufferPointer { gs in
                    // A = X·Xᵀ [r, r]
                    gemm.sgemmTransposingB(m: r, n: r, k: c, alpha: 1, a: xs.baseAddress!, lda: c, b: xs.baseAddress!, ldb: c,
                                           beta: 0, c: gs.baseAddress!, ldc: r)
                }
            }
            gram = gram.map(bfloat16)
            gram.withUnsafeBufferPointer { gs in
                square.withUnsafeMutableBufferPointer { ss in
                    gemm.sgemm(m: r, n: r, k: r, alpha: 1, a: gs.baseAddress!, lda: r, b: gs.baseAddress!, ldb: r,
                               beta: 0, c: ss.baseAddress!, ldc: r)
                }
            }
            for i in 0..<(r * r) { mix[i] = bfloat16(b * gram[i] + cc * square[i]) }  // B = b·A + c·A·A
            mix.withUnsafeBufferPointer { ms in
                x.withUnsafeBufferPointer { xs in
                    product.withUnsafeMutableBufferPointer { ps in
                        gemm.sgemm(m: r, n: c, k: r, alpha: 1, a: ms.baseAddress!, lda: r, b: xs.baseAddress!, ldb: c,
                                   beta: 0, c: ps.baseAddress!, ldc: c)
                    }
                }
            }
            for i in 0..<(r * c) { x[i] = bfloat16(a * x[i] + product[i]) }  // X = a·X + B·X
        }
        return transposed ? transpose(x, rows: r, columns: c) : x
    }

    static func transpose(_ x: [Float], rows: Int, columns: Int) -> [Float] {
        var out = [Float](repeating: 0, count: x.count)
        for i in 0..<rows { for j in 0..<columns { out[j * rows + i] = x[i * columns + j] } }
        return out
    }
}
