import Foundation
import XCTest
@testable import YOLOKit

/// Int8 inference: the quantized conv against PyTorch's quantization (golden) and against the fp32 conv within the
/// bound its scales predict (every int8 kernel this CPU has), whole networks within a stated bound of fp32, the int8
/// file written and loaded back, hostile int8 files, and `yolo quantize`'s usage errors.
final class QuantizationTests: TemporaryFolderTestCase {
    // MARK: - One convolution

    struct Case: Decodable {
        let name: String
        let channels, height, width, filters, size, stride, pad: Int
        let input, weights, bias: [Float]
        let weight_scales: [Float]
        let quantized_weights: [Int]
        let input_scale: Float
        let input_zero_point: Int
        let quantized_input: [Int]
        let expected: [Double]
    }

    func conv(channels: Int, height: Int, width: Int, filters: Int, size: Int, stride: Int, pad: Int,
              weights: [Float], bias: [Float], activation: Activation = .linear) -> ConvolutionLayer {
        ConvolutionLayer(inputShape: TensorShape(channels: channels, height: height, width: width), filters: filters, size: size,
                         stride: stride, pad: pad, groups: 1, activation: activation, weights: FloatBuffer(weights), bias: FloatBuffer(bias),
                         winograd: .off)
    }

    /// Runs `layer` on `input` alone (one thread, OpenBLAS for an fp32 layer).
    func run(_ layer: any NetworkLayer, _ input: [Float], inputShape: TensorShape, threads: Int = 1) -> [Float] {
        let x = FeatureMap(shape: inputShape), y = FeatureMap(shape: layer.outputShape)
        x.pointer.update(from: input, count: input.count)
        let context = ExecutionContext(gemm: OpenBLASGEMM(threads: threads), threads: threads, workspace: FloatBuffer(count: max(1, layer.workspaceSize)))
        layer.forward([x], into: y, context: context)
        return y.buffer.array
    }

    func testConvMatchesPyTorchQuantizedReference() throws {
        struct File: Decodable { let cases: [Case] }
        let data = try Data(contentsOf: URL(fileURLWithPath: TestPaths.fixture("quantization/conv_cases.json")))
        let cases = try JSONDecoder().decode(File.self, from: data).cases
        XCTAssertEqual(cases.count, 3)
        for c in cases {
            let shape = TensorShape(channels: c.channels, height: c.height, width: c.width)
            let fp32 = conv(channels: c.channels, height: c.height, width: c.width, filters: c.filters, size: c.size, stride: c.stride, pad: c.pad,
                            weights: c.weights, bias: c.bias)
            let input = try ActivationQuantization(min: c.input.min()!, max: c.input.max()!)
            XCTAssertEqual(input.scale, c.input_scale, accuracy: c.input_scale * 1e-6, c.name)
            XCTAssertEqual(Int(input.zeroPoint), c.input_zero_point, c.name)
            XCTAssertEqual(c.input.map { Int(input.quantize($0)) }, c.quantized_input, c.name)
            let layer = try Int8ConvolutionLayer(fp32, input: input)
            XCTAssertEqual(layer.weightQuantization.scales, c.weight_scales, c.name)
            XCTAssertEqual(layer.quantizedWeights.map(Int.init), c.quantized_weights, c.name)
            let out = run(layer, c.input, inputShape: shape)
            XCTAssertEqual(out.count, c.expected.count)
            let largest = c.expected.map(abs).max()!
            for (a, b) in zip(out, c.expected) { XCTAssertEqual(Double(a), b, accuracy: 1e-5 * largest, c.name) }
        }
    }

