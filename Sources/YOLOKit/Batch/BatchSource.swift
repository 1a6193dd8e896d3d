import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One input of a batch run.
public struct BatchItem: Sendable, Equatable {
    /// The path as the user named it (opened as is, printed in results and errors).
    public let path: String
    /// The path relative to the run's root folder (the deepest folder holding every source): the sort key, the
    /// shard key, and where per-image outputs go under the save directory.
    public let relativePath: String
    /// Set when the source itself failed (a folder that cannot be read, a pattern that matches nothing): the item
    /// is reported as a failed input without being opened.
    public let failure: String?

    public init(path: String, relativePath: String, failure: String? = nil) {
        self.path = path; self.relativePath = relativePath; self.failure = failure
    }
}

/// Expands the command line's sources into a sorted, de-duplicated list of inputs:
/// - a folder: its images (`.jpg`, `.jpeg`, `.png`, any case; hidden entries skipped), subfolders with `recursive`;
/// - a glob (`*`, `?`, `[…]` and `**` for any depth, e.g. `"photos/**/*.jpg"`): its matches that are images;
/// - a `.txt` file: a list of sources, one per line (blank lines and `#` comments skipped; a relative path is
///   looked up from the current folder, then from the list's folder);
/// - `-`: such a list on standard input;
/// - anything else: a file, always tried whatever its extension (a missing one fails as that input).
/// Symbolic links are followed; a folder reached twice (a link cycle) is walked once.
public enum BatchSource {
    public static let imageExtensions: Set<String> = ["jpg", "jpeg", "png"]

    public static func isImageName(_ name: String) -> Bool {
        imageExtensions.contains((name as NSString).pathExtension.lowercased())
    }

    static func isGlob(_ s: String) -> Bool { s.contains { $0 == "*" || $0 == "?" || $0 == "[" } }

    /// `standardInput` is read (once) when a source is `-`.
    public static func enumerate(_ sources: [String], recursive: Bool,
                                 standardInput: () -> String? = { readStandardInput() }) -> [BatchItem] {
        var collector = Collector(recursive: recursive)
        for source in sources {
            if source == "-" {
                let text = standardInput() ?? ""
                collector.addList(text, listFolder: nil, listName: "<stdin>")
            } else {
                collector.add(source, fromList: nil)
            }
        }
        return collector.items()
    }

    public static func readStandardInput() -> String? {
        let data = FileHandle.standardInput.readDataToEndOfFile()
        return String(decoding: data, as: UTF8.self)
    }

    /// An input found so far: `root` is the folder its relative path starts from (the folder named on the
    /// command line, a glob's fixed prefix, or a file's own folder).
    struct Found {
        var display: String
        var absolute: String
        var root: String
        var failure: String?
    }

    struct Collector {
        let recursive: Bool
        var found: [Found] = []
        var seen: Set<String> = []

        init(recursive: Bool) { self.recursive = recursive }

        mutating func append(_ f: Found) {
            guard seen.insert(f.absolute).inserted else { return }
            found.append(f)
        }

        mutating func add(_ source: String, fromList listFolder: String?) {
            var path = source
            if let listFolder, !source.hasPrefix("/"), !BatchSource.isGlob(source),
               !FileManager.default.fileExists(atPath: source) {
                let beside = (listFolder as NSString).appendingPathComponent(source)
                if FileManager.default.fileExists(atPath: beside) { path = beside }
            }
            var isDirectory: ObjCBool = false
            let exists = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
            if !exists && BatchSource.isGlob(path) {
                addGlob(path)
            } else if exists && isDirectory.boolValue {
                addFolder(path)
            } else if exists && listFolder == nil && (path as NSString).pathExtension.lowercased() == "txt" {
                do {
                    let text = try String(contentsOfFile: path, encoding: .utf8)
                    addList(text, listFolder: (path as NSString).deletingLastPathComponent, listName: path)
                } catch {
                    let abs = absolutePath(path)
                    append(Found(display: path, absolute: abs, root: parent(abs), failure: "cannot read list of paths: \(reason(error))"))
                }
            } else {
                let abs = absolutePath(path)
                append(Found(display: path, absolute: abs, root: parent(abs)))  // always tried; a missing file fails when opened
            }
        }

        mutating func addList(_ text: String, listFolder: String?, listName: String) {
            for raw in text.split(omittingEmptySubsequences: true, whereSeparator: { $0 == "\n" || $0 == "\r\n" || $0 == "\r" }) {
                let line = raw.trimmingCharacters(in: .whitespaces)
                if line.isEmpty || line.hasPrefix("#") { continue }
                add(line, fromList: listFolder ?? FileManager.default.currentDirectoryPath)
            }
        }

