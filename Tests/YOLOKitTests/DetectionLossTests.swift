import Foundation
import XCTest
@testable import YOLOKit

/// The detection loss against Ultralytics' v8DetectionLoss (goldens from scripts/reference/loss_golden.py) and its
/// gradient against float64 finite differences.
final class DetectionLossTests: XCTestCase {
    static let cases = ["nc3_mixed", "nc80_mixed", "empty_batch"]

    func testLossComponentsMatchUltralytics() throws {
        for name in Self.cases {
            let golden = try LossGolden.load(name)
            let result = try golden.run()
            let mine = [result.boxLoss, result.classLoss, result.dflLoss]
            print("\(name): items \(mine) vs \(golden.lossItems), backpropagated \(result.backpropagated) vs \(golden.backpropagated)")
            for (i, label) in ["box", "cls", "dfl"].enumerated() {
                assertClose(Double(mine[i]), golden.lossItems[i], relative: 1e-4, "\(name) \(label) loss")
            }
            assertClose(Double(result.backpropagated), golden.backpropagated, relative: 1e-4, "\(name) backpropagated scalar")
            assertClose(result.targetScoresSum, golden.assignment.targetScoresSum, relative: 1e-4, "\(name) target_scores_sum")
        }
    }

    func testGradientsMatchAutograd() throws {
        for name in Self.cases {
            let golden = try LossGolden.load(name)
            let result = try golden.run()
            for (l, level) in golden.levels.enumerated() {
                for (what, mine, reference) in [("box", result.gradients[l].boxLogits, try level.floats(\.boxGradient)),
                                                ("class", result.gradients[l].classLogits, try level.floats(\.classGradient))] {
                    XCTAssertEqual(mine.count, reference.count, "\(name) level \(l) \(what)")
                    let (difference, norm) = normDifference(mine, reference)
                    print("\(name) level \(l) \(what) gradient: ‖g − g_ref‖/‖g_ref‖ = \(norm == 0 ? difference : difference / norm)")
                    if norm == 0 {
                        XCTAssertEqual(difference, 0, "\(name) level \(l) \(what): autograd's gradient is zero")
                    } else {
                        XCTAssertLessThan(difference / norm, 1e-3, "\(name) level \(l) \(what) gradient, ‖g − g_ref‖/‖g_ref‖")
                    }
                }
            }
        }
    }

    /// Fg mask and matched gt over every anchor where the golden's assignment does not depend on torch.topk's
    /// tie-breaking (the script checks that); elsewhere every anchor with a positive target score on either side.
    func testAssignmentMatchesUltralytics() throws {
        var comparedTieDependent = false
        for name in Self.cases {
            let golden = try LossGolden.load(name)
            let result = try golden.run()
            var referenceScores: [[Int: (classIndex: Int, score: Double)]] = Array(repeating: [:], count: golden.batchSize)
            for entry in golden.assignment.foreground {
                referenceScores[Int(entry[0])][Int(entry[1])] = (Int(entry[2]), entry[3])
            }
            for b in 0..<golden.batchSize {
                let mine = result.assignments[b]
                let fg = golden.assignment.fgMask[b].map { $0 != 0 }, gtIndex = golden.assignment.targetGTIndex[b]
                XCTAssertEqual(mine.foreground.count, fg.count, "\(name) image \(b) anchors")
                if golden.assignment.tieFree {
                    XCTAssertEqual(mine.foreground, fg, "\(name) image \(b) fg mask")
                    XCTAssertEqual(mine.targetGTIndex, gtIndex, "\(name) image \(b) target gt index")
                } else {
                    comparedTieDependent = true
                    for a in fg.indices where mine.targetScore[a] > 0 || (referenceScores[b][a]?.score ?? 0) > 0 {
                        XCTAssertTrue(fg[a] && mine.foreground[a], "\(name) image \(b) anchor \(a): fg")
                        XCTAssertEqual(mine.targetGTIndex[a], gtIndex[a], "\(name) image \(b) anchor \(a): gt index")
                    }
                    // The only differences allowed: zero-score foreground anchors picked among equal metrics.
                    let differing = fg.indices.filter { fg[$0] != mine.foreground[$0] }
                    print("\(name) image \(b): \(differing.count) zero-score fg anchors differ (of \(fg.filter { $0 }.count) fg)")
                    for a in differing {
                        XCTAssertEqual(mine.targetScore[a], 0, "\(name) image \(b) anchor \(a)")
                        XCTAssertEqual(referenceScores[b][a]?.score ?? 0, 0, "\(name) image \(b) anchor \(a)")
                    }
                }
                for a in fg.indices where mine.foreground[a] && fg[a] {
                    let reference = try XCTUnwrap(referenceScores[b][a], "\(name) image \(b) anchor \(a)")
                    XCTAssertEqual(mine.targetClass[a], reference.classIndex, "\(name) image \(b) anchor \(a) class")
                    XCTAssertEqual(mine.targetScore[a], reference.score, accuracy: 1e-6 + 1e-4 * reference.score,
                                   "\(name) image \(b) anchor \(a) target score")
                }
            }
            if name == "nc3_mixed" {
                XCTAssertTrue(golden.assignment.tieFree, "the crowded nc3 golden must be tie-free to test the whole fg mask")
                XCTAssertGreaterThan(result.assignments[2].foreground.filter { $0 }.count, 30, "crowded image has foreground")
            }
            if name == "empty_batch" { XCTAssertFalse(result.assignments.contains { $0.foreground.contains(true) }) }
        }
        XCTAssertTrue(comparedTieDependent, "the tiny-box golden exercises the tie-dependent comparison")
    }