    func testQuantizedConvWithinTheBoundItsScalesPredict() throws {
        var rng = SystemRandomNumberGenerator()
        let kernels = LowPrecisionKernel.Int8.allCases.filter { $0 != .automatic && CPUFeatures.current.isSuperset(of: $0.requiredFeatures) }
        XCTAssertTrue(kernels.contains(.scalar))
        // (C, H, W, filters, k, stride, pad, activation, input range): odd K, padding with a non-zero zero point, 1×1.
        let shapes: [(Int, Int, Int, Int, Int, Int, Int, Activation, ClosedRange<Float>)] = [
            (3, 17, 13, 16, 3, 2, 1, .linear, -1...3), (7, 9, 9, 13, 3, 1, 1, .swish, -0.3...6), (32, 8, 10, 24, 1, 1, 0, .leaky, -2...2),
            (5, 12, 7, 9, 5, 1, 2, .linear, 0.5...1.5), (16, 10, 10, 40, 3, 1, 1, .relu, -4...1),
        ]
        for (c, h, w, f, k, s, p, activation, range) in shapes {
            let shape = TensorShape(channels: c, height: h, width: w)
            let weights = (0..<(f * c * k * k)).map { _ in Float.random(in: -0.5...0.5, using: &rng) * (Bool.random(using: &rng) ? 1 : 0.05) }
            let bias = (0..<f).map { _ in Float.random(in: -1...1, using: &rng) }
            let input = (0..<shape.count).map { _ in Float.random(in: range, using: &rng) }
            let linear = conv(channels: c, height: h, width: w, filters: f, size: k, stride: s, pad: p, weights: weights, bias: bias)
            let fp32 = conv(channels: c, height: h, width: w, filters: f, size: k, stride: s, pad: p, weights: weights, bias: bias, activation: activation)
            let q = try ActivationQuantization(min: input.min()!, max: input.max()!)
            let label = "\(c)×\(h)×\(w) → \(f), k\(k) s\(s) p\(p) \(activation)"
            let bound = try Int8ConvolutionLayer(linear, input: q).errorBound(input: input)
            let reference = run(linear, input, inputShape: shape), withActivation = run(fp32, input, inputShape: shape)
            var first: [Float]?
            for kernel in kernels {
                let out = run(try Int8ConvolutionLayer(linear, input: q, kernel: kernel), input, inputShape: shape, threads: 2)
                var worst: Float = 0
                for i in out.indices {
                    XCTAssertLessThanOrEqual(abs(out[i] - reference[i]), bound[i], "\(label), \(kernel), output \(i)")
                    worst = max(worst, abs(out[i] - reference[i]) / bound[i])
                }
                XCTAssertGreaterThan(worst, 0.01, "\(label): the bound is far looser than the error (\(worst) of it)")
                // Every kernel gives the same bits (exact int32 sums, the same epilogue).
                if let first { XCTAssertEqual(out, first, "\(label): \(kernel) differs from \(kernels[0])") } else { first = out }
                // The activation after the epilogue: SiLU, leaky and ReLU are 1.1-Lipschitz at most.
                let activated = run(try Int8ConvolutionLayer(fp32, input: q, kernel: kernel), input, inputShape: shape)
                for i in activated.indices {
                    XCTAssertLessThanOrEqual(abs(activated[i] - withActivation[i]), 1.1 * bound[i] + 1e-6, "\(label), \(kernel), activated output \(i)")
                }
            }
        }
    }

    func testVectorQuantizeEqualsScalarQuantize() throws {
        var rng = SystemRandomNumberGenerator()
        let q = try ActivationQuantization(min: -1.3, max: 7.9)
        // Inside and outside the range, exact ties (k + 0.5 steps), NaN and infinities; a count that is not a multiple of 16.
        var x = (0..<1003).map { _ in Float.random(in: -4...12, using: &rng) }
        for i in 0..<40 { x[i] = q.scale * (Float(i) - 20.5) }
        x[50] = .nan; x[51] = .infinity; x[52] = -.infinity
        // Both C paths: AVX-512 (where the CPU has it) and scalar.
        for vector in CPUFeatures.current.contains(.avx512bw) ? [true, false] : [false] {
            var out = [UInt8](repeating: 0, count: x.count)
            x.withUnsafeBufferPointer { p in out.withUnsafeMutableBufferPointer { q.quantize(p.baseAddress!, count: x.count, into: $0.baseAddress!, vector: vector) } }
            XCTAssertEqual(out, x.map { q.quantize($0) }, "vector \(vector)")
            XCTAssertEqual(out[50], q.zeroPoint)
            XCTAssertEqual(out[51], 255)
            XCTAssertEqual(out[52], 0)
        }
    }

