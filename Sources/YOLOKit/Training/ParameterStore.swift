/// What kind of module a parameter belongs to: all Ultralytics' parameter-group rule needs
/// (`BaseTrainer.build_optimizer`). The caller knows its modules, so names are never parsed.
public enum ParameterKind: String, CaseIterable, Sendable {
    /// A conv / linear weight: decayed.
    case weight
    /// Any bias, a BatchNorm's included: no decay (Ultralytics tests for "bias" before it tests the module).
    case bias
    /// The weight of a normalization module (every torch.nn class with "Norm" in its name: BatchNorm2d,
    /// LayerNorm, GroupNorm…), or a `logit_scale`: no decay.
    case normalizationWeight
}

/// The optimizer's parameter groups, in torch's `param_groups` order as build_optimizer makes them.
public enum ParameterGroup: Int, CaseIterable, Sendable {
    /// pg0: weights with weight decay.
    case decayedWeights = 0
    /// pg1: normalization weights, weight decay 0.
    case normalizationWeights = 1
    /// pg2: biases, weight decay 0; the only group whose warmup starts at `warmup_bias_lr`.
    case biases = 2

    public init(kind: ParameterKind) {
        switch kind {
        case .weight: self = .decayedWeights
        case .normalizationWeight: self = .normalizationWeights
        case .bias: self = .biases
        }
    }
}

/// One named parameter: its values and the gradient that backward passes accumulate into.
public struct TrainableParameter: Sendable {
    /// The state-dict name, e.g. "model.2.cv1.conv.weight".
    public let name: String
    public let shape: [Int]
    public let kind: ParameterKind
    public let group: ParameterGroup
    /// `requires_grad == False` (Ultralytics freezes every ".dfl" parameter and the `freeze` layers): it has no
    /// gradient, is left out of clipping and of the optimizer step, and the EMA still averages it.
    public let isFrozen: Bool
    /// Row-major values, `shape.reduce(1, *)` of them.
    public internal(set) var values: [Float]
    /// Same length as `values` (empty when frozen); zero after `zeroGradients()`.
    public internal(set) var gradient: [Float]

    /// The values (mutable) and the gradient (read-only) at once, for the update loops.
    mutating func withValuesAndGradient<R>(_ body: (UnsafeMutableBufferPointer<Float>, UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        try values.withUnsafeMutableBufferPointer { v in try gradient.withUnsafeBufferPointer { g in try body(v, g) } }
    }
}

/// A floating-point state-dict entry that is not a parameter: BatchNorm's running_mean / running_var.
/// (Integer buffers such as num_batches_tracked are not averaged by the EMA and do not belong here.)
public struct StateBuffer: Sendable {
    public let name: String
    public let shape: [Int]
    public internal(set) var values: [Float]
}

/// A model's named parameters with their gradients and groups, and its float buffers: the value-based interface
/// between the layers (which read values and accumulate gradients) and the optimizer, clipping and EMA code.
public struct ParameterStore: Sendable {
    /// A parameter as the caller describes it.
    public struct ParameterSpec: Sendable {
        public var name: String
        public var shape: [Int]
        public var kind: ParameterKind
        public var isFrozen: Bool
        public var values: [Float]

        public init(name: String, shape: [Int], kind: ParameterKind, isFrozen: Bool = false, values: [Float]) {
            self.name = name; self.shape = shape; self.kind = kind; self.isFrozen = isFrozen; self.values = values
        }
    }

    public internal(set) var parameters: [TrainableParameter]
    public private(set) var buffers: [StateBuffer]
    private let indexByName: [String: Int]

    /// Parameters in the model's order (named_parameters), buffers in theirs. Throws on a shape that the values
    /// do not fill, or a name used twice.
    public init(parameters specs: [ParameterSpec], buffers bufferSpecs: [(name: String, shape: [Int], values: [Float])] = []) throws {
        var seen = Set<String>()
        for (name, shape, count) in specs.map({ ($0.name, $0.shape, $0.values.count) }) + bufferSpecs.map({ ($0.name, $0.shape, $0.values.count) }) {
            guard seen.insert(name).inserted else { throw OptimizerError("the tensor name \"\(name)\" is used twice") }
            try Self.checkShape(shape, count: count, name: name)
        }
        parameters = specs.map {
            TrainableParameter(name: $0.name, shape: $0.shape, kind: $0.kind, group: ParameterGroup(kind: $0.kind),
                               isFrozen: $0.isFrozen, values: $0.values,
                               gradient: $0.isFrozen ? [] : [Float](repeating: 0, count: $0.values.count))
        }
        buffers = bufferSpecs.map { StateBuffer(name: $0.name, shape: $0.shape, values: $0.values) }
        indexByName = Dictionary(uniqueKeysWithValues: parameters.enumerated().map { ($1.name, $0) })
    }

