import Foundation
@testable import YOLOKit

/// The calls `OutputSnapshotTests` makes, in the API of the day (kept apart so the snapshot logic never changes).
enum YOLOKitSnapshotSupport {
    static func detector(model: String, endToEnd: Bool?, backend: String) throws -> Detector {
        // 640 for checkpoints: the default when the snapshot was written (now the checkpoint's training imgsz).
        try Detector(model: model, execution: ExecutionOptions(threads: 2, backend: GEMMBackendKind(rawValue: backend)!),
                     imageSize: model.hasSuffix(".pt") ? 640 : nil, endToEnd: endToEnd)
    }

    static func detect(_ detector: Detector, _ image: RGBImage) -> (outputs: [FeatureMap], boxes: [Detection]) {
        let result = detector.detect(image)
        return (detector.network(for: image).outputs, result.boxes)
    }
}
