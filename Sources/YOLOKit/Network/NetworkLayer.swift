/// What every layer gets at run time: the GEMM backend, the thread count and the shared scratch buffer
/// (large enough for the biggest im2col of the network).
public struct ExecutionContext {
    public var gemm: any GEMMBackend
    public var threads: Int
    public var workspace: FloatBuffer

    public init(gemm: any GEMMBackend, threads: Int, workspace: FloatBuffer) {
        self.gemm = gemm
        self.threads = threads
        self.workspace = workspace
    }

}

/// One step of a network. A layer is built once (weights folded and checked), knows its output shape,
/// and `forward` reads its inputs and writes its preallocated output without mutating itself.
/// Layers are a protocol rather than an enum because the Ultralytics module tree nests layers (C2f holds
/// Bottlenecks, …); the cfg/checkpoint parsers switch exhaustively over their own section/module kinds.
public protocol NetworkLayer: AnyObject {
    /// Short kind name for listings and errors ("conv", "maxpool", …).
    var kind: String { get }
    var outputShape: TensorShape { get }
    /// Scratch floats `forward` needs from `context.workspace` (0 when none).
    var workspaceSize: Int { get }
    /// Multiply-accumulate count of one forward pass (for GFLOP figures).
    var macs: Int { get }
    /// Float parameters the layer holds (weights and biases).
    var parameterCount: Int { get }
    func forward(_ inputs: [FeatureMap], into output: FeatureMap, context: ExecutionContext)
}

extension NetworkLayer {
    public var workspaceSize: Int { 0 }
    public var macs: Int { 0 }
    public var parameterCount: Int { 0 }
}

/// A layer whose output holds boxes (Darknet [yolo], Ultralytics Detect): reads candidates off that output.
public protocol DetectionHead: AnyObject {
    /// Candidates scoring above `confidence`, boxes in network-input pixels; `multiLabel` keeps every class above
    /// it per box (validation), else the head's own rule (Darknet: every class; Ultralytics: the best class).
    func candidates(_ output: FeatureMap, confidence: Float, multiLabel: Bool) -> [HeadCandidate]
}

extension DetectionHead {
    public func candidates(_ output: FeatureMap, confidence: Float) -> [HeadCandidate] {
        candidates(output, confidence: confidence, multiLabel: false)
    }
}

/// One candidate box of a head: class, score, box in network-input pixels.
public struct HeadCandidate: Sendable {
    public var classIndex: Int
    public var confidence: Float
    public var box: Box
}
