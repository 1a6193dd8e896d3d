import Foundation

/// The optimizers BaseTrainer.build_optimizer knows, by their torch class names.
public enum OptimizerKind: String, CaseIterable, Sendable {
    case sgd = "SGD", muSGD = "MuSGD", adam = "Adam", adamax = "Adamax", adamW = "AdamW", nAdam = "NAdam"
    case rAdam = "RAdam", rmsProp = "RMSprop"

    /// The Adam family takes `betas = (momentum, 0.999)` and has no "momentum" group key.
    public var isAdamFamily: Bool { [.adam, .adamax, .adamW, .nAdam, .rAdam].contains(self) }

    /// Those YOLOKit implements (MuSGD through `OptimizerChoice.makeOptimizer(weightDecay:store:)`).
    public var isImplemented: Bool { [.sgd, .muSGD, .adam, .adamW, .rmsProp].contains(self) }
}

/// The `optimizer=` setting: a named optimizer or "auto".
public enum OptimizerRequest: Equatable, Sendable {
    case auto
    case named(OptimizerKind)

    /// Case-insensitive, as Ultralytics matches names ("rmsprop", "RMSProp", "sgd" …). Throws for unknown names.
    public init(parsing name: String) throws {
        if name.lowercased() == "auto" { self = .auto; return }
        guard let kind = OptimizerKind.allCases.first(where: { $0.rawValue.lowercased() == name.lowercased() }) else {
            throw OptimizerError("unknown optimizer \"\(name)\"; use one of auto, \(OptimizerKind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        self = .named(kind)
    }
}

/// What build_optimizer settles on: the optimizer, lr0, momentum, and the warmup bias lr (auto sets it to 0).
public struct OptimizerChoice: Equatable, Sendable {
    public let kind: OptimizerKind
    public let learningRate: Double
    public let momentum: Double
    public let warmupBiasLearningRate: Double

    /// Ultralytics' auto threshold: above this many iterations MuSGD, else AdamW.
    public static let autoIterationThreshold = 10_000

    /// build_optimizer's choice. For `.auto` (8.4.190): lr_fit = round(0.002·5 / (4 + nc), 6) with nc the dataset's
    /// class count (10 when the data has none); iterations > 10000 → MuSGD(lr 0.01, momentum 0.9), else
    /// AdamW(lr_fit, momentum 0.9); lr0 and momentum given are ignored and warmup_bias_lr becomes 0.
    public static func resolve(_ request: OptimizerRequest, learningRate: Double, momentum: Double,
                               warmupBiasLearningRate: Double, classCount: Int?, iterations: Int) -> OptimizerChoice {
        switch request {
        case .named(let kind):
            return OptimizerChoice(kind: kind, learningRate: learningRate, momentum: momentum, warmupBiasLearningRate: warmupBiasLearningRate)
        case .auto:
            let nc = classCount ?? 10
            let fitted = roundedToSixDecimals(0.002 * 5 / Double(4 + nc))
            return iterations > autoIterationThreshold
                ? OptimizerChoice(kind: .muSGD, learningRate: 0.01, momentum: 0.9, warmupBiasLearningRate: 0)
                : OptimizerChoice(kind: .adamW, learningRate: fitted, momentum: 0.9, warmupBiasLearningRate: 0)
        }
    }

    /// The `iterations` _build_train_pipeline passes to the auto rule: ceil(images / max(batch, nbs)) · epochs.
    public static func autoIterations(imageCount: Int, batchSize: Int, nominalBatchSize: Int = 64, epochs: Int) -> Int {
        let perEpoch = max(batchSize, nominalBatchSize)
        return (imageCount + perEpoch - 1) / perEpoch * epochs
    }

    /// Python's round(x, 6): the double nearest the correctly rounded 6-decimal value (ties to even), which is
    /// what C's "%.6f" prints.
    static func roundedToSixDecimals(_ x: Double) -> Double {
        var text = [CChar](repeating: 0, count: 400)  // %.6f of the largest double has 316 characters
        text.withUnsafeMutableBufferPointer { buffer in
            _ = withVaList([x]) { vsnprintf(buffer.baseAddress, buffer.count, "%.6f", $0) }
        }
        return Double(String(cString: text)) ?? x
    }

    /// The three groups as build_optimizer sets them: lr0 everywhere; momentum on SGD / RMSprop groups; weight
    /// decay `weightDecay` (already scaled by `BatchAccumulation`) on pg0 only.
    public func groups(weightDecay: Double) -> [OptimizerGroupSettings] {
        ultralyticsGroups(learningRate: learningRate, momentum: kind.isAdamFamily ? nil : momentum, weightDecay: weightDecay)
    }

    /// The torch optimizer build_optimizer constructs, over `parameterCount` parameters: SGD with Nesterov,
    /// Adam / AdamW with betas (momentum, 0.999) and eps 1e-8, RMSprop with torch's alpha 0.99 and eps 1e-8.
    /// Throws for the ones YOLOKit does not implement (Adamax, NAdam, RAdam) and for MuSGD, whose groups depend on
    /// the tensors (use `makeOptimizer(weightDecay:store:)`).
    public func makeOptimizer(weightDecay: Double, parameterCount: Int) throws -> any ParameterOptimizer {
        let groups = groups(weightDecay: weightDecay)
        switch kind {
        case .sgd:
            return try SGDOptimizer(groups: groups, nesterov: true, parameterCount: parameterCount)
        case .adam, .adamW:
            return try AdamOptimizer(groups: groups, beta1: momentum, beta2: 0.999, epsilon: 1e-8,
                                     weightDecayStyle: kind == .adamW ? .decoupled : .l2, parameterCount: parameterCount)
        case .rmsProp:
            return try RMSPropOptimizer(groups: groups, parameterCount: parameterCount)
        case .muSGD:
            throw OptimizerError("MuSGD's groups depend on each tensor's shape and on the Detect head: make it with makeOptimizer(weightDecay:store:)")
        case .adamax, .nAdam, .rAdam:
            throw OptimizerError("the \(kind.rawValue) optimizer is not implemented; choose SGD, MuSGD, Adam, AdamW or RMSprop")
        }
    }

    /// As `makeOptimizer(weightDecay:parameterCount:)`, MuSGD included: its 8 groups from the store's tensor shapes
    /// and the Detect head's class branch (`MuSGDOptimizer.detectClassBranchParameters`), its Newton–Schulz
    /// products on `gemm`.
    public func makeOptimizer(weightDecay: Double, store: ParameterStore, gemm: any GEMMBackend = SwiftGEMM()) throws -> any ParameterOptimizer {
        guard kind == .muSGD else { return try makeOptimizer(weightDecay: weightDecay, parameterCount: store.parameters.count) }
        return try MuSGDOptimizer(store: store, boosted: MuSGDOptimizer.detectClassBranchParameters(in: store), learningRate: learningRate,
                                  momentum: momentum, weightDecay: weightDecay, gemm: gemm)
    }
}

/// Gradient accumulation and the weight decay scaled to it (BaseTrainer._build_train_pipeline):
///   accumulate = max(round(nbs / batch), 1)                    (Python round: ties to even)
///   weight_decay = weight_decay · batch · accumulate / nbs     (with that uncapped accumulate)
///   accumulate = min(accumulate, batchesPerEpoch · epochs)     (the cap; not in `time=` mode)
public struct BatchAccumulation: Equatable, Sendable {
    public let nominalBatchSize: Int
    /// Batches whose gradients add up before each optimizer step, once warmup is over.
    public let accumulate: Int
    public let scaledWeightDecay: Double

    /// `batchesPerEpoch`/`epochs` nil skips the cap (time mode).
    public init(batchSize: Int, weightDecay: Double, nominalBatchSize: Int = 64, batchesPerEpoch: Int? = nil, epochs: Int? = nil) throws {
        guard batchSize > 0, nominalBatchSize > 0 else { throw OptimizerError("batch (\(batchSize)) and nbs (\(nominalBatchSize)) must be positive") }
        let uncapped = max(Int((Double(nominalBatchSize) / Double(batchSize)).rounded(.toNearestOrEven)), 1)
        self.nominalBatchSize = nominalBatchSize
        scaledWeightDecay = weightDecay * Double(batchSize) * Double(uncapped) / Double(nominalBatchSize)
        if let batchesPerEpoch, let epochs {
            accumulate = min(uncapped, batchesPerEpoch * epochs)
        } else {
            accumulate = uncapped
        }
    }
}
