import Foundation

/// An Ultralytics detection checkpoint (`.pt`: YOLOv8, YOLO11, YOLO26 …) read without running any Python:
/// the module tree comes from the restricted unpickler (`TorchCheckpoint`), what it holds is read by
/// `UltralyticsCheckpointContents`, `UltralyticsGraphBuilder` turns the modules into layers (weights folded once,
/// BatchNorm into conv), `UltralyticsParameterAudit` checks that every tensor was used, and a `Network` is built
/// per input size (rect letterbox gives each aspect ratio its own size), its memory bounded as
/// `UltralyticsMemoryEstimate` describes.
public final class UltralyticsModel {
    public let path: String
    public let names: [String]
    public let strides: [Int]
    /// Whether the head has YOLO26's one-to-one branch (NMS-free), and whether this model runs it.
    public let hasOneToOneHead: Bool
    public let endToEnd: Bool
    public let regMax: Int
    /// The end-to-end head's fixed top-k (Ultralytics Detect.max_det).
    public static let endToEndTopK = 300
    /// Bounds on sizes and on network memory (checked when the model loads, for a 640×640 input).
    public let limits: ModelLimits
    /// Which 3×3 convolutions of the networks built run as Winograd.
    public let winograd: WinogradPolicy
    /// The training settings the checkpoint keeps as defaults (imgsz, data, task, single_cls), and its imgsz.
    public let trainArguments: [(key: String, value: String)]
    public let trainingImageSize: Int?
    /// Estimated Float32 values a network for a 640×640 input holds (outputs, scratch, weights).
    public private(set) var estimatedFloats640 = 0
    /// Where the weights are read from (the `.pt` archive, or an exported `.safetensors` file).
    let checkpoint: any TorchTensorSource
    /// The checkpoint's top-level dict (version, date, train_args, …; for an exported file, rebuilt from its metadata).
    let root: PickleValue
    /// The DetectionModel module (the whole tree: what `state_dict()` and `info` walk).
    let detectionModel: TorchModule
    let layers: [TorchModule]  // DetectionModel.model children, in order
    /// Folded conv weights by module path, shared by every network built.
    var foldedConvs: [String: (weights: FloatBuffer, bias: FloatBuffer)] = [:]

    /// `endToEnd`: run the one-to-one (NMS-free) branch of a YOLO26 head. nil or false: the one-to-many branch,
    /// whose boxes need NMS (what Ultralytics' predict runs by default, `nms=None`), unless the head has only the
    /// one-to-one branch. `options`: the limits the file is checked against and the Winograd policy of the networks.
    /// `file`: the export already opened (an int8 file dequantized in memory); nil reads `path`.
    public init(path: String, endToEnd: Bool? = nil, options: ExecutionOptions = ExecutionOptions(), file: SafetensorsFile? = nil) throws {
        self.path = path
        self.limits = options.limits
        self.winograd = options.winograd
        if (path as NSString).pathExtension.lowercased() == "safetensors" {
            let exported = try file.map { try UltralyticsSafetensors.open(file: $0) } ?? UltralyticsSafetensors.open(path: path)
            checkpoint = exported.tensors
            root = exported.root
        } else {
            let pt = try TorchCheckpoint(path: path)
            checkpoint = pt
            root = pt.root
        }
        let contents = try UltralyticsCheckpointContents(root: root, tensors: checkpoint, limits: limits)
        detectionModel = contents.detectionModel
        layers = contents.layers
        names = contents.names
        strides = contents.strides
        regMax = contents.regMax
        hasOneToOneHead = contents.hasOneToOneHead
        trainArguments = contents.trainArguments
        trainingImageSize = contents.trainingImageSize
        guard hasOneToOneHead || endToEnd != true else {
            throw ModelLoadError(path: path, reason: "this checkpoint has no one-to-one (end-to-end) head")
        }
        self.endToEnd = hasOneToOneHead && (endToEnd == true || !contents.hasOneToManyHead)
        // Build once at a small size: checks every module and that every parameter is used, and estimates the
        // memory a 640×640 input needs (a hostile file must not make the first real image allocate terabytes).
        let (_, builder) = try build(height: 64, width: 64, checkUnused: true, budget: NetworkBudget(limits: limits, path: path))
        let estimate = builder.estimatedFloats(scale: 100)  // (640·640) / (64·64)
        estimatedFloats640 = estimate
        guard estimate <= limits.maxNetworkBytes / 4 else {
            throw ModelLoadError(path: path, reason: "the network would need about \(NetworkBudget.size(floats: estimate)) for a 640×640 input, more than the limit of \(NetworkBudget.size(floats: limits.maxNetworkBytes / 4)) (ModelLimits.maxNetworkBytes)")
        }
    }

    /// The network for an input of `height`×`width` (multiples of the largest stride). The output node
    /// is `network.outputIndices[0]`: a DetectHeadLayer's [4 + nc, 1, N].
    public func makeNetwork(height: Int, width: Int, checkUnused: Bool = false) throws -> Network {
        try build(height: height, width: width, checkUnused: checkUnused, budget: nil).network
    }

    /// Builds the network; with a `budget`, every allocation is checked against it before it happens.
    func build(height: Int, width: Int, checkUnused: Bool, budget: NetworkBudget?, countAllBranches: Bool = false) throws -> (network: Network, builder: UltralyticsGraphBuilder) {
        guard (1...limits.maxDimension).contains(height), (1...limits.maxDimension).contains(width) else {
            throw ModelLoadError(path: path, reason: "input size \(width)×\(height) is outside 1...\(limits.maxDimension) per side")
        }
        let builder = UltralyticsGraphBuilder(model: self, network: Network(inputShape: TensorShape(channels: 3, height: height, width: width)))
        builder.budget = budget
        builder.countAllBranches = countAllBranches
        try builder.budget?.reserve(NetworkBudget.product(3, height, width), for: "the input")
        var outputs: [Int] = []  // node index of each top-level layer's output
        for (i, layer) in layers.enumerated() {
            let from = try layer.ints("f")
            guard !from.isEmpty else { throw builder.error(layer, "layer \(i) reads no layer ('f' is empty)") }
            let inputs = try from.map { f -> Int in
                let (j, overflow) = i.addingReportingOverflow(f)
                guard f < 0 ? !overflow && j >= -1 : f < i else {
                    throw builder.error(layer, "layer \(i) reads layer \(f), which is not an earlier layer")
                }
                let k = f < 0 ? j : f
                return k < 0 ? Network.inputIndex : outputs[k]
            }
            outputs.append(try builder.module(layer, path: "model.\(i)", inputs: inputs))
        }
        builder.layerOutputs = outputs
        builder.network.addOutput(outputs[outputs.count - 1], head: builder.head)
        if checkUnused { try builder.checkAllParametersUsed(layers) }
        return (builder.network, builder)
    }
}

