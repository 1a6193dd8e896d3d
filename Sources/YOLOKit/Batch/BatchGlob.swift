import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Shell-style path patterns with `**`: each `/`-separated part is matched by `fnmatch` (`*`, `?`, `[…]`;
/// a leading `.` must be matched literally, so hidden entries are skipped), and a part that is exactly `**`
/// matches any number of folders, none included (`photos/**/*.jpg` finds `photos/a.jpg` and `photos/x/y/b.jpg`).
enum BatchGlob {
    /// Matching regular files (links followed) in sorted order, and the pattern's fixed prefix folder (the
    /// parts before the first wildcard), from which relative paths start.
    static func match(_ pattern: String) -> (base: String, paths: [String]) {
        let absolute = pattern.hasPrefix("/")
        let parts = pattern.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        let fixed = parts.prefix { !BatchSource.isGlob($0) }
        var base = (absolute ? "/" : "") + fixed.joined(separator: "/")
        if base.isEmpty { base = "." }
        var results: [String] = []
        var visited = Set<BatchSource.FileID>()
        walk(base, Array(parts.dropFirst(fixed.count)), &results, &visited)
        var seen = Set<String>()
        let unique = results.filter { seen.insert($0).inserted }
        return (base, unique.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) })
    }

    private static func walk(_ folder: String, _ rest: [String], _ results: inout [String], _ visited: inout Set<BatchSource.FileID>) {
        guard let part = rest.first else {
            if isFile(folder) { results.append(folder) }
            return
        }
        let tail = Array(rest.dropFirst())
        if part == "**" {
            walk(folder, tail, &results, &visited)  // zero folders
            guard let id = BatchSource.FileID(path: folder), visited.insert(id).inserted else { return }  // link cycles
            for name in entries(folder) where isDirectory(child(folder, name)) {
                walk(child(folder, name), rest, &results, &visited)
            }
            visited.remove(id)
            return
        }
        if !BatchSource.isGlob(part) {
            let path = child(folder, part)
            if tail.isEmpty ? isFile(path) : isDirectory(path) { walk(path, tail, &results, &visited) }
            return
        }
        for name in entries(folder) where fnmatch(part, name, FNM_PERIOD) == 0 {
            let path = child(folder, name)
            if tail.isEmpty ? isFile(path) : isDirectory(path) { walk(path, tail, &results, &visited) }
        }
    }

    private static func child(_ folder: String, _ name: String) -> String {
        folder == "." ? name : join(folder, name)
    }

    private static func entries(_ folder: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).filter { !$0.hasPrefix(".") }.sorted()
    }

    private static func isDirectory(_ path: String) -> Bool {
        var d: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &d) && d.boolValue
    }

    private static func isFile(_ path: String) -> Bool {
        var d: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &d) && !d.boolValue
    }
}
