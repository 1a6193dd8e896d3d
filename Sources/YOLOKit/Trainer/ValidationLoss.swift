import Foundation

/// The val/box_loss, val/cls_loss, val/dfl_loss columns: the detection loss of the model in eval mode (every
/// BatchNorm on its running statistics, as `model.eval()`) on the validation images, letterboxed as the validator
/// letterboxes them. Ultralytics averages the loss of its val batches (2 × batch images each); here each image is
/// its own batch (its own rect shape), and the mean is over images.
public enum ValidationLoss {
    public static func compute(model: UltralyticsModel, images: [ValidationImage], imageSize: Int, gemm: any GEMMBackend, threads: Int,
                               hyperparameters: DetectionLossHyperparameters, maxPixels: Int = ImageDecoder.defaultMaxPixels) throws -> (box: Double, cls: Double, dfl: Double) {
        let (graph, store) = try TrainingGraph.make(from: model, frozenLayers: Array(0..<model.layers.count))
        let criterion = DetectionLoss(classes: graph.classes, regMax: graph.regMax, hyperparameters: hyperparameters)
        let stride = model.strides.max() ?? 32
        var sums = (box: 0.0, cls: 0.0, dfl: 0.0), counted = 0
        for item in images {
            guard case .normalized(let rows) = item.truth, let image = try? ImageDecoder.decode(contentsOf: item.path, maxPixels: maxPixels) else { continue }
            let g = Preprocess.ultralyticsValidationGeometry(width: image.width, height: image.height, imageSize: imageSize, stride: stride)
            let input = FeatureMap(shape: TensorShape(channels: 3, height: g.inputHeight, width: g.inputWidth))
            let t = Preprocess.ultralyticsValidationLetterbox(image, into: input, imageSize: imageSize)
            let rw = Float(g.resizedWidth), rh = Float(g.resizedHeight), iw = Float(g.inputWidth), ih = Float(g.inputHeight)
            let targets = rows.map { r in
                DetectionTarget(classIndex: r.classIndex, x: (r.cx * rw + t.padX) / iw, y: (r.cy * rh + t.padY) / ih, width: r.w * rw / iw, height: r.h * rh / ih)
            }
            let batch = BatchTensor(batch: 1, channels: 3, height: g.inputHeight, width: g.inputWidth, values: input.buffer.array)
            let forward = try graph.forward(batch, store: store, gemm: gemm, threads: threads)
            let loss = try criterion.compute(levels: forward.levels, targets: [targets])
            sums.box += Double(loss.boxLoss); sums.cls += Double(loss.classLoss); sums.dfl += Double(loss.dflLoss)
            counted += 1
        }
        let n = Double(max(counted, 1))
        return (sums.box / n, sums.cls / n, sums.dfl / n)
    }
}
