/// What `yolo info` shows of a loaded model: its layers with their parameters, output shapes and GFLOPs at one
/// input size, totals, class names, strides, task and the model file's own metadata. Each model type makes its own
/// (`DetectionModel.info(imageSize:)`); counts follow the family's reference tool (Ultralytics: `get_num_params`
/// and `get_flops`, unfused).
public struct ModelInfo {
    public struct Layer {
        public let index: Int
        /// The layers it reads (-1: the previous one, as Ultralytics writes `from`; absolute indices otherwise).
        public let from: [Int]
        public let kind: String
        public let arguments: String
        public let parameters: Int
        /// [C, H, W] of its output at the info's input size.
        public let outputShape: [Int]
        public let gflops: Double
    }

    public var family: String
    public var file: String
    public var task: String
    /// [3, H, W] the layer table and GFLOPs are for.
    public var inputShape: [Int]
    public var layers: [Layer]
    public var parameters: Int
    public var gflops: Double
    public var names: [String]
    public var strides: [Int]
    /// The file's own metadata by its names (Ultralytics: version, date, …; Darknet: header version, seen).
    public var metadata: [(key: String, value: String)]
    /// How the counts were made (one line each).
    public var notes: [String]

    /// GFLOPs of `macs` multiply-accumulates (2 FLOPs each, as Ultralytics and Darknet count them).
    public static func gflops(macs: Int) -> Double { Double(macs) * 2 / 1e9 }

    public var json: JSONValue {
        .object([
            ("family", .string(family)), ("file", .string(file)), ("task", .string(task)),
            ("input_shape", .array(inputShape.map { .number(Double($0)) })),
            ("parameters", .number(Double(parameters))), ("gflops", .number(gflops)),
            ("names", .array(names.map(JSONValue.string))), ("stride", .array(strides.map { .number(Double($0)) })),
            ("metadata", .object(metadata.map { ($0.key, .string($0.value)) })),
            ("notes", .array(notes.map(JSONValue.string))),
            ("layers", .array(layers.map { l in
                .object([("index", .number(Double(l.index))), ("from", .array(l.from.map { .number(Double($0)) })),
                         ("module", .string(l.kind)), ("arguments", .string(l.arguments)),
                         ("parameters", .number(Double(l.parameters))),
                         ("output_shape", .array(l.outputShape.map { .number(Double($0)) })), ("gflops", .number(l.gflops))])
            })),
        ])
    }
}