    /// The analytic gradient of one image's gain-weighted sums, assignment held fixed (as Ultralytics computes it
    /// without gradients), against central differences in float64.
    func testGradientMatchesFiniteDifferences() throws {
        let loss = DetectionLoss(classes: 2, regMax: 16)
        let levels = [(height: 4, width: 4, stride: 8), (height: 2, width: 2, stride: 16)]
        let grid = AnchorGrid(levels: levels)
        var random = SeededRandom(seed: 7)
        var boxLogits = (0..<(64 * grid.count)).map { i in random.normal() - 0.5 * Double((i / grid.count) % 16) }
        let classLogits = (0..<(2 * grid.count)).map { _ in random.normal() - 1 }
        let targets = [DetectionTarget(classIndex: 0, x: 0.4, y: 0.45, width: 0.5, height: 0.6),
                       DetectionTarget(classIndex: 1, x: 0.6, y: 0.6, width: 0.3, height: 0.25)]
        let groundTruth = try loss.pixelBoxes(targets, image: 0, width: 32, height: 32)
        let pixels = grid.pixelPoints
        func predictions(_ d: BoxDistributions) -> [BoxCorners] {
            (0..<grid.count).map { a in
                let box = d.box(anchor: a, at: grid.points[a]), s = Double(grid.strides[a])
                return BoxCorners(x1: box.x1 * s, y1: box.y1 * s, x2: box.x2 * s, y2: box.y2 * s)
            }
        }
        let base = BoxDistributions(logits: boxLogits, anchors: grid.count, regMax: 16)
        let assignment = try TaskAlignedAssigner(topK: 10, alpha: 0.5, beta: 6, minimumSide: 16)
            .assign(classLogits: classLogits, predictedBoxes: predictions(base), anchorPoints: pixels, groundTruth: groundTruth)
        XCTAssertGreaterThan(assignment.targetScore.filter { $0 > 0 }.count, 3, "several weighted foreground anchors")
        // CIoU's α at the base point, held fixed (Ultralytics computes it under no_grad).
        let alphas = (0..<grid.count).map { a -> Double in
            guard assignment.foreground[a] else { return 0 }
            let target = DetectionLoss.gridBox(groundTruth[assignment.targetGTIndex[a]], stride: grid.strides[a])
            return CompleteIoU.alpha(base.box(anchor: a, at: grid.points[a]), target)
        }
        XCTAssertGreaterThan(alphas.max() ?? 0, 1e-3, "the aspect-ratio term takes part")
        func objective(_ box: [Double], _ cls: [Double]) -> Double {
            var gb = [Double](repeating: 0, count: box.count), gc = [Double](repeating: 0, count: cls.count)
            let t = loss.imageTerms(distributions: BoxDistributions(logits: box, anchors: grid.count, regMax: 16), classLogits: cls,
                                    assignment: assignment, groundTruth: groundTruth, grid: grid, ciouAlphas: alphas,
                                    boxGradient: &gb, classGradient: &gc)
            return 7.5 * t.box + 0.5 * t.cls + 1.5 * t.dfl
        }
        var boxGradient = [Double](repeating: 0, count: boxLogits.count), classGradient = [Double](repeating: 0, count: classLogits.count)
        _ = loss.imageTerms(distributions: base, classLogits: classLogits, assignment: assignment, groundTruth: groundTruth,
                            grid: grid, boxGradient: &boxGradient, classGradient: &classGradient)
        XCTAssertEqual(objective(boxLogits, classLogits), {
            var gb = boxGradient, gc = classGradient
            let t = loss.imageTerms(distributions: base, classLogits: classLogits, assignment: assignment, groundTruth: groundTruth,
                                    grid: grid, boxGradient: &gb, classGradient: &gc)
            return 7.5 * t.box + 0.5 * t.cls + 1.5 * t.dfl
        }(), accuracy: 1e-12, "the frozen α equals the computed one at the base point")
        let h = 1e-5
        var numeric = [Double](repeating: 0, count: boxLogits.count)
        for i in boxLogits.indices where assignment.foreground[i % grid.count] || i % 7 == 0 {
            let saved = boxLogits[i]
            boxLogits[i] = saved + h; let up = objective(boxLogits, classLogits)
            boxLogits[i] = saved - h; let down = objective(boxLogits, classLogits)
            boxLogits[i] = saved
            numeric[i] = (up - down) / (2 * h)
        }
        let analytic = boxGradient.indices.map { assignment.foreground[$0 % grid.count] || $0 % 7 == 0 ? boxGradient[$0] : 0 }
        let (difference, norm) = normDifference(analytic, numeric)
        print("finite differences: box ‖g − g_fd‖/‖g_fd‖ = \(difference / norm) (‖g_fd‖ \(norm))")
        XCTAssertGreaterThan(norm, 1e-3)
        XCTAssertLessThan(difference / norm, 1e-6, "box-logit gradient vs finite differences")
        var classNumeric = [Double](repeating: 0, count: classLogits.count), shifted = classLogits
        for i in classLogits.indices {
            shifted[i] = classLogits[i] + h; let up = objective(boxLogits, shifted)
            shifted[i] = classLogits[i] - h; let down = objective(boxLogits, shifted)
            shifted[i] = classLogits[i]
            classNumeric[i] = (up - down) / (2 * h)
        }
        let (classDifference, classNorm) = normDifference(classGradient, classNumeric)
        print("finite differences: class ‖g − g_fd‖/‖g_fd‖ = \(classDifference / classNorm)")
        XCTAssertLessThan(classDifference / classNorm, 1e-6, "class-logit gradient vs finite differences")
    }

