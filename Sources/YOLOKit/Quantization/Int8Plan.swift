/// Which convolutions of a model run in int8, and how each one's input is quantized. A conv is named by its folded
/// fp32 weight buffer, which every network the model builds shares (Ultralytics: one per input size; Darknet: one),
/// so one plan serves every input size. The plan holds the buffers (they outlive any network built from them).
public struct Int8Plan {
    struct Entry {
        let weights: FloatBuffer
        let input: ActivationQuantization
    }
    private(set) var entries: [ObjectIdentifier: Entry] = [:]

    public init() {}

    /// Runs `conv` in int8 with its input quantized as `input` (nil: fp32). Throws for a grouped conv (it stays fp32).
    public mutating func set(_ conv: ConvolutionLayer, input: ActivationQuantization?) throws {
        guard let input else { entries[ObjectIdentifier(conv.weights)] = nil; return }
        guard conv.groups == 1 else { throw QuantizationError("a grouped convolution (groups \(conv.groups)) cannot run in int8") }
        entries[ObjectIdentifier(conv.weights)] = Entry(weights: conv.weights, input: input)
    }

    /// The input quantization of `conv` when it runs in int8.
    public func input(for conv: ConvolutionLayer) -> ActivationQuantization? { entries[ObjectIdentifier(conv.weights)]?.input }

    /// Convolutions that run in int8.
    public var count: Int { entries.count }

    /// The plan without `conv` (it runs in fp32).
    public func removing(_ conv: ConvolutionLayer) -> Int8Plan {
        var copy = self
        copy.entries[ObjectIdentifier(conv.weights)] = nil
        return copy
    }

    /// The plan with only `conv` (for the sensitivity pass), or empty when `conv` is not in it.
    public func only(_ conv: ConvolutionLayer) -> Int8Plan {
        var single = Int8Plan()
        single.entries[ObjectIdentifier(conv.weights)] = entries[ObjectIdentifier(conv.weights)]
        return single
    }
}
