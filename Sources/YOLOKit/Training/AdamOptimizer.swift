import Foundation

/// torch.optim.Adam and torch.optim.AdamW (amsgrad off, not maximizing), as build_optimizer makes them: betas
/// (momentum, 0.999), eps 1e-8 (torch's default).
///
/// Per parameter with a gradient, step count t (per parameter, from 1), in torch's order:
///   AdamW: p = p·(1 − lr·wd)            (decoupled decay, the factor computed in double)
///   Adam:  d = g + wd·p                 (L2 decay added to the gradient; otherwise d = g)
///   m = lerp(m, d, 1 − β1)
///   v = β2·v + (1 − β2)·d·d
///   p = p − (lr / (1 − β1^t))·m / (√v / √(1 − β2^t) + eps)
public struct AdamOptimizer: ParameterOptimizer {
    public enum WeightDecayStyle: Sendable {
        /// torch.optim.Adam: weight decay added to the gradient.
        case l2
        /// torch.optim.AdamW: the parameter shrunk before the update.
        case decoupled
    }

    public var groups: [OptimizerGroupSettings]
    public let beta1: Double
    public let beta2: Double
    public let epsilon: Double
    public let weightDecayStyle: WeightDecayStyle
    /// First and second moments by parameter index (zeros, created at the first step as torch does), and the
    /// number of steps each parameter has taken.
    public private(set) var firstMoments: [[Float]]
    public private(set) var secondMoments: [[Float]]
    public private(set) var stepCounts: [Int]

    public init(groups: [OptimizerGroupSettings], beta1: Double, beta2: Double = 0.999, epsilon: Double = 1e-8,
                weightDecayStyle: WeightDecayStyle, parameterCount: Int) throws {
        guard groups.count == ParameterGroup.allCases.count else { throw OptimizerError("Adam needs \(ParameterGroup.allCases.count) parameter groups, got \(groups.count)") }
        guard (0..<1).contains(beta1), (0..<1).contains(beta2) else { throw OptimizerError("Adam betas must lie in [0, 1), got (\(beta1), \(beta2))") }
        guard epsilon >= 0 else { throw OptimizerError("Adam eps must not be negative, got \(epsilon)") }
        self.groups = groups
        self.beta1 = beta1; self.beta2 = beta2; self.epsilon = epsilon
        self.weightDecayStyle = weightDecayStyle
        firstMoments = Array(repeating: [], count: parameterCount)
        secondMoments = Array(repeating: [], count: parameterCount)
        stepCounts = Array(repeating: 0, count: parameterCount)
    }

    public var state: OptimizerState { OptimizerState(slots: ["exp_avg": firstMoments, "exp_avg_sq": secondMoments], steps: stepCounts) }

    public mutating func restore(_ state: OptimizerState) throws {
        guard state.steps.count == stepCounts.count else { throw OptimizerError("the saved optimizer state has no step count for each of the \(stepCounts.count) parameters") }
        firstMoments = try state.slot("exp_avg", like: firstMoments)
        secondMoments = try state.slot("exp_avg_sq", like: secondMoments)
        stepCounts = state.steps
    }

    public mutating func step(_ store: inout ParameterStore) {
        precondition(stepCounts.count == store.parameters.count, "AdamOptimizer was made for another parameter store")
        let decoupled = weightDecayStyle == .decoupled
        let firstWeight = Float(1 - beta1), b2 = Float(beta2), oneMinusB2 = Float(1 - beta2), eps = Float(epsilon)
        for index in store.parameters.indices where !store.parameters[index].isFrozen {
            let settings = groups[store.parameters[index].group.rawValue]
            let count = store.parameters[index].values.count
            if stepCounts[index] == 0 {
                firstMoments[index] = [Float](repeating: 0, count: count)
                secondMoments[index] = [Float](repeating: 0, count: count)
            }
            stepCounts[index] += 1
            let t = Double(stepCounts[index])
            let lr = settings.learningRate, weightDecay = settings.weightDecay
            // Scalars as torch computes them: in double, then handed to the float32 kernels.
            let shrink = Float(1 - lr * weightDecay)
            let l2 = decoupled ? 0 : Float(weightDecay)
            let negativeStepSize = Float(-(lr / (1 - pow(beta1, t))))
            let secondCorrection = Float(pow(1 - pow(beta2, t), 0.5))
            store.parameters[index].withValuesAndGradient { p, g in
                firstMoments[index].withUnsafeMutableBufferPointer { m in
                    secondMoments[index].withUnsafeMutableBufferPointer { v in
                        if decoupled, weightDecay != 0 {
                            for i in 0..<count { p[i] = p[i] * shrink }
                        }
                        for i in 0..<count {
                            let d = l2 != 0 ? g[i] + l2 * p[i] : g[i]
                            let mi = torchLerp(m[i], d, weight: firstWeight)
                            m[i] = mi
                            let vi = v[i] * b2 + oneMinusB2 * d * d
                            v[i] = vi
                            let denominator = vi.squareRoot() / secondCorrection + eps
                            p[i] = p[i] + negativeStepSize * mi / denominator
                        }
                    }
                }
            }
        }
    }
}

/// torch's lerp(start, end, weight) in float32: `start + w·(end − start)` for |w| < 0.5, else
/// `end − (end − start)·(1 − w)`, which keeps both ends exact.
@inline(__always)
func torchLerp(_ start: Float, _ end: Float, weight: Float) -> Float {
    abs(weight) < 0.5 ? start + weight * (end - start) : end - (end - start) * (1 - weight)
}
