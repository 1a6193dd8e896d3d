import Foundation
import XCTest
@testable import YOLOKit

/// Paths of committed fixtures and fetched models, found from this file's location.
enum TestPaths {
    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static func fixture(_ relative: String) -> String { repoRoot.appendingPathComponent("Tests/Fixtures/" + relative).path }
    static func model(_ relative: String) -> String { repoRoot.appendingPathComponent("Models/" + relative).path }

    /// A fetched model file, or a skip locally / a failure in CI (CI runs fetch-models first, so a missing
    /// model there is a broken setup, not a reason to pass).
    static func requireModel(_ relative: String) throws -> String {
        let path = model(relative)
        if FileManager.default.fileExists(atPath: path) { return path }
        if ProcessInfo.processInfo.environment["CI"] != nil {
            XCTFail("\(path) is missing: CI must run scripts/fetch-models.sh before the tests")
        }
        throw XCTSkip("\(path) not fetched: run scripts/fetch-models.sh")
    }
}

/// Deterministic pseudo-random numbers for tests (SplitMix64).
struct SeededRandom {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in [lo, hi).
    mutating func float(_ lo: Float = -1, _ hi: Float = 1) -> Float {
        lo + (hi - lo) * Float(next() >> 40) / Float(1 << 24)
    }
    mutating func floats(_ n: Int, _ lo: Float = -1, _ hi: Float = 1) -> [Float] { (0..<n).map { _ in float(lo, hi) } }
}

func readBytes(_ path: String) throws -> [UInt8] {
    guard let data = FileManager.default.contents(atPath: path) else { throw CocoaError(.fileNoSuchFile, userInfo: [NSFilePathErrorKey: path]) }
    return [UInt8](data)
}

func readFloats(_ path: String) throws -> [Float] {
    let bytes = try readBytes(path)
    return bytes.withUnsafeBytes { raw in (0..<(bytes.count / 4)).map { raw.loadUnaligned(fromByteOffset: $0 * 4, as: Float.self) } }
}

func context(threads: Int = 2, workspace: Int) -> ExecutionContext {
    ExecutionContext(gemm: OpenBLASGEMM(), threads: threads, workspace: FloatBuffer(count: workspace))
}
