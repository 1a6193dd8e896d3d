import Foundation
import XCTest
@testable import YOLOKit

/// The fixture scripts/reference/optim_golden.py writes (Ultralytics' build_optimizer, _setup_scheduler,
/// _get_warmup_iterations, optimizer_step and ModelEMA, torch's optimizers and clip_grad_norm_, on a tiny model).
struct OptimGolden: Decodable {
    struct Parameter: Decodable { let name: String; let shape: [Int]; let kind: String; let frozen: Bool; let values: [Float] }
    struct Buffer: Decodable { let name: String; let shape: [Int]; let values: [Float] }
    struct Model: Decodable { let parameters: [Parameter]; let buffers: [Buffer]; let float_state_dict_order: [String] }
    struct Requested: Decodable { let optimizer: String; let lr0: Double; let momentum: Double; let warmup_bias_lr: Double }
    struct Settings: Decodable {
        let lrf: Double; let cos_lr: Bool; let warmup_epochs: Double; let warmup_momentum: Double
        let weight_decay: Double; let nbs: Int; let momentum_arg: Double
    }
    struct Chosen: Decodable {
        let optimizer: String; let lr0: Double; let warmup_bias_lr: Double; let initial_lr: [Double]
        let momentum: [Double?]; let betas: [[Double]?]; let eps: [Double?]; let nesterov: [Bool?]; let weight_decay: [Double]
    }
    struct Iteration: Decodable { let ni: Int; let epoch: Int; let accumulate: Int; let stepped: Bool; let lr: [Double]; let momentum: [Double?] }
    struct Step: Decodable { let ni: Int; let total_norm: Float; let weights: [String: [Float]]; let ema: [String: [Float]]; let ema_updates: Int }
    struct Run: Decodable {
        let name: String; let batch: Int; let nb: Int; let epochs: Int; let dataset_size: Int; let nc: Int
        let requested: Requested; let settings: Settings; let scaled_weight_decay: Double; let iterations: Int
        let warmup_iterations: Int; let accumulate: Int; let groups: [String: Int]; let chosen: Chosen
        let iterations_log: [Iteration]; let steps: [Step]
    }
    struct Auto: Decodable { let nc: Int?; let iterations: Int; let optimizer: String; let lr0: Double; let momentum: Double; let warmup_bias_lr: Double }
    struct WarmupCount: Decodable { let warmup_epochs: Double; let epochs: Int; let nb: Int; let nw: Int }
    struct WarmupAccumulate: Decodable { let nw: Int; let acc0: Int; let ni: Int; let accumulate: Int }
    struct WarmupInterp: Decodable { let nw: Int; let ni: Int; let y0: Double; let y1: Double; let y: Double }
    struct WarmupSection: Decodable { let counts: [WarmupCount]; let accumulate: [WarmupAccumulate]; let interp: [WarmupInterp] }
    struct Lambda: Decodable { let cos_lr: Bool; let epochs: Int; let lrf: Double; let factors: [Double] }
    struct Decay: Decodable { let batch: Int; let nbs: Int; let weight_decay: Double; let accumulate: Int; let scaled: Double }
    struct Clip: Decodable { let max_norm: Float; let grads: [[Float]]; let total_norm: Float; let clipped: [[Float]] }
    struct NewtonSchulz: Decodable { let rows: Int; let cols: Int; let input: [Float]; let output: [Float] }
    struct MuSGDSection: Decodable { let model: Model; let runs: [Run]; let newton_schulz: [NewtonSchulz] }

    let ultralytics: String
    let model: Model
    let runs: [Run]
    let auto: [Auto]
    let warmup: WarmupSection
    let lambdas: [Lambda]
    let decay: [Decay]
    let clip: [Clip]
    let musgd: MuSGDSection

    static func load() throws -> OptimGolden {
        try JSONDecoder().decode(OptimGolden.self, from: Data(readBytes(TestPaths.fixture("optim/optim_golden.json"))))
    }

    /// The tiny model as the integrator would hand it over: kinds from the module types, the frozen DFL conv.
    func makeStore() throws -> ParameterStore { try Self.makeStore(model) }

    static func makeStore(_ model: Model) throws -> ParameterStore {
        try ParameterStore(
            parameters: model.parameters.map {
                ParameterStore.ParameterSpec(name: $0.name, shape: $0.shape, kind: ParameterKind(rawValue: $0.kind)!,
                                             isFrozen: $0.frozen, values: $0.values)
            },
            buffers: model.buffers.map { (name: $0.name, shape: $0.shape, values: $0.values) })
    }

