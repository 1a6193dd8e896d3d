import Foundation
import Yams

/// A split of a dataset yaml.
public enum DatasetSplit: String, CaseIterable, Sendable {
    case train, val, test
}

/// A dataset yaml as Ultralytics reads it (`check_det_dataset`, ultralytics 8.4.x), without downloads:
///
/// ```yaml
/// path: ../datasets/coco8      # dataset root; default: the yaml's folder
/// train: images/train          # a folder, a .txt list of images, or a list of those
/// val: [images/val, extra.txt]
/// test:                        # optional
/// names: [person, bicycle]     # or {0: person, 1: bicycle}; `nc` optional (must agree)
/// ```
///
/// Paths resolve as theirs do: the root is `path` (or the yaml's folder); a relative root that does not exist
/// from the current directory is looked up in `datasetsDirectory` (their `datasets_dir` setting); each split is
/// `root/split` made absolute with symlinks resolved, and a single-path split that starts with `../` and does not
/// exist is retried without the `../`. `train` and `val` keys are required (an old `validation` key stands in
/// for `val`), as in theirs.
public struct DatasetConfig: Sendable {
    /// The yaml file as given.
    public let yamlPath: String
    /// The dataset root, absolute.
    public let root: String
    /// Class names; the index is the class id.
    public let names: [String]
    /// Resolved absolute paths of each split present and non-empty in the yaml.
    public let splits: [DatasetSplit: [String]]

    /// The most classes a yaml may declare with `nc` alone (a hostile `nc: 1e12` must not allocate names).
    public static let maxClassCount = 100_000
    /// Dataset yamls are a few kilobytes; anything much larger is not one.
    public static let maxFileSize = 4 << 20

    /// Reads and checks `path`. `currentDirectory` stands for the process's working directory (relative paths
    /// resolve against it, as Python's do).
    public static func load(path: String, datasetsDirectory: String? = nil,
                            currentDirectory: String = FileManager.default.currentDirectoryPath) throws -> DatasetConfig {
        let lower = path.lowercased()
        guard lower.hasSuffix(".yaml") || lower.hasSuffix(".yml") else {
            throw DatasetError(path: path, reason: "not a YAML file (the name must end in .yaml or .yml)")
        }
        var isDirectory: ObjCBool = false
        let absolute = absolutePath(path, from: currentDirectory)
        guard FileManager.default.fileExists(atPath: absolute, isDirectory: &isDirectory), !isDirectory.boolValue else {
            throw DatasetError(path: path, reason: "no such file")
        }
        guard let handle = FileHandle(forReadingAtPath: absolute) else { throw DatasetError(path: path, reason: "cannot be read") }
        defer { try? handle.close() }
        let data = (try? handle.read(upToCount: maxFileSize + 1)) ?? Data()
        guard data.count <= maxFileSize else { throw DatasetError(path: path, reason: "larger than \(maxFileSize) bytes: not a dataset yaml") }
        return try parse(yaml: PythonText.decodeUTF8IgnoringErrors([UInt8](data)), path: path,
                         datasetsDirectory: datasetsDirectory, currentDirectory: currentDirectory)
    }

