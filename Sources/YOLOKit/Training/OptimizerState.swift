/// What an optimizer carries from one step to the next, as a resumed run needs it back: per-parameter buffers by
/// torch's state names ("momentum", "exp_avg", …; an empty buffer: not stepped yet) and per-parameter step counts
/// (Adam's bias correction; empty for the others).
public struct OptimizerState: Sendable, Equatable {
    public var slots: [String: [[Float]]]
    public var steps: [Int]

    public init(slots: [String: [[Float]]], steps: [Int] = []) {
        self.slots = slots
        self.steps = steps
    }

    /// Slot `name`, which must have a buffer (maybe empty) for each parameter `current` has one for.
    func slot(_ name: String, like current: [[Float]]) throws -> [[Float]] {
        guard let s = slots[name], s.count == current.count else {
            throw OptimizerError("the saved optimizer state has no '\(name)' for each of the \(current.count) parameters")
        }
        return s
    }
}
