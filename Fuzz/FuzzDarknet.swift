// Targets `darknet-cfg` (a cfg file: parse, validate, plan, build with generated weights, run) and
// `darknet-weights` (a weights file for fixed small cfgs: header, size check, BatchNorm folding, run).
import Foundation

/// Small enough that building and running a fuzzed network stays cheap; the checks are the same for any limit.
let fuzzModelLimits = ModelLimits(maxDimension: 1 << 16, maxNetworkBytes: 32 << 20)
/// What every fuzzed load and run uses: one thread, the fuzzer's limits.
let fuzzExecution = ExecutionOptions(threads: 1, limits: fuzzModelLimits)

/// A weights file (version 0.2 header) holding `floats` deterministic parameters.
func fuzzWeightsFile(floats: Int) -> Data {
    var d = Data(capacity: 20 + 4 * floats)
    for v: Int32 in [0, 2, 0] { withUnsafeBytes(of: v.littleEndian) { d.append(contentsOf: $0) } }
    withUnsafeBytes(of: UInt64(0).littleEndian) { d.append(contentsOf: $0) }
    var values = [Float](repeating: 0, count: floats)
    for i in 0..<floats { values[i] = 0.25 + Float(i % 13) / 26 }  // positive: BatchNorm variances stay valid
    values.withUnsafeBytes { d.append(contentsOf: $0) }
    return d
}

func fuzzBuildAndRun(_ config: DarknetConfig, weights: inout DarknetWeights) throws {
    let model = try DarknetLoader.build(config, weights: &weights, options: fuzzExecution)
    let classes = model.heads[0].classes
    fuzzDetect(DarknetDetectionModel(model, names: (0..<classes).map { "c\($0)" }), network: model.network)
}

func fuzzDarknetConfig(_ bytes: [UInt8]) {
    let path = "fuzz.cfg"
    // DarknetConfig.load reads the file the same way: not UTF-8 is an error before parsing.
    guard let text = String(data: Data(bytes), encoding: .utf8) else { return }
    do {
        let config = try DarknetConfig.parse(text, path: path)
        let plan = try DarknetLoader.plan(config, limits: fuzzModelLimits)
        guard plan.parameterCount <= 1 << 20 else { return }  // building would only copy more floats
        var weights = try DarknetWeights(data: fuzzWeightsFile(floats: plan.parameterCount), path: path)
        try fuzzBuildAndRun(config, weights: &weights)
    } catch {
        expectClearError(error, path: path)
    }
}

/// Two small networks covering every section kind, BatchNorm and not.
let fuzzWeightsConfigs: [DarknetConfig] = {
    let a = """
    [net]
    width=32
    height=32
    channels=3

    [convolutional]
    batch_normalize=1
    filters=4
    size=3
    stride=1
    pad=1
    activation=leaky

    [maxpool]
    size=2
    stride=2

    [convolutional]
    filters=8
    size=3
    stride=2
    pad=1
    activation=mish

    [route]
    layers=-1
    groups=2
    group_id=1

    [convolutional]
    size=1
    stride=1
    pad=1
    filters=14
    activation=linear

    [yolo]
    mask = 0,1
    anchors = 10,14, 23,27, 37,58
    classes=2
    num=3
    """
    let b = """
    [net]
    width=32
    height=32
    channels=3
    letter_box=1

    [convolutional]
    filters=6
    size=3
    stride=2
    pad=1
    activation=swish

    [convolutional]
    batch_normalize=1
    filters=6
    size=1
    stride=1
    activation=relu

    [shortcut]
    from=-2
    activation=linear

    [maxpool]
    size=2
    stride=1

    [upsample]
    stride=2

    [convolutional]
    size=1
    stride=1
    filters=6
    activation=logistic

    [yolo]
    mask = 0
    anchors = 10,14
    classes=1
    num=1
    scale_x_y=1.05
    new_coords=1
    """
    return [try! DarknetConfig.parse(a, path: "fuzz-a.cfg"), try! DarknetConfig.parse(b, path: "fuzz-b.cfg")]
}()

func fuzzDarknetWeights(_ bytes: [UInt8]) {
    let path = "fuzz.weights"
    let data = Data(bytes)
    for config in fuzzWeightsConfigs {
        do {
            var weights = try DarknetWeights(data: data, path: path)
            try fuzzBuildAndRun(config, weights: &weights)
        } catch {
            expectClearError(error, path: path)
        }
    }
}