    /// Checks yaml text as if read from `path` (which only names the file and gives the default root).
    public static func parse(yaml text: String, path: String, datasetsDirectory: String? = nil,
                             currentDirectory: String = FileManager.default.currentDirectoryPath) throws -> DatasetConfig {
        func fail(_ reason: String) -> DatasetError { DatasetError(path: path, reason: reason) }
        let entries = try topLevelMapping(text, path: path)
        func value(_ key: String) -> Node? {
            guard let node = entries[key] else { return nil }
            return isNull(node) ? nil : node
        }

        // Types, as DATASET_KEY_TYPES: path str; train/val/test str or list; names list or dict.
        if let node = value("path"), !isString(node) { throw fail("'path' must be str, not \(pythonTypeName(node))") }
        for key in ["train", "val", "test"] {
            if let node = value(key), !(isString(node) || node.sequence != nil) {
                throw fail("'\(key)' must be str or list, not \(pythonTypeName(node))")
            }
        }
        if let node = value("names"), node.sequence == nil, node.mapping == nil {
            throw fail("'names' must be list or dict, not \(pythonTypeName(node))")
        }
        var splitNodes: [DatasetSplit: Node?] = [:]
        for split in DatasetSplit.allCases { if entries.keys.contains(split.rawValue) { splitNodes[split] = value(split.rawValue) } }
        if splitNodes[.train] == nil { throw fail("'train:' key missing: 'train' and 'val' are required in all data YAMLs") }
        if splitNodes[.val] == nil {
            guard entries.keys.contains("validation") else { throw fail("'val:' key missing: 'train' and 'val' are required in all data YAMLs") }
            let node = value("validation")
            if let node, !(isString(node) || node.sequence != nil) { throw fail("'validation' must be str or list, not \(pythonTypeName(node))") }
            splitNodes[.val] = .some(node)
        }

        // names / nc
        let names = try className(entries: entries, value: value, fail: fail)

        // Root and splits.
        var rootText = value("path").flatMap { $0.scalar?.string } ?? ""
        if rootText.isEmpty { rootText = parentDirectory(path) }
        var root = absolutePath(rootText, from: currentDirectory)
        if !FileManager.default.fileExists(atPath: root), !rootText.hasPrefix("/"), let datasetsDirectory {
            root = resolved(absolutePath(datasetsDirectory, from: currentDirectory) + "/" + rootText)
        }
        var splits: [DatasetSplit: [String]] = [:]
        for (split, node) in splitNodes {
            guard let node else { continue }
            if let text = node.scalar?.string {
                guard !text.isEmpty else { continue }
                var resolvedPath = resolved(join(root, text))
                if !FileManager.default.fileExists(atPath: resolvedPath), text.hasPrefix("../") {
                    resolvedPath = resolved(join(root, String(text.dropFirst(3))))
                }
                splits[split] = [resolvedPath]
            } else if let items = node.sequence {
                guard !items.isEmpty else { continue }
                splits[split] = try items.map { item in
                    guard isString(item), let text = item.scalar?.string else {
                        throw fail("'\(split.rawValue)' entries must be str, not \(pythonTypeName(item))")
                    }
                    return resolved(join(root, text))
                }
            }
        }
        return DatasetConfig(yamlPath: path, root: root, names: names, splits: splits)
    }

    /// The image sources of `split`, each checked to exist (Ultralytics: "images not found, missing path").
    public func sources(for split: DatasetSplit) throws -> [String] {
        guard let paths = splits[split], !paths.isEmpty else {
            throw DatasetError(path: yamlPath, reason: "'\(split.rawValue):' images not found (the split is missing or empty)")
        }
        if let missing = paths.first(where: { !FileManager.default.fileExists(atPath: $0) }) {
            throw DatasetError(path: yamlPath, reason: "images not found, missing path '\(missing)'")
        }
        return paths
    }

    /// The images of `split` (see `DatasetImages`).
    public func images(for split: DatasetSplit) throws -> DatasetImages {
        try DatasetImages.list(sources(for: split))
    }

    // MARK: - names

