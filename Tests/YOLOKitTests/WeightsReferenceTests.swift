import Foundation
import XCTest
@testable import YOLOKit

/// The written safetensors and state-dict files read by the reference Python readers
/// (scripts/reference/check_weights_files.py: safetensors, torch.load(weights_only=True), byte comparisons
/// with save_file / torch.save, F16/BF16 rounding against torch). Needs a Python with torch and safetensors:
/// $YOLO_PYTHON, else the repository's .venv; skipped when neither exists.
/// YOLO_WEIGHTS_SAMPLES=DIR writes the sample files there instead of a temporary folder.
final class WeightsReferenceTests: TemporaryFolderTestCase {
    /// Values that exercise rounding: ties, subnormals, the F16 range limit, infinities, NaN, and seeded randoms
    /// over many magnitudes.
    static func roundingSource() -> [Float] {
        var values: [Float] = [0, -0.0, 1, -1, 0.1, 1.0 / 3, 65504, 65519.996, 65520, 65536, 1e9, .infinity, -.infinity, .nan,
                               .greatestFiniteMagnitude, .leastNormalMagnitude, .leastNonzeroMagnitude]
        values += [0x3880_0000, 0x3380_0000, 0x3300_0000, 0x3340_0000, 0x387F_E000, 0x387F_C000, 0x3F80_1000, 0x3F80_3000,
                   0x3F80_8000, 0x3F81_8000, 0x3F80_8001, 0x7F7F_FFFF, 0x0000_0001].map { Float(bitPattern: $0) }
        var random = SeededRandom(seed: 7)
        for _ in 0..<20_000 {
            let mantissa = UInt32(truncatingIfNeeded: random.next()) & 0x807F_FFFF
            let exponent = UInt32(90 + random.next() % 70) << 23  // about 2^-37 … 2^32
            values.append(Float(bitPattern: mantissa | exponent))
        }
        return values
    }

    func testReferenceReadersAcceptWrittenFiles() throws {
        let python = ProcessInfo.processInfo.environment["YOLO_PYTHON"]
            ?? TestPaths.repoRoot.appendingPathComponent(".venv/bin/python").path
        guard FileManager.default.isExecutableFile(atPath: python) else {
            throw XCTSkip("no Python with torch + safetensors: set YOLO_PYTHON or create .venv (scripts/setup-venv.sh; pip install safetensors)")
        }
        // YOLO_WEIGHTS_SAMPLES=DIR keeps the files there (to run the script by hand).
        let folder = ProcessInfo.processInfo.environment["YOLO_WEIGHTS_SAMPLES"] ?? tempDir.path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let tensors = SafetensorsTests.sampleTensors()
        let metadata = ["format": "pt", "names": "{\"0\": \"person\"}", "ünï": "line\nbreak\t\u{1}\"\\", "empty": ""]
        try SafetensorsWriter.write(tensors, metadata: metadata, to: folder + "/sample.safetensors")
        try SafetensorsWriter.write(tensors, to: folder + "/sample-plain.safetensors")
        try StateDictWriter.write(tensors.filter { $0.dtype.torchDType != nil }, to: folder + "/sample.pt")
        let source = WeightsReferenceTests.roundingSource()
        try SafetensorsWriter.write([
            WeightTensor(name: "source", shape: [source.count], floats: source),
            WeightTensor(name: "f16", shape: [source.count], floats: source, dtype: .float16),
            WeightTensor(name: "bf16", shape: [source.count], floats: source, dtype: .bfloat16),
        ], to: folder + "/rounding.safetensors")
        let expected: [String: Any] = [
            "metadata": metadata,
            "tensors": tensors.map { t -> [String: Any] in
                ["name": t.name, "dtype": t.dtype.rawValue, "shape": t.shape, "data": t.data.map { String(format: "%02x", $0) }.joined()]
            },
        ]
        try JSONSerialization.data(withJSONObject: expected, options: [.sortedKeys]).write(to: URL(fileURLWithPath: folder + "/expected.json"))

        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [TestPaths.repoRoot.appendingPathComponent("scripts/reference/check_weights_files.py").path, folder]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        if text.contains("No module named") { throw XCTSkip("\(python) lacks a module: \(text.suffix(200))") }
        XCTAssertEqual(process.terminationStatus, 0, text)
        XCTAssertTrue(text.contains("check_weights_files: \(tensors.count) tensors, \(source.count) rounding values"), text)
        print(text)
    }
}
