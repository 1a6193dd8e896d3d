import Foundation
import YOLOKit

/// The images and ground truth `yolo val` (and the compression reports) validate on. Problems with single images
/// are reported on standard error and the image is left out.
enum ValidationInputs {
    /// The split's images with their label files; an image whose labels are malformed is reported and left out.
    static func dataset(_ yaml: String, split: DatasetSplit, classCount: Int) throws -> ([ValidationImage], skipped: Int) {
        let config = try DatasetConfig.load(path: yaml)
        if config.names.count != classCount {
            printError("warning: \(yaml) has \(config.names.count) classes, the model \(classCount)")
        }
        let list = try config.images(for: split)
        for file in list.unsupported { printError("warning: \(file): image format not supported, left out") }
        var images: [ValidationImage] = [], skipped = 0
        for file in list.files {
            do {
                let labels = try LabelFile.read(imagePath: file, classCount: config.names.count)
                if let warning = labels.warning(imagePath: file) { printError("warning: \(warning)") }
                images.append(ValidationImage(path: file, truth: .normalized(labels.labels)))
            } catch {
                printError("error: \(error) (image left out)")
                skipped += 1
            }
        }
        return (images, skipped)
    }

    /// Every image of `folder` with the reference detector's detections (its predict defaults) as ground truth.
    static func reference(_ referenceDetector: Detector, folder: String) throws -> [ValidationImage] {
        let files = try DatasetImages.list([folder]).files
        var images: [ValidationImage] = []
        for file in files {
            do {
                let result = try referenceDetector.detect(imageAt: file)
                images.append(ValidationImage(path: file, truth: .pixels(result.boxes.map { LabelBox(box: $0.box, classIndex: $0.classIndex) })))
            } catch {
                printError("error: \(error) (reference could not run; image left out)")
            }
        }
        return images
    }
}
