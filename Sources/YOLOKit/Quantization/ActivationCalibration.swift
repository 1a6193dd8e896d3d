import Foundation

/// How a calibrated activation range is chosen from what the calibration images produced.
public enum CalibrationMethod: String, CaseIterable, Sendable {
    /// The smallest and largest value seen.
    case minmax
    /// The 0.01 % and 99.99 % quantiles of the values seen (outliers clip).
    case percentile
    /// The upper end that minimizes the KL divergence between the histogram and its 256-level quantization
    /// (TensorRT's entropy calibration; the lower end stays at the minimum).
    case entropy
}

/// Collects, for the input of each candidate convolution of a model, what the calibration images produce: the range
/// (first pass, `observeRange`), then a histogram of `bins` bins over that range (second pass, `observeHistogram`;
/// only `percentile` and `entropy` need it). Convs are named by their folded weight buffer (as in `Int8Plan`), so the
/// images may have any size; a tensor several convs read is measured once.
public final class ActivationCalibration {
    public static let bins = 2048
    public static let percentile = 0.9999

    let model: any DetectionModel
    private let candidates: [ObjectIdentifier: ConvolutionLayer]
    private var minimum: [ObjectIdentifier: Float] = [:]
    private var maximum: [ObjectIdentifier: Float] = [:]
    private var histograms: [ObjectIdentifier: [Double]] = [:]
    public private(set) var images = 0

    /// `candidates`: the convs whose inputs are measured (convs of `model`'s networks).
    public init(model: any DetectionModel, candidates: [ConvolutionLayer]) {
        self.model = model
        var byWeights: [ObjectIdentifier: ConvolutionLayer] = [:]
        for conv in candidates { byWeights[ObjectIdentifier(conv.weights)] = conv }
        self.candidates = byWeights
    }

    /// First pass: widens each conv input's range with `image` (letterboxed as predict places it).
    public func observeRange(_ image: RGBImage, options: ExecutionOptions) {
        images += 1
        run(image, options: options) { keys, values, count in
            var low = Float.infinity, high = -Float.infinity
            for i in 0..<count { let v = values[i]; if v.isFinite { low = min(low, v); high = max(high, v) } }
            for key in keys {
                minimum[key] = min(minimum[key] ?? .infinity, low)
                maximum[key] = max(maximum[key] ?? -.infinity, high)
            }
        }
    }

    /// Second pass: adds `image`'s values to each conv input's histogram over the first pass's range (values
    /// outside it — a second pass on other images — count in the end bins).
    public func observeHistogram(_ image: RGBImage, options: ExecutionOptions) {
        let bins = Self.bins
        run(image, options: options) { keys, values, count in
            for key in keys {
                guard let low = minimum[key], let high = maximum[key], high > low else { continue }
                var histogram = histograms[key] ?? [Double](repeating: 0, count: bins)
                let scale = Float(bins) / (high - low)
                histogram.withUnsafeMutableBufferPointer { h in
                    for i in 0..<count {
                        let v = values[i]
                        guard v.isFinite else { continue }
                        h[min(bins - 1, max(0, Int((v - low) * scale)))] += 1
                    }
                }
                histograms[key] = histogram
            }
        }
    }

    /// The plan with every candidate conv in int8, its input range chosen by `method`.
    public func plan(_ method: CalibrationMethod) throws -> Int8Plan {
        guard images > 0 else { throw QuantizationError("no calibration images were run") }
        var plan = Int8Plan()
        for (key, conv) in candidates {
            guard let low = minimum[key], let high = maximum[key], low <= high else {
                throw QuantizationError("a convolution's input was never observed during calibration")
            }
            let range = method == .minmax ? (low, high) : Self.range(method, histogram: histograms[key], low: low, high: high)
            try plan.set(conv, input: try ActivationQuantization(min: range.0, max: range.1))
        }
        return plan
    }

    /// The observed range of `conv`'s input (nil when not observed).
    public func observedRange(_ conv: ConvolutionLayer) -> (min: Float, max: Float)? {
        let key = ObjectIdentifier(conv.weights)
        guard let low = minimum[key], let high = maximum[key] else { return nil }
        return (low, high)
    }