    private static func checkShape(_ shape: [Int], count: Int, name: String) throws {
        var product = 1
        for extent in shape {
            let (next, overflow) = product.multipliedReportingOverflow(by: extent)
            guard extent >= 0, !overflow else { throw OptimizerError("\"\(name)\" has an invalid shape \(shape)") }
            product = next
        }
        guard product == count else {
            throw OptimizerError("\"\(name)\" has shape \(shape) (\(product) values) but \(count) values were given")
        }
    }

    /// Index of the parameter named `name` in `parameters`.
    public func parameterIndex(named name: String) -> Int? { indexByName[name] }

    /// Adds `gradient` into parameter `index`'s gradient, as a backward pass accumulates into `.grad`.
    public mutating func accumulateGradient(_ gradient: [Float], intoParameterAt index: Int) throws {
        // Read fields one by one: a copy of the whole parameter would share the gradient's storage and make the
        // write below copy it.
        let name = parameters[index].name, count = parameters[index].values.count
        guard !parameters[index].isFrozen else { throw OptimizerError("\"\(name)\" is frozen and takes no gradient") }
        guard gradient.count == count else {
            throw OptimizerError("gradient for \"\(name)\" has \(gradient.count) values, the parameter \(count)")
        }
        parameters[index].gradient.withUnsafeMutableBufferPointer { g in
            gradient.withUnsafeBufferPointer { add in for i in 0..<g.count { g[i] += add[i] } }
        }
    }

    /// Parameter `index`'s gradient for a backward pass to write or add into in place (empty when frozen).
    public mutating func withGradient<R>(ofParameterAt index: Int, _ body: (UnsafeMutableBufferPointer<Float>) throws -> R) rethrows -> R {
        try parameters[index].gradient.withUnsafeMutableBufferPointer { try body($0) }
    }

    /// Replaces parameter `index`'s values (a checkpoint load, a test).
    public mutating func setValues(_ values: [Float], ofParameterAt index: Int) throws {
        guard values.count == parameters[index].values.count else {
            throw OptimizerError("\"\(parameters[index].name)\" holds \(parameters[index].values.count) values, \(values.count) were given")
        }
        parameters[index].values = values
    }

    /// Replaces buffer `index`'s values: what a training-mode BatchNorm forward leaves in running_mean / var.
    public mutating func setValues(_ values: [Float], ofBufferAt index: Int) throws {
        guard values.count == buffers[index].values.count else {
            throw OptimizerError("\"\(buffers[index].name)\" holds \(buffers[index].values.count) values, \(values.count) were given")
        }
        buffers[index].values = values
    }

    /// `optimizer.zero_grad()`: every gradient back to 0 (torch sets them to None; the next backward then starts
    /// from nothing, which is what adding into zeros gives).
    public mutating func zeroGradients() {
        for index in parameters.indices where !parameters[index].isFrozen {
            parameters[index].gradient.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
        }
    }

    /// Runs `body` on every trainable parameter's values and gradient, with its index.
    mutating func forEachTrainable(_ body: (Int, UnsafeMutableBufferPointer<Float>, UnsafeBufferPointer<Float>) -> Void) {
        for index in parameters.indices where !parameters[index].isFrozen {
            parameters[index].withValuesAndGradient { body(index, $0, $1) }
        }
    }

    /// Mutable access to every trainable gradient (clipping).
    mutating func forEachTrainableGradient(_ body: (UnsafeMutableBufferPointer<Float>) -> Void) {
        for index in parameters.indices where !parameters[index].isFrozen {
            parameters[index].gradient.withUnsafeMutableBufferPointer { body($0) }
        }
    }
}
