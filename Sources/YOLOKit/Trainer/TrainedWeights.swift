import Foundation

/// The exported form of the model being trained: the state-dict layout (names, shapes, integer counters) and the
/// safetensors metadata that rebuilds the module tree (`UltralyticsModel.exportMetadata`). Trained values are
/// written into it by name, so the files `yolo detect|val|export --model` load are exports of the trained model.
public struct TrainedWeights: Sendable {
    /// The state dict, values as they were when the run started (after a head rebuild).
    public private(set) var tensors: [WeightTensor]
    public private(set) var metadata: [String: String]

    public init(tensors: [WeightTensor], metadata: [String: String]) {
        self.tensors = tensors
        self.metadata = metadata
    }

    /// `values` by state-dict name replace the float tensors they name (each must keep its size); the metadata's
    /// `checkpoint` entry records `epoch`, `best_fitness` and `train_args` (imgsz, data, task, and the hyperparameters
    /// given), so a loaded model predicts at the training size by default.
    public func filled(with values: [String: [Float]], epoch: Int, bestFitness: Double?, trainArguments: [(String, [Any])]) throws -> TrainedWeights {
        var out = self
        for (i, t) in tensors.enumerated() {
            guard let v = values[t.name] else { continue }
            guard v.count == t.elementCount else {
                throw TrainingError("\(t.name): \(v.count) trained values for a tensor of shape \(t.shape)")
            }
            out.tensors[i] = WeightTensor(name: t.name, shape: t.shape, floats: v, dtype: .float32)
        }
        var top: [Any] = []
        if let text = metadata["checkpoint"], let list = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [Any] {
            top = list.filter { entry in
                guard let pair = entry as? [Any], let key = pair.first as? String else { return false }
                return !["epoch", "best_fitness", "train_args", "date"].contains(key)
            }
        }
        top.append(["epoch", ["int", epoch]])
        top.append(["best_fitness", bestFitness.map { ["float", "\($0)"] } ?? ["none"]])
        top.append(["date", ["str", ISO8601DateFormatter().string(from: Date())]])
        top.append(["train_args", ["dict", trainArguments.map { [["str", $0.0], $0.1] as [Any] }]])
        out.metadata["checkpoint"] = String(decoding: try JSONSerialization.data(withJSONObject: top, options: []), as: UTF8.self)
        out.metadata["dtype"] = WeightDType.float32.rawValue
        return out
    }

    /// Writes `<stem>.safetensors` and the state-dict `<stem>.pt` beside it, each atomically (a temporary file
    /// renamed over the old one), so a run killed while saving leaves the previous file whole.
    /// `sync: false`: no fsync (each epoch's files; `sync(_:)` at the end of the run).
    public func write(to safetensorsPath: String, sync: Bool = true) throws {
        try SafetensorsWriter.write(tensors, metadata: metadata, to: safetensorsPath, sync: sync)
        try StateDictWriter.write(tensors, to: Self.ptPath(safetensorsPath), sync: sync)
    }

    /// fsync of the two files `write(to: safetensorsPath, sync: false)` wrote.
    static func sync(_ safetensorsPath: String) throws {
        try AtomicOutputFile.sync(safetensorsPath)
        try AtomicOutputFile.sync(ptPath(safetensorsPath))
    }

    /// Makes `bestPath` and its `.pt` the files `write(to: safetensorsPath)` just wrote: a hard link under a
    /// temporary name, renamed over the old one (a reader sees the old file or the new one, whole). `last` is
    /// replaced by a rename the next epoch, which leaves these links to the old files. Where the file system has no
    /// hard links, a copy, renamed likewise.
    static func link(_ safetensorsPath: String, as bestPath: String) throws {
        for (source, target) in [(safetensorsPath, bestPath), (ptPath(safetensorsPath), ptPath(bestPath))] {
            let temporary = target + ".linking"
            try? FileManager.default.removeItem(atPath: temporary)
            do {
                try FileManager.default.linkItem(atPath: source, toPath: temporary)
            } catch {
                try FileManager.default.copyItem(atPath: source, toPath: temporary)
            }
            guard rename(temporary, target) == 0 else {
                let reason = String(cString: strerror(errno))
                try? FileManager.default.removeItem(atPath: temporary)
                throw WeightsWriteError(path: target, reason: "cannot rename \(temporary) to it: \(reason)")
            }
        }
    }

    private static func ptPath(_ safetensorsPath: String) -> String { (safetensorsPath as NSString).deletingPathExtension + ".pt" }
}
