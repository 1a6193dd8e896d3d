/// torch.optim.SGD (dampening 0, not maximizing), as build_optimizer makes it for "SGD": Nesterov on.
///
/// Per parameter with a gradient, in torch's order (each line one float32 tensor op):
///   d = g + wd·p                      (only when wd ≠ 0)
///   b = d on the first step, else b = m·b + d
///   u = d + m·b (Nesterov) or u = b
///   p = p − lr·u
/// With momentum 0 there is no buffer and u = d.
public struct SGDOptimizer: ParameterOptimizer {
    public var groups: [OptimizerGroupSettings]
    public let nesterov: Bool
    /// Momentum buffers by parameter index; empty until the parameter's first step (torch creates them there).
    public private(set) var momentumBuffers: [[Float]]

    /// Throws, as torch does, for Nesterov without momentum.
    public init(groups: [OptimizerGroupSettings], nesterov: Bool, parameterCount: Int) throws {
        guard groups.count == ParameterGroup.allCases.count else { throw OptimizerError("SGD needs \(ParameterGroup.allCases.count) parameter groups, got \(groups.count)") }
        if nesterov, groups.contains(where: { ($0.momentum ?? 0) <= 0 }) {
            throw OptimizerError("Nesterov momentum requires a momentum above 0")
        }
        self.groups = groups
        self.nesterov = nesterov
        momentumBuffers = Array(repeating: [], count: parameterCount)
    }

    public var state: OptimizerState { OptimizerState(slots: ["momentum": momentumBuffers]) }

    public mutating func restore(_ state: OptimizerState) throws {
        momentumBuffers = try state.slot("momentum", like: momentumBuffers)
    }

    public mutating func step(_ store: inout ParameterStore) {
        precondition(momentumBuffers.count == store.parameters.count, "SGDOptimizer was made for another parameter store")
        let nesterov = nesterov
        for index in store.parameters.indices where !store.parameters[index].isFrozen {
            let (lr, momentum, weightDecay) = floatSettings(for: store.parameters[index].group)
            let negativeLR = -lr
            let count = store.parameters[index].values.count
            let firstStep = momentumBuffers[index].isEmpty
            if momentum != 0, firstStep { momentumBuffers[index] = [Float](repeating: 0, count: count) }
            store.parameters[index].withValuesAndGradient { p, g in
                if momentum == 0 {
                    for i in 0..<count {
                        let d = weightDecay != 0 ? g[i] + weightDecay * p[i] : g[i]
                        p[i] = p[i] + negativeLR * d
                    }
                    return
                }
                momentumBuffers[index].withUnsafeMutableBufferPointer { b in
                    for i in 0..<count {
                        let d = weightDecay != 0 ? g[i] + weightDecay * p[i] : g[i]
                        let buffer = firstStep ? d : b[i] * momentum + d
                        b[i] = buffer
                        let u = nesterov ? d + momentum * buffer : buffer
                        p[i] = p[i] + negativeLR * u
                    }
                }
            }
        }
    }
}