    /// The script's seeded stand-in for gradients and running statistics: a double, rounded to float32.
    static func fakeValue(scale: Double, tensor: Int, ni: Int, j: Int) -> Float {
        Float(scale * sin(0.7 * Double(j) + 1.3 * Double(tensor) + 0.37 * Double(ni) + 0.5))
    }
}

/// ‖ours − golden‖ / ‖golden‖ (norm-wise per tensor).
private func relativeError(_ ours: [Float], _ golden: [Float]) -> Double {
    precondition(ours.count == golden.count)
    var diff = 0.0, norm = 0.0
    for (a, b) in zip(ours, golden) { diff += Double(a - b) * Double(a - b); norm += Double(b) * Double(b) }
    return diff.squareRoot() / max(norm.squareRoot(), 1e-30)
}

private func assertNear(_ ours: Double?, _ golden: Double?, tolerance: Double, _ what: @autoclosure () -> String,
                        file: StaticString = #filePath, line: UInt = #line) {
    guard let ours, let golden else { XCTAssertEqual(ours, golden, what(), file: file, line: line); return }
    XCTAssertLessThanOrEqual(abs(ours - golden), tolerance * max(1, abs(golden)), "\(what()): \(ours) vs \(golden)", file: file, line: line)
}

final class OptimizerTests: XCTestCase {
    /// Weights and EMA after each step: norm-wise relative error per tensor (measured ≤ 2e-7; float32 kernels in a
    /// slightly different operation order than torch's vectorized ones).
    static let weightTolerance = 1e-6
    /// lr / momentum per iteration: the same double arithmetic as Python and numpy.
    static let scheduleTolerance = 1e-12

    /// The whole optimizer side of training against Ultralytics + torch, per scenario: SGD (Nesterov, linear lr,
    /// bias warmup from 0.1), auto → AdamW (lr_fit, cosine lr, warmup bias lr 0), Adam (L2 decay, 4-batch
    /// accumulation), RMSprop (no accumulation), AdamW without warmup, all through `TrainingOptimization` (the
    /// assembly BaseTrainer does) as the integrator will drive it. Each checks the choice, the groups, every
    /// iteration's lrs / momentum / accumulate / step decision, and after each step the gradient norm, every
    /// weight and the EMA of every float state-dict entry, BatchNorm running statistics included.
    func testTrainingRunsEqualUltralytics() throws {
        let golden = try OptimGolden.load()
        XCTAssertEqual(golden.ultralytics, "8.4.190")
        var worst = (weights: 0.0, ema: 0.0)
        for run in golden.runs { try check(run, model: golden.model, tolerance: Self.weightTolerance, worst: &worst) }
        print("optimizer parity: worst weight error \(worst.weights), worst EMA error \(worst.ema)")
    }


    /// MuSGD as Ultralytics runs it: optimizer=auto above 10000 iterations (warmup bias lr 0) and MuSGD named (bias
    /// warmup from 0.1), on a tiny model whose head conv is a class branch (`cv3`: lr × 3): the 8 groups, every
    /// iteration's lrs / momentum, weights and EMA after every step.
    func testMuSGDRunsEqualUltralytics() throws {
        let golden = try OptimGolden.load()
        var worst = (weights: 0.0, ema: 0.0)
        for run in golden.musgd.runs {
            XCTAssertEqual(run.chosen.optimizer, "MuSGD", run.name)
            try check(run, model: golden.musgd.model, tolerance: Self.weightTolerance, worst: &worst)
        }
        print("MuSGD parity: worst weight error \(worst.weights), worst EMA error \(worst.ema)")
    }

