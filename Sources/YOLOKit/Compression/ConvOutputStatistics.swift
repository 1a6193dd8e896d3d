import Foundation

/// Mean and covariance of one convolution's output before bias and activation, y = W_f·x with the BatchNorm folded
/// into W_f (what the network computes), over every output position of the calibration images. Data-aware low-rank
/// factorization keeps the principal subspace of this covariance instead of the weights' own.
struct ConvOutputStatistics {
    /// E[y], [Cout].
    let mean: [Double]
    /// E[(y − E[y])(y − E[y])ᵀ], row-major [Cout × Cout].
    let covariance: [Double]
    /// Output positions summed (images × outH × outW).
    let samples: Int

    /// Runs `net` on each of `inputs` (tensors of the network's input shape) and gathers the statistics of the
    /// conv nodes in `nodes`. Each conv is run a second time with no bias and no activation on the input the network
    /// gave it (read in `forward(observe:)`, before a later node can reuse that buffer).
    static func collect(_ net: CompressibleNetwork, nodes: Set<Int>, inputs: [FeatureMap], execution: ExecutionOptions) -> [Int: ConvOutputStatistics] {
        let network = net.network
        var linear: [Int: ConvolutionLayer] = [:]
        var sums: [Int: (first: [Double], second: [Double])] = [:], positions: [Int: Int] = [:]
        var workspace = 0
        for i in nodes {
            guard let conv = net.conv(i) else { continue }
            let copy = ConvolutionLayer(inputShape: conv.inputShape, filters: conv.filters, size: conv.size, stride: conv.stride, pad: conv.pad,
                                        groups: conv.groups, activation: .linear, weights: conv.weights,
                                        bias: FloatBuffer(count: conv.filters), winograd: .off)
            linear[i] = copy
            workspace = max(workspace, copy.workspaceSize)
            sums[i] = ([Double](repeating: 0, count: conv.filters), [Double](repeating: 0, count: conv.filters * conv.filters))
        }
        let context = ExecutionContext(gemm: execution.gemm, threads: execution.threads, workspace: FloatBuffer(count: max(1, workspace)))
        for input in inputs {
            network.input.pointer.update(from: input.pointer, count: network.input.shape.count)
            network.forward(gemm: execution.gemm, threads: execution.threads) { i, _ in
                guard let conv = linear[i] else { return }
                let node = network.nodes[i]
                let output = FeatureMap(shape: conv.outputShape)
                conv.forward(node.inputMaps, into: output, context: context)
                let c = conv.filters, hw = conv.outputShape.height * conv.outputShape.width
                // Σ y and Σ y·yᵀ over positions: G = Y[c × hw] · Yᵀ (Yᵀ copied out), in float per image, summed in double.
                let y = output.pointer
                var transposed = [Float](repeating: 0, count: c * hw), gram = [Float](repeating: 0, count: c * c)
                for ch in 0..<c { for p in 0..<hw { transposed[p * c + ch] = y[ch * hw + p] } }
                transposed.withUnsafeBufferPointer { t in
                    gram.withUnsafeMutableBufferPointer { g in
                        execution.gemm.sgemm(m: c, n: c, k: hw, alpha: 1, a: UnsafePointer(y), lda: hw, b: t.baseAddress!, ldb: c,
                                             beta: 0, c: g.baseAddress!, ldc: c)
                    }
                }
                var s = sums[i]!
                for ch in 0..<c {
                    var total = 0.0
                    for p in 0..<hw { total += Double(y[ch * hw + p]) }
                    s.first[ch] += total
                }
                for k in 0..<(c * c) { s.second[k] += Double(gram[k]) }
                sums[i] = s
                positions[i, default: 0] += hw
            }
        }
        var result: [Int: ConvOutputStatistics] = [:]
        for (i, s) in sums {
            let n = Double(max(positions[i] ?? 0, 1)), c = s.first.count
            let mean = s.first.map { $0 / n }
            var covariance = [Double](repeating: 0, count: c * c)
            for a in 0..<c { for b in 0..<c { covariance[a * c + b] = s.second[a * c + b] / n - mean[a] * mean[b] } }
            result[i] = ConvOutputStatistics(mean: mean, covariance: covariance, samples: positions[i] ?? 0)
        }
        return result
    }
}
