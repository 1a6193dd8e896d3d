/// torch.optim.RMSprop (alpha 0.99, eps 1e-8, not centered), as build_optimizer makes it for "RMSprop":
/// lr and momentum, weight decay on pg0 added to the gradient.
///
/// Per parameter with a gradient, in torch's order:
///   d = g + wd·p                      (only when wd ≠ 0)
///   s = α·s + (1 − α)·d·d
///   a = √s + eps
///   momentum > 0: b = m·b + d / a, p = p − lr·b   (b starts at zeros)
///   otherwise:    p = p − lr·d / a
public struct RMSPropOptimizer: ParameterOptimizer {
    public var groups: [OptimizerGroupSettings]
    public let alpha: Double
    public let epsilon: Double
    /// Square averages and momentum buffers by parameter index (zeros from the first step on).
    public private(set) var squareAverages: [[Float]]
    public private(set) var momentumBuffers: [[Float]]

    public init(groups: [OptimizerGroupSettings], alpha: Double = 0.99, epsilon: Double = 1e-8, parameterCount: Int) throws {
        guard groups.count == ParameterGroup.allCases.count else { throw OptimizerError("RMSprop needs \(ParameterGroup.allCases.count) parameter groups, got \(groups.count)") }
        guard alpha >= 0, epsilon >= 0 else { throw OptimizerError("RMSprop alpha and eps must not be negative, got \(alpha), \(epsilon)") }
        self.groups = groups
        self.alpha = alpha; self.epsilon = epsilon
        squareAverages = Array(repeating: [], count: parameterCount)
        momentumBuffers = Array(repeating: [], count: parameterCount)
    }

    public var state: OptimizerState { OptimizerState(slots: ["square_avg": squareAverages, "momentum": momentumBuffers]) }

    public mutating func restore(_ state: OptimizerState) throws {
        squareAverages = try state.slot("square_avg", like: squareAverages)
        momentumBuffers = try state.slot("momentum", like: momentumBuffers)
    }

    public mutating func step(_ store: inout ParameterStore) {
        precondition(squareAverages.count == store.parameters.count, "RMSPropOptimizer was made for another parameter store")
        let a = Float(alpha), oneMinusA = Float(1 - alpha), eps = Float(epsilon)
        for index in store.parameters.indices where !store.parameters[index].isFrozen {
            let (lr, momentum, weightDecay) = floatSettings(for: store.parameters[index].group)
            let negativeLR = -lr
            let count = store.parameters[index].values.count
            if squareAverages[index].isEmpty {
                squareAverages[index] = [Float](repeating: 0, count: count)
                momentumBuffers[index] = [Float](repeating: 0, count: count)
            }
            store.parameters[index].withValuesAndGradient { p, g in
                squareAverages[index].withUnsafeMutableBufferPointer { s in
                    momentumBuffers[index].withUnsafeMutableBufferPointer { b in
                        for i in 0..<count {
                            let d = weightDecay != 0 ? g[i] + weightDecay * p[i] : g[i]
                            let si = s[i] * a + oneMinusA * d * d
                            s[i] = si
                            let average = si.squareRoot() + eps
                            if momentum > 0 {
                                let bi = b[i] * momentum + d / average
                                b[i] = bi
                                p[i] = p[i] + negativeLR * bi
                            } else {
                                p[i] = p[i] + negativeLR * d / average
                            }
                        }
                    }
                }
            }
        }
    }
}