    /// zeropower_via_newtonschulz5 against torch's bf16 result on both backends (measured: equal bit for bit on
    /// these matrices; allowed: 1e-3 norm-wise, a quarter of one bf16 ulp, for a product summed in another order
    /// that rounds the other way).
    func testNewtonSchulzEqualsUltralyticsInBFloat16() throws {
        let golden = try OptimGolden.load()
        for matrix in golden.musgd.newton_schulz {
            for gemm in [OpenBLASGEMM(threads: 1) as any GEMMBackend, SwiftGEMM(threads: 2)] {
                let ours = MuSGDOptimizer.newtonSchulz(matrix.input, rows: matrix.rows, columns: matrix.cols, gemm: gemm)
                let error = relativeError(ours, matrix.output)
                XCTAssertLessThanOrEqual(error, 1e-3, "\(matrix.rows)×\(matrix.cols) \(gemm.name)")
                print("Newton–Schulz \(matrix.rows)×\(matrix.cols) \(gemm.name): relative error \(error)")
                XCTAssertTrue(ours.allSatisfy { MuSGDOptimizer.bfloat16($0) == $0 }, "bf16 values")
            }
        }
        XCTAssertEqual(MuSGDOptimizer.bfloat16(1 + 1.0 / 256), 1)  // a tie rounds to even
        XCTAssertEqual(MuSGDOptimizer.bfloat16(1 + 3.0 / 256), 1 + 4.0 / 256)
        XCTAssertEqual(MuSGDOptimizer.bfloat16(1 + 1.0 / 256 + 1.0 / 4096), 1 + 2.0 / 256)
    }

