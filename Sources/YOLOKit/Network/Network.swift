/// An executable graph: nodes in execution order, each reading earlier outputs (or the network input)
/// and writing its own preallocated output. Built once for a fixed input shape; `forward` allocates nothing.
/// Not thread-safe: one forward at a time per Network (Detector serializes calls). How it runs (threads, GEMM
/// backend) is the `ExecutionOptions` value given to each `forward`; what was decided at build time (Winograd
/// tiles, limits) came from the options the loader was given.
public final class Network {
    public struct Node {
        public let layer: any NetworkLayer
        /// Indices of earlier nodes whose outputs this node reads; `Network.inputIndex` is the network input.
        public let inputs: [Int]
        /// Resolved input maps (same order as `inputs`), fixed at build time.
        let inputMaps: [FeatureMap]
        public let output: FeatureMap
    }

    public static let inputIndex = -1

    public let input: FeatureMap
    public private(set) var nodes: [Node] = []
    /// Nodes whose outputs the caller reads after `forward` (detection heads).
    public private(set) var outputIndices: [Int] = []
    /// The layers that read boxes off those outputs, in the same order (nil for a plain output).
    public private(set) var heads: [(any DetectionHead)?] = []
    private var workspace = FloatBuffer(count: 0)

    public init(inputShape: TensorShape) {
        input = FeatureMap(shape: inputShape)
    }

    public var inputShape: TensorShape { input.shape }

    /// Output shape of node `index` (or of the network input for `inputIndex`).
    public func shape(of index: Int) -> TensorShape {
        index == Network.inputIndex ? input.shape : nodes[index].output.shape
    }

    /// Appends a layer reading the given earlier nodes; returns its index.
    @discardableResult
    public func append(_ layer: any NetworkLayer, inputs: [Int]) -> Int {
        precondition(inputs.allSatisfy { $0 == Network.inputIndex || (0..<nodes.count).contains($0) }, "Network: input index out of range")
        let maps = inputs.map { $0 == Network.inputIndex ? input : nodes[$0].output }
        nodes.append(Node(layer: layer, inputs: inputs, inputMaps: maps, output: FeatureMap(shape: layer.outputShape)))
        if layer.workspaceSize > workspace.count { workspace = FloatBuffer(count: layer.workspaceSize) }
        return nodes.count - 1
    }

    /// Marks node `index` as an output the caller reads after `forward`; `head` turns it into boxes.
    public func addOutput(_ index: Int, head: (any DetectionHead)? = nil) {
        precondition(nodes.indices.contains(index) && !sharesBuffers, "Network: output index out of range, or buffers already shared")
        outputIndices.append(index)
        heads.append(head)
    }

    /// Runs every node on the current contents of `input`, with the backend and threads of `options`.
    public func forward(_ options: ExecutionOptions = ExecutionOptions()) {
        forward(gemm: options.gemm, threads: options.threads)
    }

    /// Runs every node with `gemm` on `threads` threads (a backend of the caller's: tests, recording shapes).
    public func forward(gemm: any GEMMBackend, threads: Int) {
        let context = ExecutionContext(gemm: gemm, threads: max(1, threads), workspace: workspace)
        for node in nodes {
            node.layer.forward(node.inputMaps, into: node.output, context: context)
        }
    }

    /// Runs every node, calling `observe(index, seconds)` after each (for per-layer timing).
    public func forward(_ options: ExecutionOptions = ExecutionOptions(), observe: (Int, Double) -> Void) {
        forward(gemm: options.gemm, threads: options.threads, observe: observe)
    }

    public func forward(gemm: any GEMMBackend, threads: Int, observe: (Int, Double) -> Void) {
        let context = ExecutionContext(gemm: gemm, threads: max(1, threads), workspace: workspace)
        for (i, node) in nodes.enumerated() {
            let start = DispatchTime.now().uptimeNanoseconds
            node.layer.forward(node.inputMaps, into: node.output, context: context)
            observe(i, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
    }

    /// Lets layer outputs share memory: each node's output moves into a buffer that no live node uses, where
    /// a node is live from its own forward until the last node that reads it. The outputs the caller reads
    /// (`outputIndices`, and `keeping`) keep buffers of their own. Afterwards the other nodes' outputs hold
    /// garbage once `forward` returns (read them before, through `forward(observe:)`, or plan without it).
    /// Measured (`NetworkMemoryTests`): YOLOv8s at 480×640, 138 MB of layer outputs become 24 MB. Only the first
    /// call plans; later calls change nothing.
    public func shareBuffers(keeping: Set<Int> = []) {
        guard !sharesBuffers else { return }
        sharesBuffers = true
        let kept = keeping.union(outputIndices)
        var lastUse = Array(nodes.indices)  // a node nobody reads is dead after its own forward
        for (i, node) in nodes.enumerated() { for j in node.inputs where j != Network.inputIndex { lastUse[j] = max(lastUse[j], i) } }
        // Greedy assignment in execution order: a node takes the smallest free slot that fits, else grows the
        // largest free one, else opens a new slot. Slots are allocated once, at their final size.
        var slotSize: [Int] = [], slotFreeAfter: [Int] = [], slotOf = [Int?](repeating: nil, count: nodes.count)
        for (i, node) in nodes.enumerated() where !kept.contains(i) {
            let need = node.output.shape.count
            let free = slotSize.indices.filter { slotFreeAfter[$0] < i }
            let slot = free.filter { slotSize[$0] >= need }.min { slotSize[$0] < slotSize[$1] }
                ?? free.max { slotSize[$0] < slotSize[$1] }
                ?? { slotSize.append(0); slotFreeAfter.append(0); return slotSize.count - 1 }()
            slotSize[slot] = max(slotSize[slot], need)
            slotFreeAfter[slot] = lastUse[i]
            slotOf[i] = slot
        }
        let buffers = slotSize.map { FloatBuffer(count: $0) }
        var outputsNow = nodes.map(\.output)
        for i in nodes.indices { if let slot = slotOf[i] { outputsNow[i] = FeatureMap(shape: nodes[i].output.shape, buffer: buffers[slot]) } }
        nodes = nodes.enumerated().map { i, node in
            Node(layer: node.layer, inputs: node.inputs,
                 inputMaps: node.inputs.map { $0 == Network.inputIndex ? input : outputsNow[$0] }, output: outputsNow[i])
        }
    }
    private var sharesBuffers = false

    /// Bytes held by layer outputs, each buffer counted once.
    public var outputBytes: Int {
        var seen = Set<ObjectIdentifier>(), floats = 0
        for node in nodes where seen.insert(ObjectIdentifier(node.output.buffer)).inserted { floats += node.output.buffer.count }
        return floats * MemoryLayout<Float>.stride
    }

    /// Bytes of everything a forward pass works in: layer outputs, the input and the scratch (im2col) buffer.
    public var activationBytes: Int { outputBytes + (input.shape.count + workspace.count) * MemoryLayout<Float>.stride }

    public var outputs: [FeatureMap] { outputIndices.map { nodes[$0].output } }
    public var macs: Int { nodes.reduce(0) { $0 + $1.layer.macs } }
    /// Float parameters held by the layers (folded weights and biases).
    public var parameterCount: Int { nodes.reduce(0) { $0 + $1.layer.parameterCount } }

    /// Candidate boxes (network-input pixels) of every head, read after `forward`.
    public func candidates(confidence: Float, multiLabel: Bool = false) -> [HeadCandidate] {
        zip(heads, outputs).flatMap { head, output in head?.candidates(output, confidence: confidence, multiLabel: multiLabel) ?? [] }
    }
}

import Dispatch
