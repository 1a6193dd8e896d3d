import Foundation

/// A parsed Darknet .cfg: `[section]` headers followed by `key=value` lines; `#` and `;` start comments.
/// Keeps line numbers so every later error can point at the line that caused it.
public struct DarknetConfig {
    public struct Section {
        public let name: String  // without brackets, lower-cased
        public let line: Int
        public var options: [String: (value: String, line: Int)] = [:]
        public var keys: [String] = []  // in file order
    }

    public let path: String
    public var sections: [Section]
    /// The file's text as read (exports write it back unchanged).
    public let text: String

    public static func load(path: String) throws -> DarknetConfig {
        guard FileManager.default.fileExists(atPath: path) else {
            throw ModelLoadError(path: path, reason: "config file not found")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ModelLoadError(path: path, reason: "config file could not be read")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ModelLoadError(path: path, reason: "config file is not UTF-8 text")
        }
        return try parse(text, path: path)
    }

    public static func parse(_ text: String, path: String = "<cfg>") throws -> DarknetConfig {
        var sections: [Section] = []
        for (i, rawLine) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            let lineNumber = i + 1
            var line = Substring(rawLine)
            if let c = line.firstIndex(where: { $0 == "#" || $0 == ";" }) { line = line[..<c] }
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty { continue }
            if trimmed.hasPrefix("[") {
                guard trimmed.hasSuffix("]"), trimmed.count > 2 else {
                    throw ModelLoadError(path: path, line: lineNumber, reason: "malformed section header '\(trimmed)'")
                }
                let name = trimmed.dropFirst().dropLast().trimmingCharacters(in: .whitespaces).lowercased()
                sections.append(Section(name: name, line: lineNumber))
                continue
            }
            guard let eq = trimmed.firstIndex(of: "=") else {
                throw ModelLoadError(path: path, line: lineNumber, reason: "expected 'key=value', got '\(trimmed)'")
            }
            guard !sections.isEmpty else {
                throw ModelLoadError(path: path, line: lineNumber, reason: "option '\(trimmed)' before the first [section]")
            }
            let key = trimmed[..<eq].trimmingCharacters(in: .whitespaces).lowercased()
            let value = trimmed[trimmed.index(after: eq)...].trimmingCharacters(in: .whitespaces)
            guard !key.isEmpty else {
                throw ModelLoadError(path: path, line: lineNumber, reason: "empty key in '\(trimmed)'")
            }
            if let previous = sections[sections.count - 1].options[key] {
                throw ModelLoadError(path: path, line: lineNumber, reason: "duplicate key '\(key)' (first set at line \(previous.line))")
            }
            sections[sections.count - 1].options[key] = (value, lineNumber)
            sections[sections.count - 1].keys.append(key)
        }
        guard !sections.isEmpty else { throw ModelLoadError(path: path, reason: "config has no [sections]") }
        return DarknetConfig(path: path, sections: sections, text: text)
    }
}

/// Typed option access with errors that name the file, line and key.
extension DarknetConfig.Section {
    func error(_ path: String, _ key: String?, _ reason: String) -> ModelLoadError {
        ModelLoadError(path: path, line: key.flatMap { options[$0]?.line } ?? line, reason: "[\(name)]: \(reason)")
    }

    func int(_ key: String, default value: Int? = nil, path: String) throws -> Int {
        guard let (text, line) = options[key] else {
            if let value { return value }
            throw error(path, nil, "missing required key '\(key)'")
        }
        guard let v = Int(text) else {
            throw ModelLoadError(path: path, line: line, reason: "[\(name)]: '\(key)' expects an integer, got '\(text)'")
        }
        return v
    }

    func float(_ key: String, default value: Float? = nil, path: String) throws -> Float {
        guard let (text, line) = options[key] else {
            if let value { return value }
            throw error(path, nil, "missing required key '\(key)'")
        }
        guard let v = Float(text), v.isFinite else {
            throw ModelLoadError(path: path, line: line, reason: "[\(name)]: '\(key)' expects a number, got '\(text)'")
        }
        return v
    }

    func string(_ key: String, default value: String, path: String) -> String {
        options[key]?.value ?? value
    }

    func ints(_ key: String, path: String) throws -> [Int]? {
        guard let (text, line) = options[key] else { return nil }
        return try text.split(separator: ",").map {
            let item = $0.trimmingCharacters(in: .whitespaces)
            guard let v = Int(item) else {
                throw ModelLoadError(path: path, line: line, reason: "[\(name)]: '\(key)' expects a list of integers, got '\(text)'")
            }
            return v
        }
    }

    func floats(_ key: String, path: String) throws -> [Float]? {
        guard let (text, line) = options[key] else { return nil }
        return try text.split(separator: ",").map {
            let item = $0.trimmingCharacters(in: .whitespaces)
            guard let v = Float(item), v.isFinite else {
                throw ModelLoadError(path: path, line: line, reason: "[\(name)]: '\(key)' expects a list of numbers, got '\(text)'")
            }
            return v
        }
    }

    /// Fails on the first key that is neither used for inference nor a known training-only key.
    func checkKeys(used: Set<String>, ignored: Set<String>, path: String) throws {
        for key in keys where !used.contains(key) && !ignored.contains(key) {
            throw ModelLoadError(path: path, line: options[key]!.line, reason: "[\(name)]: unknown key '\(key)'")
        }
    }
}