    // MARK: - Ranges from a histogram

    /// `method`'s range from a histogram of `bins` bins over [low, high] (nil or empty: [low, high]).
    static func range(_ method: CalibrationMethod, histogram: [Double]?, low: Float, high: Float) -> (Float, Float) {
        guard let h = histogram, high > low else { return (low, high) }
        let total = h.reduce(0, +)
        guard total > 0 else { return (low, high) }
        let width = (high - low) / Float(h.count)
        switch method {
        case .minmax:
            return (low, high)
        case .percentile:
            let tail = total * (1 - percentile)
            var below = 0.0, first = 0
            while first < h.count - 1 && below + h[first] <= tail { below += h[first]; first += 1 }
            var above = 0.0, last = h.count - 1
            while last > first && above + h[last] <= tail { above += h[last]; last -= 1 }
            return (first == 0 ? low : low + Float(first) * width, last == h.count - 1 ? high : low + Float(last + 1) * width)
        case .entropy:
            let end = entropyEnd(h)
            return (low, end == h.count ? high : low + Float(end) * width)
        }
    }

    /// The number of leading bins to keep: among candidates from 256 bins up, the one whose clipped histogram P
    /// (outliers added to its last bin) is closest in KL divergence to Q, P's mass merged into 255 equal groups and
    /// spread back evenly over each group's non-empty bins.
    static func entropyEnd(_ h: [Double]) -> Int {
        let levels = 255
        guard h.count > levels else { return h.count }
        var suffix = [Double](repeating: 0, count: h.count + 1)
        for i in stride(from: h.count - 1, through: 0, by: -1) { suffix[i] = suffix[i + 1] + h[i] }
        var best = h.count, bestDivergence = Double.infinity
        for end in stride(from: levels + 1, through: h.count, by: 8) {
            var p = Array(h[0..<end])
            p[end - 1] += suffix[end]
            var q = [Double](repeating: 0, count: end)
            for level in 0..<levels {
                let lo = level * end / levels, hi = (level + 1) * end / levels
                guard hi > lo else { continue }
                var mass = 0.0, nonEmpty = 0
                for i in lo..<hi { mass += h[i]; if h[i] > 0 { nonEmpty += 1 } }
                guard nonEmpty > 0 else { continue }
                for i in lo..<hi where h[i] > 0 { q[i] = mass / Double(nonEmpty) }
            }
            let pTotal = p.reduce(0, +), qTotal = q.reduce(0, +)
            guard pTotal > 0, qTotal > 0 else { continue }
            var divergence = 0.0
            for i in 0..<end where p[i] > 0 {
                let pi = p[i] / pTotal, qi = max(q[i] / qTotal, 1e-12)
                divergence += pi * log(pi / qi)
            }
            if divergence < bestDivergence { bestDivergence = divergence; best = end }
        }
        return best
    }

    // MARK: - Running the network

    /// Runs `image` through `model`'s fp32 network; `measure(keys, values, count)` gets each tensor that candidate
    /// convs read (the network input before the pass, a node's output right after the node ran).
    private func run(_ image: RGBImage, options: ExecutionOptions,
                     _ measure: ([ObjectIdentifier], UnsafePointer<Float>, Int) -> Void) {
        let network = model.network(for: model.inputShape(imageWidth: image.width, imageHeight: image.height))
        var readers: [Int: [ObjectIdentifier]] = [:]
        for node in network.nodes {
            guard let conv = node.layer as? ConvolutionLayer, candidates[ObjectIdentifier(conv.weights)] != nil else { continue }
            readers[node.inputs[0], default: []].append(ObjectIdentifier(conv.weights))
        }
        _ = model.placeImage(image, into: network.input)
        if let keys = readers[Network.inputIndex] { measure(keys, network.input.pointer, network.input.shape.count) }
        network.forward(options) { index, _ in
            guard let keys = readers[index] else { return }
            let output = network.nodes[index].output
            measure(keys, output.pointer, output.shape.count)
        }
    }
}
