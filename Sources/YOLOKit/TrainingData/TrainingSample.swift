import Foundation

/// One usable training image: its file and its labels (already checked).
public struct TrainingSample: Sendable, Equatable {
    public var path: String
    public var labels: [YOLOLabel]

    public init(path: String, labels: [YOLOLabel]) {
        self.path = path
        self.labels = labels
    }
}

/// The images of a dataset split checked as Ultralytics' `verify_image_label` checks them before training: the
/// label file parses (LabelFile's rules: 5 columns, classes in range, coordinates normalized) and the image decodes
/// and is at least 10 px on each side. Each problem is one message naming the file; its image is left out.
public struct TrainingSampleList: Sendable {
    public var samples: [TrainingSample]
    public var problems: [String]
    public var warnings: [String]

    public static func check(files: [String], classCount: Int, maxPixels: Int = ImageDecoder.defaultMaxPixels) -> TrainingSampleList {
        var out = TrainingSampleList(samples: [], problems: [], warnings: [])
        for file in files {
            do {
                let labels = try LabelFile.read(imagePath: file, classCount: classCount)
                if let warning = labels.warning(imagePath: file) { out.warnings.append(warning) }
                let image = try ImageDecoder.decode(contentsOf: file, maxPixels: maxPixels)
                guard image.width >= 10, image.height >= 10 else {
                    out.problems.append("\(file): image size \(image.width)×\(image.height) is under 10 pixels (ignored)")
                    continue
                }
                out.samples.append(TrainingSample(path: file, labels: labels.labels))
            } catch {
                out.problems.append("\(error) (ignored)")
            }
        }
        return out
    }
}
