import Foundation

/// Ultralytics checkpoint behind the `Detector`: rect letterbox to `imageSize` (stride-32 multiple, gray 114),
/// one network per input size (cached), and candidates as Ultralytics' predict reads them: one class per
/// anchor (the best) for NMS heads; for end-to-end heads (YOLO26) the top-k of the one-to-one branch, no NMS.
public final class UltralyticsDetectionModel: DetectionModel {
    public let model: UltralyticsModel
    public let imageSize: Int
    /// The end-to-end head's fixed top-k (Ultralytics Detect.max_det).
    public let endToEndTopK = 300
    private var networks: [[Int]: Network] = [:]
    private var order: [[Int]] = []
    static let cachedSizes = 3

    public init(path: String, imageSize: Int = 640, endToEnd: Bool? = nil) throws {
        model = try UltralyticsModel(path: path, endToEnd: endToEnd)
        let stride = model.strides.max() ?? 32
        self.imageSize = max(stride, (imageSize + stride - 1) / stride * stride)
    }

    public var names: [String] { model.names }
    public var defaultIoU: Float { 0.7 }
    public var usesNMS: Bool { !model.endToEnd }
    public var summary: String {
        "Ultralytics \((model.path as NSString).lastPathComponent), imgsz \(imageSize), \(names.count) classes\(model.endToEnd ? ", end-to-end (NMS-free)" : "")"
    }

    /// The network for one input size, built on first use (weights are shared between sizes).
    public func network(height: Int, width: Int) -> Network {
        let key = [height, width]
        order.removeAll { $0 == key }
        order.append(key)  // most recently used last
        if let n = networks[key] { return n }
        // Shapes were validated when the model loaded; a size that is a multiple of the stride always builds.
        let n = try! model.makeNetwork(height: height, width: width)
        n.shareBuffers()
        networks[key] = n
        // Each network holds its own activations (~50 MB for YOLOv8s at 640×480 with layers sharing buffers): a
        // folder of photos of many aspect ratios keeps the three most recent sizes (8 cached, unshared: 1.9 GB peak RSS).
        while order.count > Self.cachedSizes { networks[order.removeFirst()] = nil }
        return n
    }

    public func preprocess(_ image: RGBImage) -> (Network, InputTransform) {
        let g = Preprocess.ultralyticsLetterboxGeometry(width: image.width, height: image.height, imageSize: imageSize,
                                                        stride: model.strides.max() ?? 32)
        let net = network(height: g.inputHeight, width: g.inputWidth)
        return (net, Preprocess.ultralyticsLetterbox(image, into: net.input, imageSize: imageSize))
    }

    public func candidates(from network: Network, confidence: Float) -> [Detection] {
        let out = network.outputs[0], n = out.shape.width, nc = names.count, p = out.pointer
        func box(_ a: Int) -> Box {
            model.endToEnd ? Box(x1: p[a], y1: p[n + a], x2: p[2 * n + a], y2: p[3 * n + a])
                : Box(cx: p[a], cy: p[n + a], w: p[2 * n + a], h: p[3 * n + a])
        }
        func score(_ a: Int, _ c: Int) -> Float { p[(4 + c) * n + a] }
        if !model.endToEnd {
            var found: [Detection] = []
            for a in 0..<n {
                var best = 0
                for c in 1..<max(nc, 1) where score(a, c) > score(a, best) { best = c }
                let s = score(a, best)
                if s > confidence { found.append(Detection(classIndex: best, name: names[best], confidence: s, box: box(a))) }
            }
            return found
        }
        // Top-k as Ultralytics' Detect.postprocess: the k anchors with the highest best-class score, then the
        // k highest (anchor, class) scores among them; finally the predictor keeps scores > confidence.
        let k = min(endToEndTopK, n)
        let bestScore = (0..<n).map { a in (0..<nc).reduce(-Float.infinity) { max($0, score(a, $1)) } }
        let anchors = (0..<n).sorted { bestScore[$0] != bestScore[$1] ? bestScore[$0] > bestScore[$1] : $0 < $1 }.prefix(k)
        var pairs: [(score: Float, anchor: Int, cls: Int)] = []
        for (rank, a) in anchors.enumerated() { for c in 0..<nc { pairs.append((score(a, c), rank, c)) } }
        pairs.sort { $0.score != $1.score ? $0.score > $1.score : ($0.anchor * nc + $0.cls) < ($1.anchor * nc + $1.cls) }
        let ranked = Array(anchors)
        return pairs.prefix(k).filter { $0.score > confidence }.map {
            Detection(classIndex: $0.cls, name: names[$0.cls], confidence: $0.score, box: box(ranked[$0.anchor]))
        }
    }
}
