import Foundation

/// The images of a dataset split, listed as Ultralytics' `BaseDataset.get_img_files` lists them:
///
/// * a folder: every file below it whose name has a dot (`glob("**/*.*", recursive=True)`: hidden files and
///   folders skipped, symlinked folders followed — here once each, so a link cycle cannot loop);
/// * a file: a list, one path a line (UTF-8, byte-order mark allowed); a line starting with `./` is relative to
///   the list's folder, any other relative line to the current directory, as theirs;
/// * kept: paths whose text after the last `.` is an image format, any case; sorted as Python sorts strings.
///
/// Of Ultralytics' formats the project decodes JPEG and PNG; files in their other formats (bmp, webp, tif, …)
/// are returned in `unsupported` so the caller can say that they were left out.
public struct DatasetImages: Sendable, Equatable {
    /// Decodable images (jpg, jpeg, png), sorted.
    public var files: [String]
    /// Files Ultralytics would use but this project cannot decode, sorted.
    public var unsupported: [String]

    /// Ultralytics' IMG_FORMATS (8.4.x).
    public static let ultralyticsFormats: Set<String> = ["avif", "bmp", "dng", "heic", "heif", "jp2", "jpeg", "jpg", "mpo", "png", "tif", "tiff", "webp"]
    /// The subset the project's decoders read.
    public static let decodableFormats: Set<String> = ["jpg", "jpeg", "png"]
    /// An image list is text; a larger "list" is a mistake (or hostile).
    public static let maxListFileSize = 256 << 20

    /// Lists the images of `sources` (folders or list files). Throws when a source does not exist or cannot be
    /// read, or when no image is found.
    public static func list(_ sources: [String]) throws -> DatasetImages {
        var found: [String] = []
        for source in sources {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: source, isDirectory: &isDirectory) else {
                throw DatasetError(path: source, reason: "does not exist")
            }
            if isDirectory.boolValue {
                var visited = Set<String>()
                walk(normalizedFolder(source), into: &found, visited: &visited)
            } else {
                found += try readList(source)
            }
        }
        var files: [String] = [], unsupported: [String] = []
        for path in found {
            let ext = extensionAfterLastDot(path).lowercased()
            if decodableFormats.contains(ext) { files.append(path) } else if ultralyticsFormats.contains(ext) { unsupported.append(path) }
        }
        files.sort(by: PythonText.precedes)
        unsupported.sort(by: PythonText.precedes)
        guard !files.isEmpty else {
            let where_ = sources.joined(separator: ", ")
            if !unsupported.isEmpty {
                throw DatasetError(path: where_, reason: "no JPEG or PNG images found (\(unsupported.count) images in formats this project does not decode, e.g. \(unsupported[0]))")
            }
            throw DatasetError(path: where_, reason: "no images found (formats: \(ultralyticsFormats.sorted().joined(separator: ", ")))")
        }
        return DatasetImages(files: files, unsupported: unsupported)
    }

    /// `x.rpartition(".")[-1]`: the whole path when it has no dot.
    static func extensionAfterLastDot(_ path: String) -> String {
        guard let dot = path.lastIndex(of: ".") else { return path }
        return String(path[path.index(after: dot)...])
    }

    /// `str(Path(p))`: no trailing slash, no empty or `.` components.
    private static func normalizedFolder(_ path: String) -> String {
        let absolute = path.hasPrefix("/")
        let parts = path.split(separator: "/", omittingEmptySubsequences: true).filter { $0 != "." }
        let joined = parts.joined(separator: "/")
        if absolute { return "/" + joined }
        return joined.isEmpty ? "." : joined
    }

    private static func walk(_ folder: String, into found: inout [String], visited: inout Set<String>) {
        let real = DatasetConfig.resolved(folder.hasPrefix("/") ? folder : DatasetConfig.join(FileManager.default.currentDirectoryPath, folder))
        guard visited.insert(real).inserted else { return }
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else { return }
        for name in names where !name.hasPrefix(".") {
            let path = folder == "/" ? "/" + name : folder + "/" + name
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { continue }  // dangling link
            if isDirectory.boolValue {
                walk(path, into: &found, visited: &visited)
            } else if name.contains(".") {
                found.append(path)
            }
        }
    }

    private static func readList(_ path: String) throws -> [String] {
        let data = try DatasetError.readFile(path, limit: maxListFileSize, tooLarge: "image list larger than \(maxListFileSize) bytes")
        guard let text = PythonText.decodeUTF8SIG([UInt8](data)) else { throw DatasetError(path: path, reason: "image list is not UTF-8 text") }
        let parent = DatasetConfig.parentDirectory(path) + "/"
        return PythonText.splitLines(PythonText.strip(text)).map { line in
            line.hasPrefix("./") ? parent + line.dropFirst(2) : line
        }
    }
}
