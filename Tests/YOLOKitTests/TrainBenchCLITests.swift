import Foundation
import XCTest
@testable import YOLOKit

/// `yolo bench --train` run as a user runs it (the built binary in a child process): its JSON schema and figures on
/// the tiny v8 checkpoint, both backends agreeing on the loss, the kept-activation figure equal to the library's,
/// and every flag it refuses refused with a clear one-line usage error (exit status 2).
final class TrainBenchCLITests: TemporaryFolderTestCase {
    struct Run {
        let status: Int32
        let stdout: String
        let stderr: String
    }

    func yolo(_ args: [String], file: StaticString = #filePath, line: UInt = #line) throws -> Run {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try TestPaths.yoloBinary())
        process.arguments = args
        let out = tempDir.appendingPathComponent("stdout-\(UUID().uuidString)"), err = tempDir.appendingPathComponent("stderr-\(UUID().uuidString)")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        _ = FileManager.default.createFile(atPath: err.path, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: out)
        process.standardError = try FileHandle(forWritingTo: err)
        var environment = ProcessInfo.processInfo.environment
        environment["YOLO_MODELS_DIR"] = tempDir.path  // no accidental use of fetched models
        process.environment = environment
        try process.run()
        process.waitUntilExit()
        let run = Run(status: process.terminationStatus, stdout: (try? String(contentsOf: out, encoding: .utf8)) ?? "",
                      stderr: (try? String(contentsOf: err, encoding: .utf8)) ?? "")
        XCTAssertNotEqual(process.terminationReason, .uncaughtSignal, "yolo \(args.joined(separator: " ")) crashed:\n\(run.stderr)", file: file, line: line)
        XCTAssertFalse(run.stderr.contains("Fatal error"), run.stderr, file: file, line: line)
        return run
    }

    let tiny = TestPaths.fixture("ultralytics/yolov8-tiny.pt")