    /// CIoU's gradient by central differences, for overlapping, nested, disjoint (clamped intersection) and
    /// enclosing boxes.
    func testCompleteIoUGradientMatchesFiniteDifferences() {
        let target = BoxCorners(x1: 2, y1: 3, x2: 7, y2: 6)
        let boxes = [BoxCorners(x1: 1, y1: 2.5, x2: 5, y2: 7), BoxCorners(x1: 3, y1: 3.5, x2: 6, y2: 5),
                     BoxCorners(x1: 8, y1: 7, x2: 10, y2: 9.5), BoxCorners(x1: 0.5, y1: 1, x2: 9, y2: 8)]
        let h = 1e-6
        for box in boxes {
            let (value, gradient) = CompleteIoU.valueAndGradient(box, target)
            XCTAssertEqual(value, CompleteIoU.value(box, target))
            let alpha = CompleteIoU.alpha(box, target)
            let analytic = [gradient.x1, gradient.y1, gradient.x2, gradient.y2]
            for i in 0..<4 {
                var up = box, down = box
                let paths: [WritableKeyPath<BoxCorners, Double>] = [\.x1, \.y1, \.x2, \.y2]
                up[keyPath: paths[i]] += h; down[keyPath: paths[i]] -= h
                // α held at the base point's value: it is a constant for autograd (no_grad in Ultralytics).
                let numeric = (CompleteIoU.value(up, target, alpha: alpha) - CompleteIoU.value(down, target, alpha: alpha)) / (2 * h)
                XCTAssertEqual(analytic[i], numeric, accuracy: 1e-6 * abs(numeric) + 1e-8, "box \(box) coordinate \(i)")
            }
        }
        XCTAssertEqual(CompleteIoU.value(target, target), 1, accuracy: 1e-6)
    }

