// libFuzzer entry points for YOLOKit. Not part of the SwiftPM package (normal builds never see this folder):
// scripts/fuzz.sh compiles these files together with Sources/YOLOKit into one module with
// `-sanitize=fuzzer` (plus `address` for --asan), so the harnesses can reach internal API such as the
// unpickler. One binary serves every target; YOLO_FUZZ_TARGET picks one (scripts/fuzz.sh sets it).
//
// Every target checks the same property: whatever the input, the call returns a value or throws the library's
// own error type (ImageDecodeError / ModelLoadError) whose message names the file and gives a reason. A trap,
// a memory error (under ASan), a hang (libFuzzer -timeout), an allocation above -malloc_limit_mb, or any other
// error type is a finding.
import Foundation

enum FuzzTarget: String, CaseIterable {
    case image
    case darknetCfg = "darknet-cfg"
    case darknetWeights = "darknet-weights"
    case torch
    case safetensors
}

// Set once in LLVMFuzzerInitialize, before any input runs; libFuzzer is single-threaded (-jobs=1).
nonisolated(unsafe) var selectedFuzzTarget: FuzzTarget = .image
/// YOLO_FUZZ_VERBOSE=1: print each input's outcome (to check what seeds reach, with `fuzz.sh TARGET repro`).
nonisolated(unsafe) var fuzzVerbose = false

func fuzzLog(_ message: @autoclosure () -> String) {
    if fuzzVerbose { fputs("  -> \(message())\n", stderr) }
}

@_cdecl("LLVMFuzzerInitialize")
public func fuzzInitialize(_ argc: UnsafeMutablePointer<CInt>?,
                           _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>?) -> CInt {
    let name = ProcessInfo.processInfo.environment["YOLO_FUZZ_TARGET"] ?? ""
    guard let target = FuzzTarget(rawValue: name) else {
        let names = FuzzTarget.allCases.map(\.rawValue).joined(separator: ", ")
        fputs("set YOLO_FUZZ_TARGET to one of: \(names) (got '\(name)')\n", stderr)
        exit(2)
    }
    selectedFuzzTarget = target
    fuzzVerbose = ProcessInfo.processInfo.environment["YOLO_FUZZ_VERBOSE"] == "1"
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = size > 0 && data != nil ? [UInt8](UnsafeBufferPointer(start: data, count: size)) : []
    switch selectedFuzzTarget {
    case .image: fuzzImage(bytes)
    case .darknetCfg: fuzzDarknetConfig(bytes)
    case .darknetWeights: fuzzDarknetWeights(bytes)
    case .torch: fuzzTorch(bytes)
    case .safetensors: fuzzSafetensors(bytes)
    }
    return 0
}

/// A property violation: reported like a crash (libFuzzer saves the input).
func fuzzFail(_ message: String) -> Never {
    fputs("FUZZ PROPERTY VIOLATION: \(message)\n", stderr)
    abort()
}

/// The error must be the library's own, name `path`, and give a non-empty reason on one line.
func expectClearError(_ error: Error, path: String) {
    let (errorPath, reason, text): (String, String, String)
    switch error {
    case let e as ImageDecodeError: (errorPath, reason, text) = (e.path, e.reason, e.description)
    case let e as ModelLoadError: (errorPath, reason, text) = (e.path, e.reason, e.description)
    default: fuzzFail("unexpected error type \(type(of: error)): \(error)")
    }
    guard errorPath == path, text.hasPrefix(path), !reason.isEmpty else {
        fuzzFail("error does not name \(path) or has no reason: \(text)")
    }
    guard !reason.contains("\n") else { fuzzFail("error message spans several lines: \(text)") }
    fuzzLog("error: \(text)")
}

/// Runs a built Darknet or Ultralytics model end to end on a small image (the `Detector` path: preprocess,
/// forward, candidates, NMS, mapping back to image pixels) when its work is small enough for a fuzzer.
func fuzzDetect(_ model: any DetectionModel, network: Network, maxMACs: Int = 4_000_000) {
    guard network.macs <= maxMACs else { fuzzLog("built; \(network.macs) MACs: too many to run"); return }
    let detector = Detector(model: model, execution: fuzzExecution)
    let image = RGBImage(width: 23, height: 17, pixels: (0..<(23 * 17 * 3)).map { UInt8(truncatingIfNeeded: $0 &* 37) })
    let result = detector.detect(image, path: "fuzz.png", options: DetectionOptions(confidence: 0.001, maxDetections: 50))
    fuzzLog("detected \(result.boxes.count) boxes with \(network.nodes.count) layers, \(network.macs) MACs")
    for d in result.boxes where !(0..<model.names.count).contains(d.classIndex) {
        fuzzFail("detection with class \(d.classIndex) outside 0..<\(model.names.count)")
    }
}