    private static func className(entries: [String: Node], value: (String) -> Node?, fail: (String) -> DatasetError) throws -> [String] {
        let namesNode = value("names")
        var nc: Int?
        if let ncNode = entries["nc"] {
            nc = integerLike(ncNode)
            guard nc != nil else { throw fail("'nc: \(ncNode.scalar?.string ?? pythonTypeName(ncNode))' must be an integer") }
        }
        if namesNode == nil, entries["nc"] == nil {
            throw fail("key missing: either 'names' or 'nc' are required in all data YAMLs")
        }
        var table: [Int: String] = [:]
        if let namesNode {
            var count = 0
            if let list = namesNode.sequence {
                for (i, item) in list.enumerated() { table[i] = try pythonStr(item, fail: fail) }
                count = list.count
            } else if let mapping = namesNode.mapping {
                for (key, item) in mapping {
                    guard let k = pythonInt(key) else {
                        throw fail("'names' key \(key.scalar?.string ?? pythonTypeName(key)) is not an integer")
                    }
                    table[k] = try pythonStr(item, fail: fail)  // a repeated key keeps the last value, as a dict does
                }
                count = mapping.count
            }
            if let nc, nc != count {
                throw fail("'names' length \(count) and 'nc: \(nc)' must match")
            }
        } else if let nc {
            guard nc <= maxClassCount else { throw fail("'nc: \(nc)' is more classes than this reader accepts (\(maxClassCount))") }
            for i in 0..<max(nc, 0) { table[i] = "class_\(i)" }
        }
        let n = table.count
        guard n > 0 else { throw fail("0-class dataset, at least one class name is required in your dataset YAML") }
        guard let maxKey = table.keys.max(), let minKey = table.keys.min(), maxKey < n, minKey >= 0 else {
            throw fail("\(n)-class dataset requires class indices 0-\(n - 1), but you have invalid class indices " +
                       "\(table.keys.min() ?? 0)-\(table.keys.max() ?? 0) defined in your dataset YAML")
        }
        return (0..<n).map { table[$0]! }
    }

    // MARK: - YAML helpers

    /// The top-level mapping (keys as Python would see them: scalars' text); {} for an empty document.
    private static func topLevelMapping(_ text: String, path: String) throws -> [String: Node] {
        if let depth = nestingBound(text), depth > 100 {
            throw DatasetError(path: path, reason: "YAML nested more than 100 levels deep: not a dataset yaml")
        }
        var node: Node?
        do {
            node = try Yams.compose(yaml: text)
        } catch {
            // Ultralytics retries once without characters YAML does not allow.
            let cleaned = String(String.UnicodeScalarView(text.unicodeScalars.filter(isAllowedYAMLCharacter)))
            do { node = try Yams.compose(yaml: cleaned) } catch {
                throw DatasetError(path: path, reason: "YAML syntax error: \(error)")
            }
        }
        guard let node, !isNull(node) else { return [:] }
        guard let mapping = node.mapping else { throw DatasetError(path: path, reason: "not a valid YAML mapping") }
        var entries: [String: Node] = [:]
        for (key, value) in mapping {
            if let name = key.scalar?.string { entries[name] = value }
        }
        return entries
    }