    /// One scenario through `TrainingOptimization`, as the integrator will drive it (see testTrainingRunsEqualUltralytics).
    func check(_ run: OptimGolden.Run, model: OptimGolden.Model, tolerance: Double, worst: inout (weights: Double, ema: Double)) throws {
        do {
            var store = try OptimGolden.makeStore(model)
            var settings = OptimizerSettings()
            settings.optimizer = run.requested.optimizer
            settings.lr0 = run.requested.lr0
            settings.momentum = run.requested.momentum
            settings.warmupBiasLR = run.requested.warmup_bias_lr
            settings.lrf = run.settings.lrf
            settings.cosineLR = run.settings.cos_lr
            settings.weightDecay = run.settings.weight_decay
            settings.warmupEpochs = run.settings.warmup_epochs
            settings.warmupMomentum = run.settings.warmup_momentum
            settings.nominalBatchSize = run.settings.nbs
            var optimization = try TrainingOptimization(settings: settings, store: store, batchSize: run.batch, batchesPerEpoch: run.nb,
                                                        epochs: run.epochs, imageCount: run.dataset_size, classCount: run.nc)
            XCTAssertEqual(optimization.accumulation.accumulate, run.accumulate, run.name)
            XCTAssertEqual(optimization.accumulation.scaledWeightDecay, run.scaled_weight_decay, run.name)
            XCTAssertEqual(OptimizerChoice.autoIterations(imageCount: run.dataset_size, batchSize: run.batch, nominalBatchSize: run.settings.nbs,
                                                          epochs: run.epochs), run.iterations, run.name)
            let choice = optimization.choice
            XCTAssertEqual(choice.kind.rawValue, run.chosen.optimizer, run.name)
            XCTAssertEqual(choice.learningRate, run.chosen.lr0, run.name)
            XCTAssertEqual(choice.warmupBiasLearningRate, run.chosen.warmup_bias_lr, run.name)
            let optimizer = optimization.optimizer
            for (p, parameter) in store.parameters.enumerated() {
                let group = (optimizer as? MuSGDOptimizer)?.groupOfParameter[p] ?? parameter.group.rawValue
                XCTAssertEqual(group, run.groups[parameter.name], "\(run.name): group of \(parameter.name)")
            }
            XCTAssertEqual(optimizer.groups.map(\.learningRate), run.chosen.initial_lr, run.name)
            XCTAssertEqual(optimizer.groups.map(\.momentum), run.chosen.momentum, run.name)
            XCTAssertEqual(optimizer.groups.map(\.weightDecay), run.chosen.weight_decay, run.name)
            if let adam = optimizer as? AdamOptimizer {
                XCTAssertEqual(run.chosen.betas, Array(repeating: [adam.beta1, adam.beta2], count: 3), run.name)
                XCTAssertEqual(run.chosen.eps, Array(repeating: adam.epsilon, count: 3), run.name)
                XCTAssertEqual(adam.weightDecayStyle, choice.kind == .adamW ? .decoupled : .l2, run.name)
            }
            if let sgd = optimizer as? SGDOptimizer { XCTAssertEqual(run.chosen.nesterov, Array(repeating: sgd.nesterov, count: 3)) }
            if let musgd = optimizer as? MuSGDOptimizer { XCTAssertEqual(run.chosen.nesterov, Array(repeating: musgd.nesterov, count: 8)) }
            XCTAssertEqual(optimization.schedule.warmup.iterations, run.warmup_iterations, run.name)
            var log = run.iterations_log.makeIterator(), steps = run.steps.makeIterator()
            for epoch in 0..<run.epochs {
                for batch in 0..<run.nb {
                    let ni = optimization.beginIteration(batch: batch, epoch: epoch)
                    let expected = try XCTUnwrap(log.next())
                    XCTAssertEqual(ni, expected.ni)
                    XCTAssertEqual(optimization.schedule.accumulate, expected.accumulate, "\(run.name) ni \(ni): accumulate")
                    for (k, group) in optimization.optimizer.groups.enumerated() {
                        assertNear(group.learningRate, expected.lr[k], tolerance: Self.scheduleTolerance, "\(run.name) ni \(ni) pg\(k) lr")
                        assertNear(group.momentum, expected.momentum[k], tolerance: Self.scheduleTolerance, "\(run.name) ni \(ni) pg\(k) momentum")
                    }
                    // "forward" (running statistics) and "backward" (gradients added in), as the script does
                    for (b, buffer) in store.buffers.enumerated() {
                        var values = (0..<buffer.values.count).map { OptimGolden.fakeValue(scale: 0.3, tensor: b, ni: ni, j: $0) }
                        if buffer.name.hasSuffix("running_var") { values = values.map { abs($0) + 0.5 } }
                        try store.setValues(values, ofBufferAt: b)
                    }
                    let scale = ni % 2 == 0 ? 0.5 : 2.0
                    for (t, parameter) in store.parameters.enumerated() where !parameter.isFrozen {
                        let gradient = (0..<parameter.values.count).map { OptimGolden.fakeValue(scale: scale, tensor: t, ni: ni, j: $0) }
                        try store.accumulateGradient(gradient, intoParameterAt: t)
                    }
                    let stepNorm = try optimization.endIteration(ni, store: &store)
                    XCTAssertEqual(stepNorm != nil, expected.stepped, "\(run.name) ni \(ni): step or not")
                    guard let norm = stepNorm else { continue }
                    let expectedStep = try XCTUnwrap(steps.next())
                    let ema = optimization.ema
                    XCTAssertEqual(expectedStep.ni, ni)
                    assertNear(Double(norm), Double(expectedStep.total_norm), tolerance: 1e-6, "\(run.name) ni \(ni): total norm")
                    XCTAssertEqual(ema.updates, expectedStep.ema_updates)
                    XCTAssertTrue(store.parameters.allSatisfy { $0.gradient.allSatisfy { $0 == 0 } }, "zero_grad")
                    for (p, parameter) in store.parameters.enumerated() {
                        let weightError = relativeError(parameter.values, try XCTUnwrap(expectedStep.weights[parameter.name]))
                        let emaError = relativeError(ema.parameterValues[p], try XCTUnwrap(expectedStep.ema[parameter.name]))
                        XCTAssertLessThanOrEqual(weightError, tolerance, "\(run.name) ni \(ni) \(parameter.name)")
                        XCTAssertLessThanOrEqual(emaError, tolerance, "\(run.name) ni \(ni) EMA \(parameter.name)")
                        worst = (max(worst.weights, weightError), max(worst.ema, emaError))
                    }
                    for (b, buffer) in store.buffers.enumerated() {
                        let emaError = relativeError(ema.bufferValues[b], try XCTUnwrap(expectedStep.ema[buffer.name]))
                        XCTAssertLessThanOrEqual(emaError, tolerance, "\(run.name) ni \(ni) EMA \(buffer.name)")
                        worst.ema = max(worst.ema, emaError)
                    }
                    // the EMA covers exactly the float state-dict entries
                    XCTAssertEqual(Set(expectedStep.ema.keys), Set(store.parameters.map(\.name) + store.buffers.map(\.name)))
                }
            }
            XCTAssertNil(log.next(), "\(run.name): iterations left over")
            XCTAssertNil(steps.next(), "\(run.name): steps left over")
        }
    }

    /// optimizer=auto picks what build_optimizer picks for every (nc, iterations), including the thresholds.
    func testAutoChoiceEqualsUltralytics() throws {
        for row in try OptimGolden.load().auto {
            let choice = OptimizerChoice.resolve(.auto, learningRate: 0.01, momentum: 0.937, warmupBiasLearningRate: 0.1,
                                                 classCount: row.nc, iterations: row.iterations)
            let what = "nc \(row.nc.map(String.init) ?? "none") iterations \(row.iterations)"
            XCTAssertEqual(choice.kind.rawValue, row.optimizer, what)
            XCTAssertEqual(choice.learningRate, row.lr0, what)
            XCTAssertEqual(choice.momentum, row.momentum, what)
            XCTAssertEqual(choice.warmupBiasLearningRate, row.warmup_bias_lr, what)
        }
    }

