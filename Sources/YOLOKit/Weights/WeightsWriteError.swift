/// A weights file that could not be written: the destination and the reason (an inconsistent tensor, a
/// file-system failure). Nothing is left at the destination when this is thrown.
public struct WeightsWriteError: Error, CustomStringConvertible, Equatable, Sendable {
    public let path: String
    public let reason: String

    public init(path: String, reason: String) {
        self.path = path
        self.reason = ModelLoadError.oneLine(reason)
    }

    public var description: String { "\(path): \(reason)" }
}
