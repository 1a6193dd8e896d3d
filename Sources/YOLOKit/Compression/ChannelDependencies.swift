/// The names of one convolution's unfused tensors in a model's state dict: `weight` [Cout, Cin/groups, k, k], an
/// optional `bias` [Cout], and the prefix of a BatchNorm after it (`.weight`, `.bias`, `.running_mean`,
/// `.running_var`, each [Cout]).
public struct ConvTensorNames: Hashable, Sendable {
    public var weight: String
    public var bias: String?
    public var batchNorm: String?

    public init(weight: String, bias: String? = nil, batchNorm: String? = nil) {
        self.weight = weight
        self.bias = bias
        self.batchNorm = batchNorm
    }

    /// Every per-output-channel vector (bias, BatchNorm γ, β, mean, variance).
    var channelVectors: [String] {
        (bias.map { [$0] } ?? []) + (batchNorm.map { b in ["weight", "bias", "running_mean", "running_var"].map { b + "." + $0 } } ?? [])
    }
}

/// A float32 tensor by value: shape (outermost first) and row-major values.
public struct FloatTensor: Equatable, Sendable {
    public var shape: [Int]
    public var values: [Float]

    public init(shape: [Int], values: [Float]) {
        self.shape = shape
        self.values = values
    }
}

/// A network as compression sees it: the graph (any input size; only channel counts matter), which of its nodes are
/// convolutions with which tensors, and the model's unfused float32 tensors by name.
public struct CompressibleNetwork {
    public let network: Network
    public let convs: [Int: ConvTensorNames]
    public var tensors: [String: FloatTensor]

    /// Weight tensors more than one conv node uses (a shared module): they cannot be cut or factored for one user.
    let sharedWeights: Set<String>

    public init(network: Network, convs: [Int: ConvTensorNames], tensors: [String: FloatTensor]) {
        self.network = network
        self.convs = convs
        self.tensors = tensors
        var users: [String: Int] = [:]
        for names in convs.values { users[names.weight, default: 0] += 1 }
        sharedWeights = Set(users.filter { $0.value > 1 }.keys)
    }

    /// The conv layer of node `i`, when it is one with known tensors.
    func conv(_ i: Int) -> ConvolutionLayer? {
        convs[i] == nil ? nil : network.nodes[i].layer as? ConvolutionLayer
    }
}

/// Output channels that must be removed together, found as dependency-graph pruning finds them: every output channel
/// of every node is an element; a concat maps its output channels onto its inputs', a residual add ties its two
/// inputs and its output channel by channel, max pooling / upsampling / a depthwise conv tie output to input, and a
/// channel split into halves (C2f, yolov4-tiny's route groups) ties channel j of every half (so the halves stay
/// equal). A class is *fixed* when it reaches something whose channels cannot change: the network input, a head
/// (Detect, [yolo]), attention, a grouped conv that is not depthwise, a conv whose tensors are not known or are shared
/// with another node, or a node whose output nobody reads.
struct ChannelDependencies {
    /// Element of (node, channel): `base[node] + channel`; the network input is node −1 at `inputBase`.
    private(set) var base: [Int] = []
    let inputBase: Int
    private var parent: [Int]
    private var fixedRoots: Set<Int> = []

    init(_ net: CompressibleNetwork) {
        let network = net.network
        var offset = 0
        for node in network.nodes {
            base.append(offset)
            offset += node.output.shape.channels
        }
        inputBase = offset
        offset += network.inputShape.channels
        parent = Array(0..<offset)
        var fixed: [Int] = Array(inputBase..<offset)
        func element(_ node: Int, _ c: Int) -> Int { node == Network.inputIndex ? inputBase + c : base[node] + c }
        func all(_ node: Int) -> Range<Int> { node == Network.inputIndex ? inputBase..<offset : base[node]..<(base[node] + network.shape(of: node).channels) }

        var readers = [Int](repeating: 0, count: network.nodes.count)
        for (i, node) in network.nodes.enumerated() {
            for j in node.inputs where j != Network.inputIndex { readers[j] += 1 }
            let outChannels = node.output.shape.channels
            func fixAll() {
                fixed += Array(all(i))
                for j in node.inputs { fixed += Array(all(j)) }
            }
            switch node.layer {
            case let conv as ConvolutionLayer:
                let inChannels = conv.inputShape.channels
                guard let names = net.convs[i], !net.sharedWeights.contains(names.weight) else { fixAll(); continue }
                if conv.groups == 1 { continue }
                if conv.groups == inChannels && conv.groups == outChannels {
                    for c in 0..<outChannels { union(element(i, c), element(node.inputs[0], c)) }
                } else {
                    fixAll()
                }
            case let route as RouteLayer:
                var o = 0
                for j in node.inputs {
                    let c = network.shape(of: j).channels, slice = c / route.groups
                    for k in 0..<slice {
                        union(element(i, o + k), element(j, route.groupID * slice + k))
                        for g in 0..<route.groups { union(element(j, k), element(j, g * slice + k)) }
                    }
                    o += slice
                }
            case is ShortcutLayer:
                for j in node.inputs where network.shape(of: j).channels == outChannels {
                    for c in 0..<outChannels { union(element(i, c), element(j, c)) }
                }
                if node.inputs.contains(where: { network.shape(of: $0).channels != outChannels }) { fixAll() }
            case is MaxPoolLayer, is UpsampleLayer:
                for c in 0..<outChannels { union(element(i, c), element(node.inputs[0], c)) }
            default:
                fixAll()  // heads, attention, and any layer kind this analysis does not know
            }
        }
        for (i, count) in readers.enumerated() where count == 0 { fixed += Array(all(i)) }
        for e in fixed { fixedRoots.insert(find(e)) }
    }

    mutating func find(_ x: Int) -> Int {
        var r = x
        while parent[r] != r { r = parent[r] }
        var y = x
        while parent[y] != r { let next = parent[y]; parent[y] = r; y = next }
        return r
    }

    private mutating func union(_ a: Int, _ b: Int) {
        let ra = find(a), rb = find(b)
        if ra != rb { parent[max(ra, rb)] = min(ra, rb) }
    }

    /// The class of output channel `c` of `node`.
    mutating func classOf(_ node: Int, _ c: Int) -> Int { find(node == Network.inputIndex ? inputBase + c : base[node] + c) }

    mutating func isFixed(_ node: Int, _ c: Int) -> Bool { fixedRoots.contains(classOf(node, c)) }
}
