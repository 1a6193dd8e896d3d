import Foundation

/// The per-epoch lr factor lf(epoch) of BaseTrainer._setup_scheduler, applied by torch's LambdaLR as
/// `lr = initial_lr · lf(epoch)` at the start of every epoch (epochs count from 0).
///   linear (default): max(1 − epoch/epochs, 0) · (1 − lrf) + lrf
///   cosine (cos_lr):  one_cycle(1, lrf, epochs) = max((1 − cos(epoch·π/epochs)) / 2, 0) · (lrf − 1) + 1
public struct LearningRateSchedule: Equatable, Sendable {
    public enum Curve: Sendable { case linear, cosine }

    public let curve: Curve
    public let epochs: Int
    /// lrf: the final lr as a fraction of lr0.
    public let finalFraction: Double

    public init(curve: Curve, epochs: Int, finalFraction: Double) throws {
        guard epochs > 0 else { throw OptimizerError("epochs must be positive, got \(epochs)") }
        self.curve = curve; self.epochs = epochs; self.finalFraction = finalFraction
    }

    public func factor(epoch: Int) -> Double {
        let x = Double(epoch), steps = Double(epochs), lrf = finalFraction
        switch curve {
        case .linear:
            return max(1 - x / steps, 0) * (1.0 - lrf) + lrf
        case .cosine:
            return max((1 - cos(x * Double.pi / steps)) / 2, 0) * (lrf - 1) + 1
        }
    }
}