    func testWarmupEqualsUltralytics() throws {
        let golden = try OptimGolden.load().warmup
        for row in golden.counts {
            XCTAssertEqual(Warmup.iterationCount(warmupEpochs: row.warmup_epochs, epochs: row.epochs, batchesPerEpoch: row.nb), row.nw,
                           "warmup_epochs \(row.warmup_epochs) epochs \(row.epochs) nb \(row.nb)")
        }
        for row in golden.accumulate {
            let warmup = Warmup(iterations: row.nw, nominalAccumulate: row.acc0)
            XCTAssertEqual(warmup.accumulate(atIteration: row.ni), row.accumulate, "nw \(row.nw) acc0 \(row.acc0) ni \(row.ni)")
        }
        for row in golden.interp {
            XCTAssertEqual(Warmup.interpolate(row.ni, over: row.nw, from: row.y0, to: row.y1), row.y, "np.interp(\(row.ni), [0, \(row.nw)], [\(row.y0), \(row.y1)])")
        }
    }

    func testLearningRateLambdasEqualUltralytics() throws {
        for row in try OptimGolden.load().lambdas {
            let schedule = try LearningRateSchedule(curve: row.cos_lr ? .cosine : .linear, epochs: row.epochs, finalFraction: row.lrf)
            for (epoch, factor) in row.factors.enumerated() {
                assertNear(schedule.factor(epoch: epoch), factor, tolerance: 1e-15, "cos \(row.cos_lr) epochs \(row.epochs) lrf \(row.lrf) epoch \(epoch)")
            }
        }
    }

    func testWeightDecayScalingEqualsUltralytics() throws {
        for row in try OptimGolden.load().decay {
            let accumulation = try BatchAccumulation(batchSize: row.batch, weightDecay: row.weight_decay, nominalBatchSize: row.nbs)
            XCTAssertEqual(accumulation.accumulate, row.accumulate, "batch \(row.batch)")
            XCTAssertEqual(accumulation.scaledWeightDecay, row.scaled, "batch \(row.batch)")
        }
        // the cap to the run's batch count applies to accumulate, not to the decay scaling
        let capped = try BatchAccumulation(batchSize: 8, weightDecay: 0.0005, batchesPerEpoch: 2, epochs: 3)
        XCTAssertEqual(capped.accumulate, 6)
        XCTAssertEqual(capped.scaledWeightDecay, 0.0005 * 8 * 8 / 64)
    }

    /// clip_grad_norm_(max_norm=10): below the threshold nothing changes, above it every gradient is scaled.
    func testGradientClippingEqualsTorch() throws {
        for (k, row) in try OptimGolden.load().clip.enumerated() {
            var store = try ParameterStore(parameters: row.grads.enumerated().map {
                ParameterStore.ParameterSpec(name: "p\($0.offset)", shape: [$0.element.count], kind: .weight,
                                             values: [Float](repeating: 0, count: $0.element.count))
            })
            for (i, gradient) in row.grads.enumerated() { try store.accumulateGradient(gradient, intoParameterAt: i) }
            let norm = GradientClipping.clip(&store, maxNorm: row.max_norm)
            assertNear(Double(norm), Double(row.total_norm), tolerance: 1e-6, "case \(k): total norm")
            for (i, clipped) in row.clipped.enumerated() {
                XCTAssertLessThanOrEqual(relativeError(store.parameters[i].gradient, clipped), 1e-6, "case \(k) tensor \(i)")
            }
            if row.total_norm < row.max_norm { XCTAssertEqual(store.parameters.map(\.gradient), row.grads, "case \(k): untouched") }
        }
    }