    /// An upper bound of the YAML nesting depth (indentation, `- `/`? `/`: ` indicators per line, open brackets),
    /// so that a hostile file cannot send the recursive composer past the stack.
    private static func nestingBound(_ text: String) -> Int? {
        var flow = 0, worst = 0
        for line in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r" }) {
            var indicators = 0, indent = 0, leading = true
            var previous: Character = " "
            for c in line {
                if leading, c == " " { indent += 1; continue }
                leading = false
                switch c {
                case "[", "{": flow += 1
                case "]", "}": flow = max(0, flow - 1)
                case " " where previous == "-" || previous == "?" || previous == ":": indicators += 1
                default: break
                }
                previous = c
            }
            worst = max(worst, indent / 2 + indicators + flow)
        }
        return worst
    }

    private static func isAllowedYAMLCharacter(_ u: Unicode.Scalar) -> Bool {
        switch u.value {
        case 0x09, 0x0A, 0x0D, 0x20...0x7E, 0x85, 0xA0...0xD7FF, 0xE000...0xFFFD, 0x10000...0x10FFFF: return true
        default: return false
        }
    }

    private static func tagName(_ node: Node) -> String { node.tag.description }

    private static func isNull(_ node: Node) -> Bool { node.scalar != nil && tagName(node) == Tag.Name.null.rawValue }
    private static func isString(_ node: Node) -> Bool { node.scalar != nil && tagName(node) == Tag.Name.str.rawValue }

    /// Python's type name for an error message.
    private static func pythonTypeName(_ node: Node) -> String {
        if node.sequence != nil { return "list" }
        if node.mapping != nil { return "dict" }
        switch tagName(node) {
        case Tag.Name.str.rawValue: return "str"
        case Tag.Name.int.rawValue: return "int"
        case Tag.Name.float.rawValue: return "float"
        case Tag.Name.bool.rawValue: return "bool"
        case Tag.Name.null.rawValue: return "NoneType"
        default: return "str"
        }
    }

    /// `int(key)` as `check_class_names` applies it to a names key: ints, integer strings, floats truncated, bools.
    private static func pythonInt(_ node: Node) -> Int? {
        guard node.scalar != nil else { return nil }
        switch tagName(node) {
        case Tag.Name.int.rawValue: return node.int
        case Tag.Name.bool.rawValue: return node.bool.map { $0 ? 1 : 0 }
        case Tag.Name.float.rawValue:
            guard let f = node.float, f.isFinite, abs(f) < 9e18 else { return nil }
            return Int(f.rounded(.towardZero))
        case Tag.Name.str.rawValue:
            return node.scalar.flatMap { Int(PythonText.strip($0.string).replacingOccurrences(of: "_", with: "")) }
        default: return nil
        }
    }

    /// `nc` as Ultralytics accepts it: an int, or anything `float()` reads as a whole number.
    private static func integerLike(_ node: Node) -> Int? {
        guard let scalar = node.scalar else { return nil }
        switch tagName(node) {
        case Tag.Name.int.rawValue: return node.int
        case Tag.Name.bool.rawValue: return node.bool.map { $0 ? 1 : 0 }
        case Tag.Name.null.rawValue: return nil
        default:
            let text = tagName(node) == Tag.Name.float.rawValue ? String(node.float ?? .nan) : PythonText.strip(scalar.string)
            guard let f = PythonText.parseFloat(text), f.isFinite, f == f.rounded(), abs(f) < 9e18 else { return nil }
            return Int(f)
        }
    }

    /// `str(value)` of a class name as Python prints the YAML value (bools True/False, null None).
    private static func pythonStr(_ node: Node, fail: (String) -> DatasetError) throws -> String {
        guard let scalar = node.scalar else { throw fail("class names must be plain values, not \(pythonTypeName(node))") }
        switch tagName(node) {
        case Tag.Name.bool.rawValue: return node.bool == true ? "True" : "False"
        case Tag.Name.null.rawValue: return "None"
        case Tag.Name.int.rawValue: return node.int.map(String.init) ?? scalar.string
        case Tag.Name.float.rawValue:
            guard let f = node.float else { return scalar.string }
            if f.isNaN { return "nan" }
            if f.isInfinite { return f > 0 ? "inf" : "-inf" }
            return "\(f)"
        default: return scalar.string
        }
    }

    // MARK: - paths

    static func absolutePath(_ path: String, from directory: String) -> String {
        path.hasPrefix("/") ? path : join(directory, path)
    }

    /// `Path(a) / b`: b when absolute.
    static func join(_ a: String, _ b: String) -> String {
        if b.hasPrefix("/") { return b }
        if a.isEmpty { return b }
        return a.hasSuffix("/") ? a + b : a + "/" + b
    }

    static func parentDirectory(_ path: String) -> String {
        let parent = (path as NSString).deletingLastPathComponent
        return parent.isEmpty ? "." : parent
    }

    /// `Path.resolve()`: absolute, `.`/`..` removed, symlinks of the existing part resolved.
    static func resolved(_ absolute: String) -> String {
        var parts: [String] = []
        for component in absolute.split(separator: "/", omittingEmptySubsequences: true) {
            switch component {
            case ".": continue
            case "..": if !parts.isEmpty { parts.removeLast() }
            default: parts.append(String(component))
            }
        }
        let lexical = "/" + parts.joined(separator: "/")
        // Resolve symlinks of the longest existing prefix, keep the rest as written.
        var prefixCount = parts.count
        while prefixCount > 0 {
            let prefix = "/" + parts[0..<prefixCount].joined(separator: "/")
            if let real = realPath(prefix) {
                let rest = parts[prefixCount...].joined(separator: "/")
                return rest.isEmpty ? real : join(real, rest)
            }
            prefixCount -= 1
        }
        return lexical
    }

    private static func realPath(_ path: String) -> String? {
        guard let c = realpath(path, nil) else { return nil }
        defer { free(c) }
        return String(cString: c)
    }
}