    /// The im2col blocks (uint8 and fp32, both C paths) against the definition: odd sizes, strides 1 and 2, pads up to
    /// k / 2, a plane wider than 64 columns (the vector path's chunks), blocks that start and end inside output rows;
    /// the zero point (uint8) or 0 (fp32) outside the input.
    func testIm2colColumnsMatchTheDefinition() {
        var rng = SystemRandomNumberGenerator()
        for (c, h, w, k, stride, pad) in [(3, 9, 13, 3, 1, 1), (5, 7, 70, 3, 1, 1), (4, 13, 13, 3, 2, 1), (2, 8, 131, 5, 1, 2),
                                           (3, 6, 66, 5, 2, 2), (6, 13, 13, 1, 1, 0), (2, 5, 5, 3, 1, 0), (1, 1, 1, 3, 1, 1)] {
            let outH = (h + 2 * pad - k) / stride + 1, outW = (w + 2 * pad - k) / stride + 1, zero: UInt8 = 77
            let input = (0..<(c * h * w)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let floats = input.map { Float($0) - 100.5 }, rows = c * k * k, plane = outH * outW
            var expected = [UInt8](repeating: 0, count: rows * plane), expectedFloats = [Float](repeating: 0, count: rows * plane)
            for r in 0..<rows { for oy in 0..<outH { for ox in 0..<outW {
                let ch = r / (k * k), iy = oy * stride - pad + (r / k) % k, ix = ox * stride - pad + r % k
                let inside = iy >= 0 && iy < h && ix >= 0 && ix < w
                expected[(r * outH + oy) * outW + ox] = inside ? input[(ch * h + iy) * w + ix] : zero
                expectedFloats[(r * outH + oy) * outW + ox] = inside ? floats[(ch * h + iy) * w + ix] : 0
            }}}
            for vector in CPUFeatures.current.contains(.avx512bw) ? [true, false] : [false] {
                let im2col = Im2colColumns(height: h, width: w, kernel: k, stride: stride, pad: pad, outWidth: outW, rows: rows, vector: vector)
                for (col0, col1) in [(0, plane), (plane / 3, plane - plane / 5), (plane - 1, plane), (0, 1)] where col1 > col0 {
                    let label = "\(c)×\(h)×\(w) k\(k) s\(stride) p\(pad), vector \(vector), columns \(col0) ..< \(col1)"
                    let want = (0..<rows).flatMap { r in expected[(r * plane + col0)..<(r * plane + col1)] }
                    let wantFloats = (0..<rows).flatMap { r in expectedFloats[(r * plane + col0)..<(r * plane + col1)] }
                    var out = [UInt8](repeating: 0xEE, count: want.count), outFloats = [Float](repeating: .nan, count: want.count)
                    input.withUnsafeBufferPointer { i in out.withUnsafeMutableBufferPointer { o in
                        guard case let .columns(write) = im2col.quantized(i.baseAddress!, zeroPoint: zero) else { return XCTFail(label) }
                        write(col0, col1, o.baseAddress!)
                    }}
                    floats.withUnsafeBufferPointer { i in outFloats.withUnsafeMutableBufferPointer { o in
                        guard case let .columns(write) = im2col.float(i.baseAddress!) else { return XCTFail(label) }
                        write(col0, col1, o.baseAddress!)
                    }}
                    XCTAssertEqual(out, want, label)
                    XCTAssertEqual(outFloats, wantFloats, label)
                }
            }
        }
    }

    func testGroupedConvolutionStaysFP32() throws {
        let grouped = ConvolutionLayer(inputShape: TensorShape(channels: 4, height: 5, width: 5), filters: 4, size: 3, stride: 1, pad: 1, groups: 4,
                                       activation: .linear, weights: FloatBuffer([Float](repeating: 0.1, count: 36)), bias: FloatBuffer([Float](repeating: 0, count: 4)))
        let q = try ActivationQuantization(min: 0, max: 1)
        XCTAssertThrowsError(try Int8ConvolutionLayer(grouped, input: q))
        var plan = Int8Plan()
        XCTAssertThrowsError(try plan.set(grouped, input: q))
    }

    // MARK: - Calibration

    func testCalibrationRangesFromAHistogram() {
        // 10 000 values in [0, 1) and 1 outlier at 100: minmax keeps it, percentile and entropy clip it.
        var h = [Double](repeating: 0, count: ActivationCalibration.bins)
        let width: Float = 100.0 / Float(h.count)
        for i in 0..<10_000 { h[Int(Float(i) / 10_000 / width)] += 1 }
        h[h.count - 1] += 1
        XCTAssertEqual(ActivationCalibration.range(.minmax, histogram: h, low: 0, high: 100).1, 100)
        let percentile = ActivationCalibration.range(.percentile, histogram: h, low: 0, high: 100)
        XCTAssertEqual(percentile.0, 0)
        XCTAssertEqual(percentile.1, 1, accuracy: 2 * width)
        let entropy = ActivationCalibration.range(.entropy, histogram: h, low: 0, high: 100)
        XCTAssertLessThan(entropy.1, 30)
        XCTAssertGreaterThanOrEqual(entropy.1, 1)
    }

    // MARK: - Whole networks

    func photos() throws -> [RGBImage] {
        try ["bus.jpg", "zidane.jpg"].map { try ImageDecoder.decode(contentsOf: TestPaths.requireModel("samples/" + $0)) }
    }

    /// Every eligible conv in int8, calibrated (min-max) on the two sample photos.
    func fullPlan(_ model: any DetectionModel, _ images: [RGBImage], method: CalibrationMethod = .minmax) throws -> Int8Plan {
        let shape = model.inputShape(imageWidth: images[0].width, imageHeight: images[0].height)
        let calibration = ActivationCalibration(model: model, candidates: PostTrainingQuantization.eligibleConvolutions(model, shape: shape).eligible)
        for image in images { calibration.observeRange(image, options: ExecutionOptions(threads: 2)) }
        if method != .minmax { for image in images { calibration.observeHistogram(image, options: ExecutionOptions(threads: 2)) } }
        return try calibration.plan(method)
    }

    /// The raw outputs of fp32 and int8 on the calibration photos: mean relative squared error per output channel
    /// below `bound`, and every fp32 detection (conf ≥ 0.4) found by int8 with the same class at IoU ≥ 0.9.
    func checkWholeNetwork(_ fp32: any DetectionModel, bound: Double, minIoU: Float = 0.9, file: StaticString = #filePath, line: UInt = #line) throws {
        let plan = try fullPlan(fp32, try photos())
        try checkAgreement(fp32, try QuantizedDetectionModel(base: fp32, plan: plan, method: "minmax"), bound: bound, minIoU: minIoU, file: file, line: line)
    }

    func checkAgreement(_ fp32: any DetectionModel, _ int8: any DetectionModel, bound: Double, minIoU: Float = 0.9,
                        file: StaticString = #filePath, line: UInt = #line) throws {
        let images = try photos()
        let options = ExecutionOptions(threads: 2)
        for (i, image) in images.enumerated() {
            let reference = QuantizationSensitivity.outputChannels(fp32, image, options: options)
            let error = QuantizationSensitivity.relativeError(QuantizationSensitivity.outputChannels(int8, image, options: options), reference)
            print("whole network \(int8.summary), photo \(i): mean relative squared error \(error)")
            XCTAssertLessThan(error, bound, "photo \(i)", file: file, line: line)
            XCTAssertGreaterThan(error, 0, "int8 ran (the outputs differ from fp32)", file: file, line: line)
            let a = Detector(model: fp32, execution: options).detect(image), b = Detector(model: int8, execution: options).detect(image)
            for d in a.boxes where d.confidence >= 0.4 {
                let best = b.boxes.filter { $0.classIndex == d.classIndex }.map { $0.box.iou(d.box) }.max() ?? 0
                XCTAssertGreaterThanOrEqual(best, minIoU, "photo \(i): \(d.name) \(d.confidence) has no int8 match (best IoU \(best))", file: file, line: line)
            }
        }
    }

    func testDarknetInt8NetworkWithinBoundOfFP32() throws {
        let model = try ModelFile.load(try TestPaths.requireModel("yolov3-tiny.cfg"), options: ExecutionOptions(threads: 2))
        try checkWholeNetwork(model, bound: 0.08)  // measured 0.028 (bus), 0.046 (zidane), every conv int8
    }

    func testUltralyticsInt8NetworkWithinBoundOfFP32() throws {
        let model = try ModelFile.load(try TestPaths.requireModel("fall-yolov8s.pt"), imageSize: 320, options: ExecutionOptions(threads: 2))
        try checkWholeNetwork(model, bound: 0.04)  // measured 0.0026 (bus), 0.015 (zidane) at 320, every conv int8
    }

    // MARK: - bf16

    func testBF16ConvWithinItsRoundingBound() throws {
        var rng = SystemRandomNumberGenerator()
        let kernels = LowPrecisionKernel.BF16.allCases.filter { $0 != .automatic && CPUFeatures.current.isSuperset(of: $0.requiredFeatures) }
        for (c, h, w, f, k, s, p) in [(3, 17, 13, 16, 3, 2, 1), (32, 8, 10, 24, 1, 1, 0), (7, 9, 9, 13, 3, 1, 1)] {
            let shape = TensorShape(channels: c, height: h, width: w)
            let weights = (0..<(f * c * k * k)).map { _ in Float.random(in: -0.5...0.5, using: &rng) }
            let bias = (0..<f).map { _ in Float.random(in: -1...1, using: &rng) }
            let input = (0..<shape.count).map { _ in Float.random(in: -2...3, using: &rng) }
            let fp32 = conv(channels: c, height: h, width: w, filters: f, size: k, stride: s, pad: p, weights: weights, bias: bias)
            let reference = run(fp32, input, inputShape: shape)
            // Σ_k |w|·|x| per output: the fp32 conv of |w| on |x| (no bias).
            let magnitude = run(conv(channels: c, height: h, width: w, filters: f, size: k, stride: s, pad: p, weights: weights.map(abs),
                                     bias: [Float](repeating: 0, count: f)), input.map(abs), inputShape: shape)
            let depth = c * k * k
            for kernel in kernels {
                let out = run(try BF16ConvolutionLayer(fp32, kernel: kernel), input, inputShape: shape, threads: 2)
                var worst: Float = 0
                for i in out.indices {
                    let bound = magnitude[i] * (1.01 * 0x1p-8 + Float(depth + 2) * 0x1p-23) + abs(bias[i / (out.count / f)]) * 0x1p-23
                    XCTAssertLessThanOrEqual(abs(out[i] - reference[i]), bound, "\(kernel), output \(i)")
                    worst = max(worst, abs(out[i] - reference[i]) / bound)
                }
                XCTAssertGreaterThan(worst, 0.01, "bf16 ran (the error is not far below its bound)")
            }
        }
    }

    func testBF16PrecisionRunsAnyFP32Model() throws {
        let cfg = try TestPaths.requireModel("yolov3-tiny.cfg")
        let fp32 = try ModelFile.load(cfg, options: ExecutionOptions(threads: 2))
        let bf16 = try ModelFile.load(cfg, options: ExecutionOptions(threads: 2, precision: .bf16))
        XCTAssertTrue(bf16 is BF16DetectionModel)
        try checkAgreement(fp32, bf16, bound: 0.005)
        XCTAssertTrue(bf16.summary.contains("bf16 (13 of 13 convs)"), bf16.summary)
        let v8 = try TestPaths.requireModel("fall-yolov8s.pt")
        try checkAgreement(try ModelFile.load(v8, imageSize: 320, options: ExecutionOptions(threads: 2)),
                           try ModelFile.load(v8, imageSize: 320, options: ExecutionOptions(threads: 2, precision: .bf16)), bound: 0.005)
    }

    // MARK: - The int8 file

    /// Writes `model` quantized, loads it back and checks it gives the in-memory int8 model's outputs.
    func roundTrip(_ model: any DetectionModel, imageSize: Int?) throws -> String {
        let images = try photos()
        let plan = try fullPlan(model, images)
        let path = tempDir.appendingPathComponent("model-int8.safetensors").path
        let size = try QuantizedModelFile.write(model, plan: plan, notes: ["method": "minmax"], to: path)
        let fp32Path = tempDir.appendingPathComponent("model-fp32.safetensors").path
        _ = try model.export(to: fp32Path, format: .safetensors, dtype: .float32)
        let fp32Size = (try FileManager.default.attributesOfItem(atPath: fp32Path)[.size] as? Int) ?? 0
        XCTAssertLessThan(Double(size), 0.3 * Double(fp32Size), "int8 file \(size) bytes, fp32 export \(fp32Size)")
        let loaded = try ModelFile.load(path, imageSize: imageSize, options: ExecutionOptions(threads: 2))
        guard let quantized = loaded as? QuantizedDetectionModel else { return path }
        XCTAssertEqual(quantized.plan.count, plan.count)
        let inMemory = try QuantizedDetectionModel(base: model, plan: plan, method: "minmax")
        // The same q and input quantization in every int8 layer (the file's q fold back to the in-memory model's).
        let shape = model.inputShape(imageWidth: images[0].width, imageHeight: images[0].height)
        let layersA = inMemory.network(for: shape).nodes.compactMap { $0.layer as? Int8ConvolutionLayer }
        let layersB = loaded.network(for: shape).nodes.compactMap { $0.layer as? Int8ConvolutionLayer }
        XCTAssertEqual(layersA.count, plan.count)
        XCTAssertEqual(layersA.count, layersB.count)
        for (a, b) in zip(layersA, layersB) {
            XCTAssertEqual(a.quantizedWeights, b.quantizedWeights)
            XCTAssertEqual(a.inputQuantization, b.inputQuantization)
            for (x, y) in zip(a.weightQuantization.scales, b.weightQuantization.scales) { XCTAssertEqual(x, y, accuracy: x * 1e-5) }
        }
        let options = ExecutionOptions(threads: 2)
        for image in images {
            let a = QuantizationSensitivity.outputChannels(inMemory, image, options: options).flatMap { $0 }
            let b = QuantizationSensitivity.outputChannels(loaded, image, options: options).flatMap { $0 }
            XCTAssertEqual(a.count, b.count)
            // The loaded model folds the file's unfused scales again, so its per-channel scales differ from the written
            // model's by ~1e-7 relative (the q are equal, checked above); that can move an activation across an int8
            // rounding boundary and the step travels on. So the check is the relative squared error of all outputs,
            // far below what int8 itself costs against fp32 (~2e-3 to 9e-3 on these photos): measured 0 for yolov3-tiny,
            // 1.9e-5 and 2.7e-5 for the fall checkpoint at 320 (its calibration run on the Swift GEMM).
            var difference = 0.0, energy = 0.0
            for (x, y) in zip(a, b) { difference += Double(x - y) * Double(x - y); energy += Double(x) * Double(x) }
            print("int8 file round trip: relative squared error of the outputs", difference / max(energy, 1e-30))
            XCTAssertLessThanOrEqual(difference, 1e-4 * energy, "the loaded int8 model differs from the one written")
        }
        return path
    }

    func testDarknetInt8FileRoundTrip() throws {
        let model = try ModelFile.load(try TestPaths.requireModel("yolov3-tiny.cfg"), options: ExecutionOptions(threads: 2))
        _ = try roundTrip(model, imageSize: nil)
    }

    func testUltralyticsInt8FileRoundTrip() throws {
        let model = try ModelFile.load(try TestPaths.requireModel("fall-yolov8s.pt"), imageSize: 320, options: ExecutionOptions(threads: 2))
        let path = try roundTrip(model, imageSize: 320)
        XCTAssertTrue(try ModelFile.load(path, imageSize: 320).summary.contains("int8"))
    }

    func testHostileInt8FilesGiveClearErrors() throws {
        let model = try ModelFile.load(try TestPaths.requireModel("yolov3-tiny.cfg"), options: ExecutionOptions(threads: 2))
        let plan = try fullPlan(model, [try photos()[0]])
        let path = tempDir.appendingPathComponent("good.safetensors").path
        _ = try QuantizedModelFile.write(model, plan: plan, to: path)
        let good = try SafetensorsFile(path: path)
        let tensors = good.tensors()
        let conv = "layers.0.conv"
        func expectError(_ edit: (inout [WeightTensor], inout [String: String]) -> Void, _ message: String, line: UInt = #line) throws {
            var t = tensors, metadata = good.metadata
            edit(&t, &metadata)
            let bad = tempDir.appendingPathComponent("bad-\(UUID().uuidString).safetensors").path
            try SafetensorsWriter.write(t, metadata: metadata, to: bad)
            XCTAssertThrowsError(try ModelFile.load(bad), line: line) { error in
                XCTAssertTrue(error is ModelLoadError, "\(error)", line: line)
                XCTAssertTrue("\(error)".contains(message), "'\(error)' should say '\(message)'", line: line)
                XCTAssertTrue("\(error)".contains(bad), "the error names the file", line: line)
            }
        }
        XCTAssertNotNil(good.entry(named: conv + ".weight_scale"))
        try expectError({ t, _ in t.removeAll { $0.name == conv + ".weight_scale" } }, "has no '\(conv).weight_scale'")
        try expectError({ t, _ in t.removeAll { $0.name == conv + ".input_zero_point" } }, "has no '\(conv).input_zero_point'")
        try expectError({ t, _ in
            let i = t.firstIndex { $0.name == conv + ".input_scale" }!
            t[i] = WeightTensor(name: t[i].name, shape: [1], floats: t[i].floats(), dtype: .float16)
        }, "is F16, expected F32")
        try expectError({ t, _ in
            let i = t.firstIndex { $0.name == conv + ".weight_scale" }!
            t[i] = WeightTensor(name: t[i].name, shape: [t[i].shape[0] + 1], floats: t[i].floats() + [1], dtype: .float32)
        }, "has shape")
        try expectError({ t, _ in
            let i = t.firstIndex { $0.name == conv + ".weight_scale" }!
            var v = t[i].floats(); v[0] = -v[0]
            t[i] = WeightTensor(name: t[i].name, shape: t[i].shape, floats: v, dtype: .float32)
        }, "must be positive")
        try expectError({ t, _ in
            let i = t.firstIndex { $0.name == conv + ".input_scale" }!
            t[i] = WeightTensor(name: t[i].name, shape: [1], floats: [.nan], dtype: .float32)
        }, "positive and finite")
        try expectError({ t, _ in
            let i = t.firstIndex { $0.name == conv + ".weight" }!
            t[i] = WeightTensor(name: t[i].name, shape: t[i].shape, floats: t[i].data.map { Float(Int8(bitPattern: $0)) }, dtype: .float32)
        }, "belongs to no int8 weight")
        try expectError({ t, _ in
            let i = t.firstIndex { $0.name == conv + ".weight" }!
            t[i] = WeightTensor(name: t[i].name, dtype: .int8, shape: [t[i].shape.reduce(1, *)], data: t[i].data)
        }, "not a conv weight")
        try expectError({ _, m in m["quantization"] = "int4/9" }, "unknown quantization 'int4/9'")
        XCTAssertThrowsError(try ModelFile.load(path, options: ExecutionOptions(precision: .bf16))) { error in
            XCTAssertTrue("\(error)".contains("precision bf16 runs fp32 models"), "\(error)")
        }
    }

    // MARK: - The command line

    func yolo(_ args: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try TestPaths.yoloBinary())
        process.arguments = args
        let out = tempDir.appendingPathComponent("out-\(UUID().uuidString)"), err = tempDir.appendingPathComponent("err-\(UUID().uuidString)")
        FileManager.default.createFile(atPath: out.path, contents: nil)
        FileManager.default.createFile(atPath: err.path, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: out)
        process.standardError = try FileHandle(forWritingTo: err)
        try process.run()
        process.waitUntilExit()
        XCTAssertNotEqual(process.terminationReason, .uncaughtSignal, "yolo \(args) crashed")
        return (process.terminationStatus, try String(contentsOf: out, encoding: .utf8), try String(contentsOf: err, encoding: .utf8))
    }