    /// The momentum-free paths no golden run takes, against their definitions.
    func testMomentumFreeUpdates() throws {
        var store = try ParameterStore(parameters: [.init(name: "w", shape: [2], kind: .weight, values: [1, -2])])
        try store.accumulateGradient([0.5, 0.25], intoParameterAt: 0)
        var sgd = try SGDOptimizer(groups: ultralyticsGroups(learningRate: 0.1, momentum: 0, weightDecay: 0.01), nesterov: false, parameterCount: 1)
        sgd.step(&store)
        XCTAssertEqual(store.parameters[0].values, [1 - 0.1 * (0.5 + 0.01 * 1), -2 - 0.1 * (0.25 + 0.01 * -2)] as [Float])
        XCTAssertEqual(sgd.momentumBuffers[0], [], "no buffer without momentum")

        var rms = try RMSPropOptimizer(groups: ultralyticsGroups(learningRate: 0.01, momentum: 0, weightDecay: 0), parameterCount: 1)
        let before = store.parameters[0].values
        rms.step(&store)
        for i in 0..<2 {
            let g: Float = [0.5, 0.25][i]
            XCTAssertEqual(store.parameters[0].values[i], before[i] + (-0.01 * g) / ((0.01 as Float * g * g).squareRoot() + 1e-8))
        }
    }

    func testMistakesGiveClearErrors() throws {
        XCTAssertThrowsError(try OptimizerRequest(parsing: "Lion")) { XCTAssertTrue("\($0)".contains("unknown optimizer \"Lion\"")) }
        XCTAssertEqual(try OptimizerRequest(parsing: "rmsprop"), .named(.rmsProp))
        XCTAssertEqual(try OptimizerRequest(parsing: "RMSProp"), .named(.rmsProp))
        XCTAssertEqual(try OptimizerRequest(parsing: "AUTO"), .auto)
        let big = OptimizerChoice.resolve(.auto, learningRate: 0.01, momentum: 0.937, warmupBiasLearningRate: 0.1, classCount: 80, iterations: 10_001)
        XCTAssertThrowsError(try big.makeOptimizer(weightDecay: 5e-4, parameterCount: 1)) { XCTAssertTrue("\($0)".contains("makeOptimizer(weightDecay:store:)")) }
        let store0 = try OptimGolden.load().makeStore()
        XCTAssertTrue(try big.makeOptimizer(weightDecay: 5e-4, store: store0) is MuSGDOptimizer)
        XCTAssertThrowsError(try OptimizerChoice(kind: .nAdam, learningRate: 0.01, momentum: 0.9, warmupBiasLearningRate: 0)
            .makeOptimizer(weightDecay: 0, store: store0)) { XCTAssertTrue("\($0)".contains("NAdam")) }
        XCTAssertThrowsError(try SGDOptimizer(groups: ultralyticsGroups(learningRate: 0.01, momentum: 0, weightDecay: 0), nesterov: true, parameterCount: 1))

        XCTAssertThrowsError(try ParameterStore(parameters: [.init(name: "a", shape: [2, 2], kind: .weight, values: [1, 2, 3])])) {
            XCTAssertTrue("\($0)".contains("shape [2, 2]"))
        }
        XCTAssertThrowsError(try ParameterStore(parameters: [.init(name: "a", shape: [1], kind: .bias, values: [1])],
                                                buffers: [(name: "a", shape: [1], values: [0])])) { XCTAssertTrue("\($0)".contains("used twice")) }
        var store = try ParameterStore(parameters: [.init(name: "dfl", shape: [1], kind: .weight, isFrozen: true, values: [1]),
                                                    .init(name: "b", shape: [1], kind: .bias, values: [0])])
        XCTAssertThrowsError(try store.accumulateGradient([1], intoParameterAt: 0)) { XCTAssertTrue("\($0)".contains("frozen")) }
        XCTAssertThrowsError(try store.accumulateGradient([1, 2], intoParameterAt: 1))

        var ema = ModelEMA(copying: try ParameterStore(parameters: [.init(name: "x", shape: [3], kind: .weight, values: [0, 0, 0])]))
        var optimizer = try SGDOptimizer(groups: ultralyticsGroups(learningRate: 0.01, momentum: 0.9, weightDecay: 0), nesterov: true, parameterCount: 2)
        try store.accumulateGradient([1], intoParameterAt: 1)
        XCTAssertThrowsError(try OptimizerStep.run(store: &store, optimizer: &optimizer, ema: &ema))
        XCTAssertEqual(store.parameters[1].values, [0], "nothing stepped")
    }

    /// The EMA ramp: d(1) = 0.9999·(1 − e^(−1/2000)), approaching 0.9999.
    func testEMADecayRamp() throws {
        let ema = ModelEMA(copying: try ParameterStore(parameters: []))
        XCTAssertEqual(ema.decay(atUpdate: 1), 0.9999 * (1 - exp(-1.0 / 2000)))
        XCTAssertEqual(ema.decay(atUpdate: 100_000), 0.9999, accuracy: 1e-12)
    }
}
