import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A file-system failure while writing outputs: the file and the reason.
public struct OutputError: Error, CustomStringConvertible, Sendable {
    public let path: String
    public let reason: String
    public init(path: String, reason: String) { self.path = path; self.reason = reason }
    public var description: String { "\(path): \(reason)" }

    static func posix(_ path: String, _ what: String) -> OutputError {
        OutputError(path: path, reason: "\(what): \(String(cString: strerror(errno)))")
    }
}

/// Writes whole files atomically: the bytes go to a fresh name in `temporaryFolder` (same file system) and are
/// renamed over the destination, so a reader (or a run killed half-way) never sees half a file. Thread-safe.
public final class AtomicFileWriter: @unchecked Sendable {
    public let temporaryFolder: String
    private let lock = NSLock()
    private var counter = 0
    private var madeFolders: Set<String> = []

    public init(temporaryFolder: String) throws {
        self.temporaryFolder = temporaryFolder
        try makeFolder(temporaryFolder)
    }

    public func write(_ bytes: [UInt8], to path: String) throws {
        try makeFolder((path as NSString).deletingLastPathComponent)
        lock.lock(); counter += 1; let n = counter; lock.unlock()
        let temporary = (temporaryFolder as NSString).appendingPathComponent("\(getpid())-\(n).tmp")
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw OutputError.posix(path, "cannot create \(temporary)") }
        do {
            try writeAll(fd, bytes, path: path)
            guard close(fd) == 0 else { throw OutputError.posix(path, "cannot write") }
        } catch {
            close(fd); unlink(temporary)
            throw error
        }
        guard rename(temporary, path) == 0 else {
            let e = OutputError.posix(path, "cannot rename \(temporary) to it")
            unlink(temporary)
            throw e
        }
    }

    public func write(_ text: String, to path: String) throws {
        try write(Array(text.utf8), to: path)
    }

    /// `mkdir -p`, remembered so that many files in one folder cost one call.
    public func makeFolder(_ folder: String) throws {
        guard !folder.isEmpty else { return }
        lock.lock()
        let known = madeFolders.contains(folder)
        lock.unlock()
        if known { return }
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        } catch {
            throw OutputError(path: folder, reason: "cannot create folder: \(reason(error))")
        }
        lock.lock(); madeFolders.insert(folder); lock.unlock()
    }
}

/// A line-oriented output file that grows record by record (each record one `write` call), knows its size,
/// and can be cut back to an earlier size (to drop records a killed run wrote after its last checkpoint).
public final class AppendFile {
    public let path: String
    public private(set) var size: Int
    private let fd: Int32

    /// Opens (creating) `path`; `truncate` empties it first.
    public init(path: String, truncate: Bool) throws {
        self.path = path
        fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | (truncate ? O_TRUNC : 0), 0o644)
        guard fd >= 0 else { throw OutputError.posix(path, "cannot open for writing") }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw OutputError.posix(path, "cannot stat") }
        size = Int(info.st_size)
    }

    deinit { close(fd) }

    /// Appends a record; if the write fails part-way (a full disk), the file is cut back to where it was, so it
    /// never ends in half a record.
    public func append(_ text: String) throws {
        guard !text.isEmpty else { return }
        let bytes = Array(text.utf8)
        do {
            try writeAll(fd, bytes, path: path)
        } catch {
            _ = ftruncate(fd, off_t(size))
            throw error
        }
        size += bytes.count
    }

    /// Cuts the file to `newSize` bytes (not more than it has).
    public func truncate(to newSize: Int) throws {
        guard ftruncate(fd, off_t(newSize)) == 0 else { throw OutputError.posix(path, "cannot truncate") }
        size = newSize
    }
}

func writeAll(_ fd: Int32, _ bytes: [UInt8], path: String) throws {
    var offset = 0
    while offset < bytes.count {
        let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
        if n < 0 {
            if errno == EINTR { continue }
            throw OutputError.posix(path, "cannot write")
        }
        offset += n
    }
}

/// Size of a file in bytes, nil when it does not exist.
func fileSize(_ path: String) -> Int? {
    var info = stat()
    return stat(path, &info) == 0 ? Int(info.st_size) : nil
}
