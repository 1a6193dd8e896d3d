import Foundation

/// The gains and assigner settings of Ultralytics' detection loss (defaults: ultralytics/cfg/default.yaml box 7.5,
/// cls 0.5, dfl 1.5; v8DetectionLoss's TaskAlignedAssigner topk 10, alpha 0.5, beta 6.0).
public struct DetectionLossHyperparameters: Equatable, Sendable {
    public var box: Double
    public var cls: Double
    public var dfl: Double
    public var topK: Int
    public var alpha: Double
    public var beta: Double

    public init(box: Double = 7.5, cls: Double = 0.5, dfl: Double = 1.5, topK: Int = 10, alpha: Double = 0.5, beta: Double = 6.0) {
        self.box = box; self.cls = cls; self.dfl = dfl
        self.topK = topK; self.alpha = alpha; self.beta = beta
    }

    public static let ultralyticsDefaults = DetectionLossHyperparameters()
}

/// One detection level's raw head outputs for a batch of B images, each image's map channel-major [C, H, W] and
/// the images one after another (Ultralytics' `box_head[i](x[i])` / `cls_head[i](x[i])` before any reshape).
public struct DetectionLevelOutputs: Sendable {
    /// Pixels per cell (8, 16, 32 for the usual three levels).
    public var stride: Int
    public var height: Int
    public var width: Int
    /// Box branch, [B, 4·regMax, H, W]: channel side·regMax + bin, sides left, top, right, bottom.
    public var boxLogits: [Float]
    /// Class branch, [B, classes, H, W]: raw logits (no sigmoid).
    public var classLogits: [Float]

    public init(stride: Int, height: Int, width: Int, boxLogits: [Float], classLogits: [Float]) {
        self.stride = stride
        self.height = height
        self.width = width
        self.boxLogits = boxLogits
        self.classLogits = classLogits
    }

    /// From the per-image maps the network produces (box maps [4·regMax, H, W], class maps [classes, H, W]).
    public init(stride: Int, boxMaps: [FeatureMap], classMaps: [FeatureMap]) {
        let shape = boxMaps.first?.shape ?? classMaps.first?.shape ?? TensorShape(channels: 0, height: 0, width: 0)
        self.init(stride: stride, height: shape.height, width: shape.width,
                  boxLogits: boxMaps.flatMap(\.buffer.array), classLogits: classMaps.flatMap(\.buffer.array))
    }
}

/// The gradient of the backpropagated scalar w.r.t. one level's raw outputs, in their layout.
public struct DetectionLevelGradients: Sendable {
    /// [B, 4·regMax, H, W]
    public var boxLogits: [Float]
    /// [B, classes, H, W]
    public var classLogits: [Float]
}

/// One labelled box of an image, as Ultralytics' batch holds it: class and normalized centre x, centre y, width,
/// height (fractions of the image width / height).
public struct DetectionTarget: Equatable, Sendable {
    public var classIndex: Int
    public var x: Float, y: Float, width: Float, height: Float

    public init(classIndex: Int, x: Float, y: Float, width: Float, height: Float) {
        self.classIndex = classIndex
        self.x = x; self.y = y; self.width = width; self.height = height
    }
}

/// What the loss gives for one batch.
public struct DetectionLossResult: Sendable {
    /// The three components as Ultralytics logs them (`loss.detach()`: gains applied, not times the batch size).
    public var boxLoss: Float
    public var classLoss: Float
    public var dflLoss: Float
    /// The scalar the trainer backpropagates: `(loss * batch_size).sum()` = B · (box + cls + dfl).
    public var backpropagated: Float
    /// d backpropagated / d raw outputs, per level in the inputs' layout.
    public var gradients: [DetectionLevelGradients]
    /// The assigner's answer per image (anchors of all levels in order, each level row-major).
    public var assignments: [ImageAssignment]
    /// max(Σ target scores over the batch, 1): the loss's normalizer.
    public var targetScoresSum: Double
}

public enum DetectionLossError: Error, CustomStringConvertible, Equatable {
    case noLevels
    case unsupportedRegMax(Int)
    case levelSize(level: Int, what: String, expected: Int, got: Int)
    case targetImages(expected: Int, got: Int)
    case classOutOfRange(image: Int, classIndex: Int, classes: Int)
    case assigner(TaskAlignedAssignerError)

    public var description: String {
        switch self {
        case .noLevels:
            return "the detection loss needs at least one detection level"
        case let .unsupportedRegMax(regMax):
            return "the detection loss needs regMax ≥ 2 (a distribution per box side); got \(regMax) (the L1 box loss of DFL-free heads is not implemented)"
        case let .levelSize(level, what, expected, got):
            return "detection level \(level): the \(what) hold \(got) values, expected \(expected) (batch × channels × height × width)"
        case let .targetImages(expected, got):
            return "the targets list \(got) images, but the batch has \(expected)"
        case let .classOutOfRange(image, classIndex, classes):
            return "image \(image): target class \(classIndex) is outside the model's \(classes) classes"
        case let .assigner(error):
            return error.description
        }
    }
}

/// Anchor points of all levels, in Ultralytics' `make_anchors` order: levels in turn, cells row-major, each at its
/// cell centre (offset 0.5) in grid units of its level.
struct AnchorGrid {
    /// Cell centres in grid units.
    let points: [(x: Float, y: Float)]
    /// Stride of each anchor's level.
    let strides: [Float]
    /// First anchor index of each level.
    let levelOffsets: [Int]

    init(levels: [(height: Int, width: Int, stride: Int)]) {
        var points: [(x: Float, y: Float)] = [], strides: [Float] = [], offsets: [Int] = []
        for level in levels {
            offsets.append(points.count)
            for y in 0..<level.height {
                for x in 0..<level.width {
                    points.append((Float(x) + 0.5, Float(y) + 0.5))
                    strides.append(Float(level.stride))
                }
            }
        }
        self.points = points
        self.strides = strides
        self.levelOffsets = offsets
    }

    var count: Int { points.count }

    /// Cell centres in pixels (`anchor_points * stride_tensor`).
    var pixelPoints: [(x: Float, y: Float)] { zip(points, strides).map { ($0.x * $1, $0.y * $1) } }
}
