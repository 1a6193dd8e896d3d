import Foundation

/// One batch as the training step takes it: images [N, 3, s, s] (RGB, 0…1) and each image's targets.
public struct TrainingBatch: Sendable {
    public var images: BatchTensor
    public var targets: [[DetectionTarget]]
    /// Images that could not be loaded this time (left out of the batch), with the reason.
    public var failures: [String]

    public var instances: Int { targets.reduce(0) { $0 + $1.count } }

    /// The images' pixels / 255, channel planes.
    public init(items: [LabelledImage], size: Int, failures: [String] = []) {
        let plane = size * size
        var values = [Float](repeating: 0, count: items.count * 3 * plane)
        values.withUnsafeMutableBufferPointer { v in
            for (n, item) in items.enumerated() {
                precondition(item.image.width == size && item.image.height == size, "a training image must be \(size)×\(size)")
                item.image.pixels.withUnsafeBufferPointer { px in
                    let base = n * 3 * plane
                    for i in 0..<plane {
                        v[base + i] = Float(px[i * 3]) / 255
                        v[base + plane + i] = Float(px[i * 3 + 1]) / 255
                        v[base + 2 * plane + i] = Float(px[i * 3 + 2]) / 255
                    }
                }
            }
        }
        images = BatchTensor(batch: items.count, channels: 3, height: size, width: size, values: values)
        targets = items.map(\.targets)
        self.failures = failures
    }
}
