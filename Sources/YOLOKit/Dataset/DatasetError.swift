/// A dataset file (yaml, image list, label file, COCO json) that cannot be used: names the file, the line when
/// there is one, and the reason, on one line.
public struct DatasetError: Error, CustomStringConvertible, Equatable, Sendable {
    public let path: String
    public let line: Int?
    public let reason: String

    public init(path: String, line: Int? = nil, reason: String) {
        self.path = ModelLoadError.oneLine(path)
        self.line = line
        self.reason = ModelLoadError.oneLine(reason)
    }

    public var description: String {
        if let line { return "\(path):\(line): \(reason)" }
        return "\(path): \(reason)"
    }
}