    /// The network's per-image maps give the same result as the flat batch arrays.
    func testPerImageFeatureMapsMatchFlatArrays() throws {
        let golden = try LossGolden.load("nc3_mixed")
        let flat = try golden.run()
        let levels = try golden.levels.map { level -> DetectionLevelOutputs in
            let box = try level.floats(\.boxes), cls = try level.floats(\.classes)
            func maps(_ values: [Float], channels: Int) -> [FeatureMap] {
                let shape = TensorShape(channels: channels, height: level.height, width: level.width)
                return (0..<golden.batchSize).map { FeatureMap(shape: shape, values: Array(values[($0 * shape.count)..<(($0 + 1) * shape.count)])) }
            }
            return DetectionLevelOutputs(stride: level.stride, boxMaps: maps(box, channels: 64), classMaps: maps(cls, channels: golden.numClasses))
        }
        let fromMaps = try DetectionLoss(classes: golden.numClasses).compute(levels: levels, targets: golden.perImageTargets())
        XCTAssertEqual(fromMaps.backpropagated, flat.backpropagated)
        for l in levels.indices {
            XCTAssertEqual(fromMaps.gradients[l].boxLogits, flat.gradients[l].boxLogits)
            XCTAssertEqual(fromMaps.gradients[l].classLogits, flat.gradients[l].classLogits)
        }
        let image = flat.assignments[2], dense = image.targetScores(classes: golden.numClasses)
        XCTAssertEqual(dense.count, image.foreground.count * golden.numClasses)
        XCTAssertEqual(dense.reduce(0, +), image.targetScore.reduce(0, +), accuracy: 1e-12)
        XCTAssertGreaterThan(dense.reduce(0, +), 0)
    }

    func testUserErrorsGiveMessages() throws {
        let loss = DetectionLoss(classes: 3)
        let level = DetectionLevelOutputs(stride: 8, height: 2, width: 2, boxLogits: [Float](repeating: 0, count: 64 * 4),
                                          classLogits: [Float](repeating: 0, count: 3 * 4))
        XCTAssertThrowsError(try loss.compute(levels: [level], targets: [[DetectionTarget(classIndex: 3, x: 0.5, y: 0.5, width: 0.2, height: 0.2)]])) {
            XCTAssertEqual("\($0)", "image 0: target class 3 is outside the model's 3 classes")
        }
        XCTAssertThrowsError(try loss.compute(levels: [level], targets: [[], []])) {
            XCTAssertTrue("\($0)".contains("box logits hold 256 values, expected 512"), "\($0)")
        }
        XCTAssertThrowsError(try loss.compute(levels: [level], targets: [[DetectionTarget(classIndex: 1, x: 0.5, y: 0.5, width: 0.2, height: 0.2)]])) {
            XCTAssertTrue("\($0)".contains("the top 10 anchors per box, but the image has only 4 anchors"), "\($0)")
        }
        XCTAssertNoThrow(try loss.compute(levels: [level], targets: [[]]), "no targets: no assignment, no topk")
        XCTAssertThrowsError(try loss.compute(levels: [], targets: [])) { XCTAssertEqual($0 as? DetectionLossError, .noLevels) }
    }

