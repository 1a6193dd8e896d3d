/// How much replacing one conv by its factored pair changes what the detection heads read, on calibration images:
/// for each replacement alone, Σ‖Δ‖² of every head input over the images, divided by that input's own variance
/// (about its per-channel means, summed over the images), averaged over the head inputs — so the box branch (64
/// channels) and the class branch (a few) weigh alike. 0: no change; 1: an error as large as the signal.
enum OutputSensitivity {
    /// `replacements`: a conv node and the two layers (`FactoredPair.layers`) that stand in for it; `inputs`: tensors
    /// of the network's input shape. One forward pass per image for the reference, then one per image and replacement
    /// (the pair runs on the conv's input inside `forward(observe:)` and overwrites the conv's output).
    static func errors(_ net: CompressibleNetwork, replacements: [(node: Int, layers: [ConvolutionLayer])], inputs: [FeatureMap],
                       execution: ExecutionOptions) -> [Double] {
        let network = net.network, heads = LowRankFactorization.headInputs(network)
        guard !heads.isEmpty, !replacements.isEmpty else { return replacements.map { _ in 0 } }
        let gemm = execution.gemm
        var reference: [[Int: [Float]]] = [], variance: [Int: Double] = [:]
        for input in inputs {
            network.input.pointer.update(from: input.pointer, count: network.input.shape.count)
            var kept: [Int: [Float]] = [:]
            network.forward(gemm: gemm, threads: execution.threads) { i, _ in
                guard heads.contains(i) else { return }
                let map = network.nodes[i].output, plane = map.shape.planeSize
                kept[i] = Array(UnsafeBufferPointer(start: map.pointer, count: map.shape.count))
                var sum = 0.0
                for c in 0..<map.shape.channels {
                    var s = 0.0, s2 = 0.0
                    for p in 0..<plane { let v = Double(map.pointer[c * plane + p]); s += v; s2 += v * v }
                    sum += s2 - s * s / Double(max(plane, 1))
                }
                variance[i, default: 0] += sum
            }
            reference.append(kept)
        }
        let workspace = replacements.flatMap(\.layers).map(\.workspaceSize).max() ?? 1
        let context = ExecutionContext(gemm: gemm, threads: execution.threads, workspace: FloatBuffer(count: max(1, workspace)))
        return replacements.map { replacement in
            let between = FeatureMap(shape: replacement.layers[0].outputShape)
            var squared: [Int: Double] = [:]
            for (k, input) in inputs.enumerated() {
                network.input.pointer.update(from: input.pointer, count: network.input.shape.count)
                network.forward(gemm: gemm, threads: execution.threads) { i, _ in
                    let node = network.nodes[i]
                    if i == replacement.node {
                        replacement.layers[0].forward(node.inputMaps, into: between, context: context)
                        replacement.layers[1].forward([between], into: node.output, context: context)
                    }
                    guard heads.contains(i), let base = reference[k][i] else { return }
                    var sum = 0.0
                    for p in 0..<base.count { let d = Double(node.output.pointer[p] - base[p]); sum += d * d }
                    squared[i, default: 0] += sum
                }
            }
            let ratios = heads.map { h in (squared[h] ?? 0) / max(variance[h] ?? 0, 1e-30) }
            return ratios.reduce(0, +) / Double(ratios.count)
        }
    }
}
