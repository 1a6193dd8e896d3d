/// Memory accounting of the Ultralytics graph builder. A checkpoint comes from a stranger: every layer's output and
/// scratch is checked (overflow-free) and, when a budget is set, reserved against `ModelLimits.maxNetworkBytes`
/// before the layer is allocated. The sums also give an estimate at another input size (the model is built once at
/// 64×64 when it loads, and the estimate for 640×640 must fit the limit): outputs grow ∝ H·W, weights stay, and
/// scratch grows ∝ H·W or, for attention scores, ∝ (H·W)².
extension UltralyticsGraphBuilder {
    /// Memory a layer needs besides its output, when it is not just its `workspaceSize` (attention: qᵀ [N, keyDim]
    /// ∝ H·W, scores 2·[N, N] ∝ (H·W)², and a fixed part: the v and pe outputs and pe's own workspace).
    struct ExtraMemory {
        var linear: Int
        var quadratic: Int
        var fixed: Int
    }

    /// Floats of this network at an input with `scale` times as many pixels (saturating).
    func estimatedFloats(scale: Int) -> Int {
        func mul(_ a: Int, _ b: Int) -> Int { NetworkBudget.product(a, b) ?? Int.max }
        func add(_ a: Int, _ b: Int) -> Int { a.addingReportingOverflow(b).overflow ? Int.max : a + b }
        let work = scratch.map { add(mul($0.linear, scale), mul(mul($0.quadratic, scale), scale)) }.max() ?? 0
        return add(add(mul(outputFloats, scale), work), weightFloats)
    }

    /// Appends a layer after checking its sizes (overflow-free) and reserving its memory in the budget.
    /// `isHead`: the Detect head, whose output [4 + nc, 1, anchors] may exceed `maxDimension` in width and by 4 in
    /// channels.
    @discardableResult
    func append(_ layer: any NetworkLayer, inputs: [Int], for m: TorchModule, path p: String,
                isHead: Bool = false, extra: ExtraMemory? = nil) throws -> Int {
        let s = layer.outputShape
        guard s.channels >= 1, s.height >= 1, s.width >= 1,
              s.channels <= limits.maxDimension || (isHead && s.channels <= limits.maxDimension + 4),
              s.height <= limits.maxDimension, s.width <= limits.maxDimension || isHead,
              let count = NetworkBudget.product(s.channels, s.height, s.width) else {
            throw error(m, "\(p): output \(s) is empty or larger than \(limits.maxDimension) per dimension")
        }
        let linear = extra?.linear ?? layer.workspaceSize, quadratic = extra?.quadratic ?? 0, fixed = extra?.fixed ?? 0
        if var b = budget {
            try b.reserve(count, for: "\(p) (\(m.className))")
            try b.reserve(fixed, for: "\(p) (\(m.className))")
            let previous = scratch.map { $0.linear + $0.quadratic }.max() ?? 0
            let (work, overflow) = linear.addingReportingOverflow(quadratic)
            try b.reserve(overflow ? nil : max(0, work - previous), for: "\(p) (\(m.className)) scratch")
            budget = b
        }
        outputFloats += count + fixed
        scratch.append((linear, quadratic))
        return network.append(layer, inputs: inputs)
    }
}
