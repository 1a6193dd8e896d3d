import Foundation

/// How long convolutions take, for `yolo compress`'s measured cost rule: a conv against the factored pair that would
/// replace it, both as the network runs them. A protocol so tests can give known times instead of measuring.
public protocol ConvClock: Sendable {
    /// Milliseconds to run `layers` one after another (each reading the previous one's output, the first an input of
    /// its own input shape) with `execution`'s backend and threads.
    func milliseconds(_ layers: [ConvolutionLayer], execution: ExecutionOptions) -> Double
}

/// The clock `yolo compress` uses: `warmup` untimed runs, then the best of `runs` (the run least disturbed by other
/// work on the machine; the conv's own cost is what decides).
public struct MeasuredConvClock: ConvClock {
    public var warmup: Int
    public var runs: Int

    public init(warmup: Int = 1, runs: Int = 5) {
        self.warmup = max(0, warmup)
        self.runs = max(1, runs)
    }

    public func milliseconds(_ layers: [ConvolutionLayer], execution: ExecutionOptions) -> Double {
        guard let first = layers.first else { return 0 }
        // Values in [0.25, 0.75): the time does not depend on them, only denormals would slow the arithmetic.
        let input = FeatureMap(shape: first.inputShape)
        for i in 0..<first.inputShape.count { input.pointer[i] = 0.25 + Float(i % 97) / 194 }
        let outputs = layers.map { FeatureMap(shape: $0.outputShape) }
        let context = ExecutionContext(gemm: execution.gemm, threads: execution.threads,
                                       workspace: FloatBuffer(count: max(1, layers.map(\.workspaceSize).max() ?? 1)))
        func once() {
            var x = input
            for (layer, y) in zip(layers, outputs) {
                layer.forward([x], into: y, context: context)
                x = y
            }
        }
        for _ in 0..<warmup { once() }
        var best = Double.infinity
        for _ in 0..<runs {
            let start = DispatchTime.now().uptimeNanoseconds
            once()
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
        }
        return best
    }
}

/// The two convs a factored conv runs as — k×k Cin → r (same stride and padding, no bias, linear), then 1×1 r → Cout
/// (the original's bias and activation) — built as the network loaded from the written file builds them (same
/// Winograd policy). Weights as the network runs them (BatchNorm folded in): [r, Cin·k·k] and [Cout, r].
enum FactoredPair {
    static func layers(replacing conv: ConvolutionLayer, rank r: Int, first: FloatBuffer, second: FloatBuffer, bias: FloatBuffer,
                       winograd: WinogradPolicy) -> [ConvolutionLayer] {
        let a = ConvolutionLayer(inputShape: conv.inputShape, filters: r, size: conv.size, stride: conv.stride, pad: conv.pad, groups: 1,
                                 activation: .linear, weights: first, bias: FloatBuffer(count: r), winograd: winograd)
        let b = ConvolutionLayer(inputShape: a.outputShape, filters: conv.filters, size: 1, stride: 1, pad: 0, groups: 1,
                                 activation: conv.activation, weights: second, bias: bias, winograd: winograd)
        return [a, b]
    }

    /// The pair's shapes with placeholder weights, for timing.
    static func timingLayers(replacing conv: ConvolutionLayer, rank r: Int, winograd: WinogradPolicy) -> [ConvolutionLayer] {
        let columns = conv.inputShape.channels * conv.size * conv.size
        func filled(_ count: Int, _ value: Float) -> FloatBuffer { FloatBuffer([Float](repeating: value, count: count)) }
        return layers(replacing: conv, rank: r, first: filled(r * columns, 1 / Float(columns)), second: filled(conv.filters * r, 1 / Float(r)),
                      bias: filled(conv.filters, 0), winograd: winograd)
    }
}
