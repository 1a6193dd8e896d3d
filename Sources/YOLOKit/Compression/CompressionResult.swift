/// One convolution's output channels before and after pruning, or its full rank and the rank it got.
public struct CompressedLayer: Sendable, Equatable {
    /// The conv's weight tensor name without `.weight` ("model.2.cv1.conv", "layers.4.conv").
    public let name: String
    public let before: Int
    public let after: Int
    /// Low-rank with the measured cost rule: the conv's milliseconds, and its pair's (the one used, or the one
    /// rejected as too slow).
    public var originalMilliseconds: Double? = nil
    public var factoredMilliseconds: Double? = nil
    /// Low-rank: why a conv was left alone, or the estimated output error a factored one adds.
    public var note: String? = nil
}

/// What `prune` / `factorize` wrote: the safetensors file (loadable by `--model` alone) and what changed per conv.
public struct CompressionResult: Sendable {
    public let path: String
    public let layers: [CompressedLayer]
    public let fileSize: Int
}

/// A compression that cannot be done on this model (or with these settings), with the reason.
public struct CompressionError: Error, CustomStringConvertible {
    public let reason: String
    public var description: String { reason }
}
