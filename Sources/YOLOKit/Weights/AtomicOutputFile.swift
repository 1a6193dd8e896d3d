import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A file written piece by piece under a temporary name in the destination's folder (so the final rename stays
/// on one file system) and renamed over the destination by `commit()`, after an fsync (unless told not to). Until then the
/// destination is untouched; a failure, or dropping the value without committing, removes the temporary file,
/// so no reader ever sees a partial weights file.
final class AtomicOutputFile {
    let path: String
    let temporaryPath: String
    /// Bytes written so far.
    private(set) var offset = 0
    private var fd: Int32
    private var finished = false

    init(path: String) throws {
        self.path = path
        let url = URL(fileURLWithPath: path)
        let folder = url.deletingLastPathComponent().path
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
            throw WeightsWriteError(path: path, reason: "is a folder")
        }
        temporaryPath = (folder as NSString).appendingPathComponent(".\(url.lastPathComponent).\(getpid()).\(UUID().uuidString.prefix(8)).tmp")
        fd = open(temporaryPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw WeightsWriteError(path: path, reason: "cannot create a temporary file in \(folder): \(String(cString: strerror(errno)))")
        }
    }

    deinit {
        if !finished { abandon() }
    }

    func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try write($0) }
    }

    func write(_ raw: UnsafeRawBufferPointer) throws {
        var done = 0
        while done < raw.count {
            let n = Foundation.write(fd, raw.baseAddress! + done, raw.count - done)
            if n < 0 {
                if errno == EINTR { continue }
                let reason = "cannot write: \(String(cString: strerror(errno)))"
                abandon()
                throw WeightsWriteError(path: path, reason: reason)
            }
            done += n
        }
        offset += raw.count
    }

    /// Flushes the data to disk (`sync`) and renames the file over the destination. Without the fsync a killed
    /// process still leaves the old file or the new one whole (the rename is atomic, the data is in the page cache);
    /// only a crash of the machine could lose it, as with torch.save.
    func commit(sync: Bool = true) throws {
        precondition(!finished, "AtomicOutputFile committed twice")
        if (sync && fsync(fd) != 0) || close(fd) != 0 {
            let reason = "cannot write: \(String(cString: strerror(errno)))"
            fd = -1
            abandon()
            throw WeightsWriteError(path: path, reason: reason)
        }
        fd = -1
        guard rename(temporaryPath, path) == 0 else {
            let reason = "cannot rename \(temporaryPath) to it: \(String(cString: strerror(errno)))"
            abandon()
            throw WeightsWriteError(path: path, reason: reason)
        }
        finished = true
    }

    /// fsync of a file already written (`commit(sync: false)`), e.g. at the end of a training run.
    static func sync(_ path: String) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw WeightsWriteError(path: path, reason: "cannot open: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw WeightsWriteError(path: path, reason: "cannot sync: \(String(cString: strerror(errno)))") }
    }

    /// Closes and removes the temporary file.
    private func abandon() {
        if fd >= 0 { close(fd); fd = -1 }
        unlink(temporaryPath)
        finished = true
    }
}