    func testQuantizeCommandUsageErrors() throws {
        let cfg = try TestPaths.requireModel("yolov3-tiny.cfg"), photos = (try TestPaths.requireModel("samples/bus.jpg") as NSString).deletingLastPathComponent
        let cases: [([String], String)] = [
            (["--calib", tempDir.appendingPathComponent("nowhere").path], "does not exist"),
            (["--calib", photos, "--images", "0"], "--images must be at least 1"),
            (["--calib", photos, "--output", "x.pt"], "--output must be a .safetensors file"),
            (["--calib", photos, "--method", "median"], "median"),
            (["--calib", photos, "--keep-fp32", "-1"], "--keep-fp32"),
            (["--calib", photos, "--backend", "both"], "--backend both"),
            (["--calib", photos, "--precision", "bf16"], "--precision must be fp32"),
            (["--calib", photos, "--output", cfg], "--output must be a .safetensors file"),
            ([], "--calib"),
        ]
        for (args, message) in cases {
            let run = try yolo(["quantize", "--model", cfg] + args)
            XCTAssertEqual(run.status, 2, "\(args): \(run.stderr)")
            XCTAssertTrue(run.stderr.contains(message), "\(args): stderr should say '\(message)':\n\(run.stderr)")
        }
        let missing = try yolo(["quantize", "--model", tempDir.appendingPathComponent("none.safetensors").path, "--calib", photos])
        XCTAssertEqual(missing.status, 2)
        XCTAssertTrue(missing.stderr.hasPrefix("error:"), missing.stderr)
    }

    func testQuantizeCommandWritesAModelThatDetectRuns() throws {
        let cfg = try TestPaths.requireModel("yolov3-tiny.cfg"), bus = try TestPaths.requireModel("samples/bus.jpg")
        let output = tempDir.appendingPathComponent("tiny-int8.safetensors").path
        let run = try yolo(["quantize", "--model", cfg, "--calib", (bus as NSString).deletingLastPathComponent, "--images", "2",
                            "--sensitivity-images", "1", "--keep-fp32", "1", "--rounds", "1", "--sample", bus, "--output", output, "--threads", "2"])
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertTrue(run.stdout.contains("kept fp32"), run.stdout)
        XCTAssertTrue(run.stdout.contains("file size"), run.stdout)
        let detect = try yolo(["detect", "--model", output, bus, "--threads", "2"])
        XCTAssertEqual(detect.status, 0, detect.stderr)
        XCTAssertTrue(detect.stdout.contains("bus") || detect.stdout.contains("person"), detect.stdout)
        let again = try yolo(["quantize", "--model", output, "--calib", (bus as NSString).deletingLastPathComponent])
        XCTAssertEqual(again.status, 2)
        XCTAssertTrue(again.stderr.contains("already an int8 model"), again.stderr)
    }
}