    func benchJSON(backend: String) throws -> [String: Any] {
        let run = try yolo(["bench", "--train", "--model", tiny, "--batch", "2", "--imgsz", "64", "--threads", "2",
                            "--backend", backend, "--rounds", "2", "--warmup", "0", "--format", "json"])
        XCTAssertEqual(run.status, 0, run.stderr)
        return try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any], run.stdout)
    }

    func testJSONSchemaAndFigures() throws {
        let blas = try benchJSON(backend: "blas"), swift = try benchJSON(backend: "swift")
        for (json, backend) in [(blas, "blas"), (swift, "swift")] {
            XCTAssertEqual(json["schema"] as? String, "yolo-bench-train/1")
            XCTAssertEqual(json["backend"] as? String, backend)
            XCTAssertEqual(json["model"] as? String, tiny)
            XCTAssertEqual(json["batch"] as? Int, 2)
            XCTAssertEqual(json["imgsz"] as? Int, 64)
            XCTAssertEqual(json["threads"] as? Int, 2)
            XCTAssertEqual(json["rounds"] as? Int, 2)
            XCTAssertEqual(json["input_shape"] as? [Int], [2, 3, 64, 64])
            XCTAssertEqual(json["targets"] as? Int, 4)  // three boxes on image 0, one on image 1
            for key in ["ms_per_batch", "forward_ms", "loss_ms", "backward_ms"] {
                let s = try XCTUnwrap(json[key] as? [String: Double], key)
                XCTAssertTrue(s["min"]! > 0 && s["min"]! <= s["median"]! && s["median"]! <= s["max"]!, "\(key) \(s)")
            }
            let total = (json["ms_per_batch"] as! [String: Double])["median"]!
            XCTAssertEqual(json["images_per_s"] as! Double, 2 / total * 1e3, accuracy: 1e-3 * (json["images_per_s"] as! Double))
            let ops = try XCTUnwrap(json["ops"] as? [[String: Any]])
            XCTAssertTrue(ops.contains { ($0["kind"] as? String)?.hasPrefix("conv") == true && ($0["backward_ms"] as? Double ?? 0) > 0 }, "\(ops)")
            XCTAssertTrue(ops.contains { $0["kind"] as? String == "batchNorm" })
        }
        // The kept activations are the library's count for this batch shape (they do not depend on the values).
        let model = try UltralyticsModel(path: tiny)
        let (graph, store) = try TrainingGraph.make(from: model)
        let forward = try graph.forward(BatchTensor(zerosBatch: 2, channels: 3, height: 64, width: 64), store: store, gemm: OpenBLASGEMM(threads: 2))
        let kept = forward.keptFloats
        XCTAssertEqual(blas["kept_activation_bytes"] as? Int, 4 * (kept.linear + kept.quadratic + kept.fixed))
        XCTAssertEqual(swift["kept_activation_bytes"] as? Int, blas["kept_activation_bytes"] as? Int)
        XCTAssertEqual(blas["parameters"] as? Int, store.parameters.reduce(0) { $0 + $1.values.count })
        // Same synthetic batch and targets on both backends: the same loss to float rounding.
        let (lb, ls) = (blas["loss"] as! [String: Double], swift["loss"] as! [String: Double])
        for term in ["box", "cls", "dfl"] {
            XCTAssertGreaterThan(lb[term]!, 0, term)
            XCTAssertEqual(ls[term]!, lb[term]!, accuracy: 1e-4 * lb[term]!, term)
        }
    }

    func testTextReportNamesTheFigures() throws {
        let run = try yolo(["bench", "--train", "--model", tiny, "--batch", "1", "--imgsz", "64", "--threads", "1",
                            "--backend", "swift", "--rounds", "1", "--warmup", "0"])
        XCTAssertEqual(run.status, 0, run.stderr)
        for fragment in ["batch 1×3×64×64", "images/s", "forward", "backward", "kept for the backward pass", "per op kind"] {
            XCTAssertTrue(run.stdout.contains(fragment), "no '\(fragment)' in:\n\(run.stdout)")
        }
    }

    func testBadFlagsAreClearUsageErrors() throws {
        let cfg = tempDir.appendingPathComponent("tiny.cfg")
        try DarknetLoaderTests.cfg.write(to: cfg, atomically: true, encoding: .utf8)
        try HostileInputTests.weightsData(floats: DarknetLoaderTests.parameterCount).write(to: tempDir.appendingPathComponent("tiny.weights"))
        let cases: [([String], [String])] = [
            (["--train", "--batch", "0"], ["--batch", "0"]),
            (["--train", "--rounds", "0"], ["--rounds", "0"]),
            (["--train", "--backend", "both"], ["--train", "blas", "swift"]),
            (["--train", "--runs", "5"], ["--train", "--rounds"]),
            (["--train", "--image", "x.jpg"], ["--image", "--train"]),
            (["--train", "--clock", "cpu", "--threads", "1"], ["--clock", "--train"]),
            (["--train", "--end2end"], ["--end2end", "--train"]),
            (["--batch", "4"], ["--batch", "--train"]),
            (["--rounds", "4"], ["--rounds", "--train"]),
            (["--train", "--model", cfg.path], ["Ultralytics"]),
            (["--train", "--model", tempDir.appendingPathComponent("missing.pt").path], ["missing.pt"]),
            (["--train", "--model", tiny, "--imgsz", "32", "--batch", "1"], ["BatchNorm", "larger"]),
        ]
        for (flags, fragments) in cases {
            let run = try yolo(["bench"] + (flags.contains("--model") ? [] : ["--model", tiny]) + flags)
            let label = "yolo bench \(flags.joined(separator: " "))"
            XCTAssertEqual(run.status, 2, "\(label): expected the usage-error status; stderr:\n\(run.stderr)")
            XCTAssertTrue(run.stdout.isEmpty, "\(label): stdout should be empty:\n\(run.stdout)")
            for f in fragments { XCTAssertTrue(run.stderr.contains(f), "\(label): stderr lacks '\(f)':\n\(run.stderr)") }
            XCTAssertLessThanOrEqual(run.stderr.split(separator: "\n").filter { $0.hasPrefix("error") || $0.hasPrefix("Error") }.count, 1, label)
        }
    }
}