        mutating func addFolder(_ folder: String) {
            let root = absolutePath(folder)
            var visited: Set<FileID> = []
            let before = found.count
            let images = walk(display: folder, absolute: root, root: root, visited: &visited, top: true)
            if images == 0 && found.count == before {
                append(Found(display: folder, absolute: root, root: parent(root),
                             failure: "no images (.jpg, .jpeg, .png) in this folder\(recursive ? " or below" : " (add --recursive for subfolders)")"))
            }
        }

        /// Adds the folder's images (and its subfolders' with `recursive`); returns how many image files it saw.
        @discardableResult
        mutating func walk(display: String, absolute: String, root: String, visited: inout Set<FileID>, top: Bool) -> Int {
            if let id = FileID(path: absolute), !visited.insert(id).inserted { return 0 }
            let names: [String]
            do {
                names = try FileManager.default.contentsOfDirectory(atPath: absolute).sorted()
            } catch {
                append(Found(display: display, absolute: absolute, root: top ? parent(root) : root,
                             failure: "cannot read folder: \(reason(error))"))
                return 0
            }
            var images = 0
            for name in names where !name.hasPrefix(".") {
                let abs = join(absolute, name), disp = join(display, name)
                var isDirectory: ObjCBool = false
                guard FileManager.default.fileExists(atPath: abs, isDirectory: &isDirectory) else { continue }  // dangling link
                if isDirectory.boolValue {
                    if recursive { images += walk(display: disp, absolute: abs, root: root, visited: &visited, top: false) }
                } else if BatchSource.isImageName(name) {
                    append(Found(display: disp, absolute: abs, root: root))
                    images += 1
                }
            }
            return images
        }

        mutating func addGlob(_ pattern: String) {
            let matches = BatchGlob.match(pattern)
            let base = absolutePath(matches.base)
            var count = 0
            for path in matches.paths where BatchSource.isImageName(path) {
                append(Found(display: path, absolute: absolutePath(path), root: base))
                count += 1
            }
            if count == 0 {
                let abs = absolutePath(pattern)
                append(Found(display: pattern, absolute: abs, root: parent(abs), failure: "no image files match this pattern"))
            }
        }

        /// Relative paths from the deepest folder holding every good input's root, sorted byte-wise.
        func items() -> [BatchItem] {
            let good = found.filter { $0.failure == nil }
            let roots = (good.isEmpty ? found : good).map(\.root)
            let root = commonAncestor(roots)
            var items = found.map { f -> BatchItem in
                let rel = relative(f.absolute, to: root) ?? f.display
                return BatchItem(path: f.display, relativePath: rel, failure: f.failure)
            }
            items.sort { a, b in
                a.relativePath != b.relativePath
                    ? a.relativePath.utf8.lexicographicallyPrecedes(b.relativePath.utf8)
                    : a.path.utf8.lexicographicallyPrecedes(b.path.utf8)
            }
            return items
        }
    }

    struct FileID: Hashable {
        let device: UInt64
        let inode: UInt64
        init?(path: String) {
            var s = stat()
            guard stat(path, &s) == 0 else { return nil }
            device = UInt64(s.st_dev); inode = UInt64(s.st_ino)
        }
    }
}

func absolutePath(_ path: String) -> String {
    URL(fileURLWithPath: path).standardizedFileURL.path
}

func parent(_ absolute: String) -> String {
    absolute == "/" ? "/" : (absolute as NSString).deletingLastPathComponent
}

func join(_ folder: String, _ name: String) -> String {
    if folder.isEmpty || folder == "." { return name }
    return folder.hasSuffix("/") ? folder + name : folder + "/" + name
}

func reason(_ error: Error) -> String {
    let ns = error as NSError
    if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
        return String(cString: strerror(Int32(underlying.code)))
    }
    if ns.domain == NSCocoaErrorDomain {
        switch ns.code {
        case NSFileReadNoPermissionError: return "permission denied"
        case NSFileReadNoSuchFileError, NSFileNoSuchFileError: return "not found"
        default: break
        }
    }
    return ns.localizedDescription
}

/// The deepest folder that contains every path (all absolute, standardized).
func commonAncestor(_ paths: [String]) -> String {
    guard var common = paths.first.map({ $0.split(separator: "/", omittingEmptySubsequences: true) }) else {
        return FileManager.default.currentDirectoryPath
    }
    for p in paths.dropFirst() {
        let parts = p.split(separator: "/", omittingEmptySubsequences: true)
        var n = 0
        while n < min(common.count, parts.count) && common[n] == parts[n] { n += 1 }
        common.removeSubrange(n...)
    }
    return "/" + common.joined(separator: "/")
}

/// `path` relative to `root` (both absolute, standardized), or nil when it is not inside.
func relative(_ path: String, to root: String) -> String? {
    if root == "/" { return String(path.drop(while: { $0 == "/" })) }
    if path == root { return "" }
    guard path.hasPrefix(root + "/") else { return nil }
    return String(path.dropFirst(root.count + 1))
}