    private func assertClose(_ value: Double, _ reference: Double, relative: Double, _ message: String,
                             file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(value, reference, accuracy: relative * abs(reference) + 1e-7, message, file: file, line: line)
    }
}

/// ‖a − b‖ and ‖b‖ in Double.
private func normDifference<A: BinaryFloatingPoint, B: BinaryFloatingPoint>(_ a: [A], _ b: [B]) -> (Double, Double) {
    var difference = 0.0, norm = 0.0
    for (x, y) in zip(a, b) {
        difference += (Double(x) - Double(y)) * (Double(x) - Double(y))
        norm += Double(y) * Double(y)
    }
    return (difference.squareRoot(), norm.squareRoot())
}

/// Doubles for the synthetic finite-difference case.
extension SeededRandom {
    mutating func uniform() -> Double { Double(next() >> 11) / Double(1 << 53) }
    mutating func normal() -> Double { (-2 * log(max(uniform(), 1e-300))).squareRoot() * cos(2 * .pi * uniform()) }
}

/// One golden of scripts/reference/loss_golden.py.
private struct LossGolden: Decodable {
    struct Hyperparameters: Decodable { let box, cls, dfl: Double; let topk: Int; let alpha, beta: Double }
    struct Level: Decodable {
        let stride, height, width: Int
        let boxes, classes, boxGradient, classGradient: String
        func floats(_ field: KeyPath<Level, String>) throws -> [Float] { try decodeFloats(self[keyPath: field]) }
    }
    struct Targets: Decodable { let batchIndex: [Int]; let classes: [Int]; let boxes: String }
    struct Assignment: Decodable {
        let tieFree: Bool
        let fgMask: [[Int]]
        let targetGTIndex: [[Int]]
        let foreground: [[Double]]
        let targetScoresSum: Double
    }

    let name: String
    let numClasses, regMax, batchSize: Int
    let hyperparameters: Hyperparameters
    let levels: [Level]
    let targets: Targets
    let lossItems: [Double]
    let backpropagated: Double
    let assignment: Assignment

    static func load(_ name: String) throws -> LossGolden {
        let data = try Data(contentsOf: URL(fileURLWithPath: TestPaths.fixture("loss/\(name).json")))
        return try JSONDecoder().decode(LossGolden.self, from: data)
    }

    func run() throws -> DetectionLossResult {
        let h = hyperparameters
        let loss = DetectionLoss(classes: numClasses, regMax: regMax,
                                 hyperparameters: DetectionLossHyperparameters(box: h.box, cls: h.cls, dfl: h.dfl, topK: h.topk,
                                                                               alpha: h.alpha, beta: h.beta))
        XCTAssertEqual(loss.hyperparameters, .ultralyticsDefaults, "the goldens use Ultralytics' defaults")
        let outputs = try levels.map {
            DetectionLevelOutputs(stride: $0.stride, height: $0.height, width: $0.width,
                                  boxLogits: try $0.floats(\.boxes), classLogits: try $0.floats(\.classes))
        }
        return try loss.compute(levels: outputs, targets: perImageTargets())
    }

    /// The batch's (batch_idx, cls, xywh) rows as per-image lists.
    func perImageTargets() throws -> [[DetectionTarget]] {
        let boxes = try decodeFloats(targets.boxes)
        var perImage = [[DetectionTarget]](repeating: [], count: batchSize)
        for (i, b) in targets.batchIndex.enumerated() {
            perImage[b].append(DetectionTarget(classIndex: targets.classes[i], x: boxes[4 * i], y: boxes[4 * i + 1],
                                               width: boxes[4 * i + 2], height: boxes[4 * i + 3]))
        }
        return perImage
    }
}

/// base64 of little-endian float32 values.
private func decodeFloats(_ text: String) throws -> [Float] {
    let data = try XCTUnwrap(Data(base64Encoded: text), "base64")
    return data.withUnsafeBytes { raw in
        (0..<(data.count / 4)).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self))) }
    }
}
