import Foundation

/// Counts over a run: inputs finished, failures, detections per class index.
public struct BatchTally: Sendable, Equatable {
    public var images = 0
    public var failures = 0
    public var detections: [Int: Int] = [:]
    public init() {}

    mutating func add(ok: Bool, classes: [(Int, Int)]) {
        images += 1
        if !ok { failures += 1 }
        for (c, n) in classes { detections[c, default: 0] += n }
    }
}

/// The checkpoint log of a run, `<save-dir>/.yolo/journal.jsonl`, which makes `--resume` exact.
///
/// Line 1: `{"yolo-batch": 1, "settings": {…}, "sizes": [...]}` — the settings that shape the outputs, and the
/// sizes of the appended output files when the run started. Then one line per finished input, in the order the
/// inputs were committed: `{"path": <relative path>, "ok": true|false, "classes": [[class, count], …],
/// "sizes": [...]}`, written after every output of that input is in place, with the appended files' sizes at
/// that point. A run killed at any moment leaves a journal whose last complete line says exactly which inputs
/// are finished and how long each appended file was then; `--resume` cuts the files back to those sizes
/// (dropping records of inputs that were not checkpointed) and carries on with the rest. Nothing in it depends
/// on timing, so an interrupted and resumed run leaves the same bytes as an uninterrupted one.
final class BatchJournal {
    static let version = 1

    struct Recovered {
        var done: Set<String> = []
        var tally = BatchTally()
        /// Sizes of the appended files at the last checkpoint.
        var sizes: [Int]
        /// Length of the valid part of the journal.
        var length: Int
    }

    let file: AppendFile

    init(path: String, truncateTo length: Int?) throws {
        file = try AppendFile(path: path, truncate: length == nil)
        if let length { try file.truncate(to: length) }
    }

    static func header(settings: [String: String], sizes: [Int]) -> String {
        let pairs = settings.keys.sorted().map { "\(JSONOutput.string($0)): \(JSONOutput.string(settings[$0]!))" }
        return "{\"yolo-batch\": \(version), \"settings\": {" + pairs.joined(separator: ", ") + "}, \"sizes\": "
            + sizesText(sizes) + "}\n"
    }

    static func entry(relativePath: String, ok: Bool, classes: [(Int, Int)], sizes: [Int]) -> String {
        "{\"path\": \(JSONOutput.string(relativePath)), \"ok\": \(ok), \"classes\": ["
            + classes.map { "[\($0.0), \($0.1)]" }.joined(separator: ", ") + "], \"sizes\": " + sizesText(sizes) + "}\n"
    }

    static func sizesText(_ sizes: [Int]) -> String { "[" + sizes.map(String.init).joined(separator: ", ") + "]" }

    func append(_ line: String) throws { try file.append(line) }

    /// Reads the journal at `path`. Returns nil when there is none (or not even a complete first line).
    /// Throws a usage error when it was written with other settings. `currentSizes` are the appended files'
    /// sizes now: a checkpoint claiming more bytes than a file has (a file cut or replaced by hand) ends the
    /// usable part of the journal there.
    static func recover(path: String, settings: [String: String], currentSizes: [Int]) throws -> Recovered? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        let bytes = [UInt8](data)
        var lines: [(ArraySlice<UInt8>, Int)] = []  // (line without "\n", offset after it)
        var start = 0
        for (i, b) in bytes.enumerated() where b == UInt8(ascii: "\n") {
            lines.append((bytes[start..<i], i + 1))
            start = i + 1
        }
        guard let first = lines.first,
              let head = try? JSONSerialization.jsonObject(with: Data(first.0)) as? [String: Any],
              head["yolo-batch"] as? Int == version,
              let saved = head["settings"] as? [String: String],
              let baseSizes = (head["sizes"] as? [Int]), baseSizes.count == currentSizes.count,
              zip(baseSizes, currentSizes).allSatisfy({ $0 <= $1 }) else { return nil }
        if saved != settings {
            let keys = Set(saved.keys).union(settings.keys).sorted().filter { saved[$0] != settings[$0] }
            let diff = keys.map { "\($0): \(saved[$0] ?? "(none)") then, \(settings[$0] ?? "(none)") now" }.joined(separator: "; ")
            throw BatchUsageError("cannot --resume: the run in this folder used other settings (\(diff)); "
                                  + "run with the same options, or start over with --exist-ok or another --save-dir")
        }
        var recovered = Recovered(sizes: baseSizes, length: first.1)
        for (line, end) in lines.dropFirst() {
            guard let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any],
                  let rel = object["path"] as? String, let ok = object["ok"] as? Bool,
                  let classes = object["classes"] as? [[Int]], let sizes = object["sizes"] as? [Int],
                  sizes.count == currentSizes.count,
                  zip(sizes, currentSizes).allSatisfy({ $0 <= $1 }) else { break }
            recovered.done.insert(rel)
            recovered.tally.add(ok: ok, classes: classes.compactMap { $0.count == 2 ? ($0[0], $0[1]) : nil })
            recovered.sizes = sizes
            recovered.length = end
        }
        return recovered
    }
}
