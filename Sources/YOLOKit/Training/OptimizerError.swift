/// A training setting or parameter layout the optimizer code cannot work with: an unknown or unimplemented
/// optimizer name, a tensor whose values do not fill its shape, a duplicate name, an EMA fed a different model.
public struct OptimizerError: Error, CustomStringConvertible, Equatable, Sendable {
    public let reason: String

    public init(_ reason: String) { self.reason = reason }

    public var description: String { reason }
}
