import Foundation

/// Run folders numbered as Ultralytics numbers them: `runs/detect/<name>`, `<name>2`, `<name>3`, …
public enum RunFolder {
    /// The folder to use: `explicit` as given, or `runs/detect/predict`, `predict2`, … — the first that does
    /// not exist (with `existOK`: `predict` itself; with `resume`: the highest-numbered existing one).
    /// `name`: the run kind (`predict`; `val` for `yolo val`), numbered as Ultralytics numbers its runs.
    public static func choose(explicit: String?, existOK: Bool = false, resume: Bool = false, name: String) -> String {
        if let explicit { return explicit }
        let parent = "runs/detect"
        func candidate(_ n: Int) -> String { parent + "/" + name + (n == 1 ? "" : String(n)) }
        if existOK { return candidate(1) }
        if resume {
            let numbers = ((try? FileManager.default.contentsOfDirectory(atPath: parent)) ?? []).compactMap { entry -> Int? in
                guard entry.hasPrefix(name) else { return nil }
                let suffix = entry.dropFirst(name.count)
                return suffix.isEmpty ? 1 : (suffix.first == "0" ? nil : Int(suffix))
            }
            return candidate(numbers.max() ?? 1)
        }
        var n = 1
        while FileManager.default.fileExists(atPath: candidate(n)) { n += 1 }
        return candidate(n)
    }
}
