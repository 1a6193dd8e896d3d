/// An executable graph: nodes in execution order, each reading earlier outputs (or the network input)
/// and writing its own preallocated output. Built once for a fixed input shape; `forward` allocates nothing.
/// Not thread-safe: one forward at a time per Network (Detector serializes calls).
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
    public var outputIndices: [Int] = []
    public var gemm: any GEMMBackend = OpenBLASGEMM()
    public var threads: Int = 1
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

    /// Runs every node on the current contents of `input`.
    public func forward() {
        let context = ExecutionContext(gemm: gemm, threads: threads, workspace: workspace)
        for node in nodes {
            node.layer.forward(node.inputMaps, into: node.output, context: context)
        }
    }

    /// Runs every node, calling `observe(index, seconds)` after each (for per-layer timing).
    public func forward(observe: (Int, Double) -> Void) {
        let context = ExecutionContext(gemm: gemm, threads: threads, workspace: workspace)
        for (i, node) in nodes.enumerated() {
            let start = DispatchTime.now().uptimeNanoseconds
            node.layer.forward(node.inputMaps, into: node.output, context: context)
            observe(i, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
    }

    public var outputs: [FeatureMap] { outputIndices.map { nodes[$0].output } }
    public var macs: Int { nodes.reduce(0) { $0 + $1.layer.macs } }
}

import Dispatch
