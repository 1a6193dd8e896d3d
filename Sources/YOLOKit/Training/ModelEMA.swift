import Foundation

/// Ultralytics' ModelEMA (utils/torch_utils.py): an exponential moving average of every floating-point state-dict
/// entry, parameters and BatchNorm running statistics alike, with the decay ramped up from 0:
///   d(n) = decay · (1 − exp(−n / tau)),  n = number of updates so far (1 at the first update)
///   ema  = lerp(ema, model, 1 − d)       (torch._foreach_lerp_, float32)
/// Created as a copy of the model (BaseTrainer._setup_train, after the weights are loaded); updated after every
/// optimizer step. Frozen parameters are averaged too (they do not change, so neither does their average).
public struct ModelEMA: Sendable {
    public let maximumDecay: Double
    public let tau: Double
    public private(set) var updates: Int
    /// Averaged values, index for index with the store's `parameters` and `buffers`.
    public private(set) var parameterValues: [[Float]]
    public private(set) var bufferValues: [[Float]]

    public init(copying store: ParameterStore, decay: Double = 0.9999, tau: Double = 2000, updates: Int = 0) {
        maximumDecay = decay
        self.tau = tau
        self.updates = updates
        parameterValues = store.parameters.map(\.values)
        bufferValues = store.buffers.map(\.values)
    }

    /// d(n), the weight the average keeps at update n.
    public func decay(atUpdate n: Int) -> Double { maximumDecay * (1 - exp(-Double(n) / tau)) }

    /// One update from the model's current values. Throws when `store` is laid out unlike the one copied.
    public mutating func update(from store: ParameterStore) throws {
        guard isLaidOut(like: store) else {
            throw OptimizerError("the EMA was made from a model with other tensors than the one it is updated from")
        }
        updates += 1
        let weight = Float(1 - decay(atUpdate: updates))
        for index in parameterValues.indices { Self.lerp(&parameterValues[index], toward: store.parameters[index].values, weight: weight) }
        for index in bufferValues.indices { Self.lerp(&bufferValues[index], toward: store.buffers[index].values, weight: weight) }
    }

    /// Whether `store` has as many parameters and buffers as the copied model, each of the same size.
    public func isLaidOut(like store: ParameterStore) -> Bool {
        store.parameters.count == parameterValues.count && store.buffers.count == bufferValues.count
            && zip(store.parameters, parameterValues).allSatisfy { $0.values.count == $1.count }
            && zip(store.buffers, bufferValues).allSatisfy { $0.values.count == $1.count }
    }

    private static func lerp(_ average: inout [Float], toward model: [Float], weight: Float) {
        average.withUnsafeMutableBufferPointer { e in
            model.withUnsafeBufferPointer { m in
                for i in 0..<e.count { e[i] = torchLerp(e[i], m[i], weight: weight) }
            }
        }
    }
}
