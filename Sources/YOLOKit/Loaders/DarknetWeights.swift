import Foundation

/// Reader for a Darknet .weights file: a header (int32 major, minor, revision; then `seen` as int64 when
/// major·10 + minor ≥ 2, else int32), followed by float32 little-endian parameters in layer order.
/// Every read is bounds-checked; the loader checks the file holds exactly what the cfg needs.
/// A file is read layer by layer (`pread` into each layer's array), never held whole: the loader's peak memory is
/// the network, not the network plus the file (yolov3-tiny: 35 MB less).
public struct DarknetWeights {
    public let path: String
    public let major: Int32
    public let minor: Int32
    public let revision: Int32
    public let seen: UInt64
    public let headerSize: Int
    private let source: Source
    private var offset: Int

    /// Where the bytes come from: an open file, or bytes in memory (an export's stream, tests).
    private enum Source {
        case file(OpenFile)
        case data(Data)
    }

    /// A read-only file descriptor, closed with the last copy of the reader.
    private final class OpenFile {
        let descriptor: Int32
        let size: Int
        init(descriptor: Int32, size: Int) { self.descriptor = descriptor; self.size = size }
        deinit { close(descriptor) }

        /// Reads `count` bytes at `offset` into `buffer`; false on a read error or an early end of file. From 2 MB
        /// on, in two halves on two threads: most of a large read's time is the page faults of a fresh buffer
        /// (yolov3-tiny's 19 MB conv), and those run in parallel.
        func read(into buffer: UnsafeMutableRawPointer, count: Int, at offset: Int) -> Bool {
            guard count >= 1 << 21 else { return readSerially(into: buffer, count: count, at: offset) }
            let half = count / 2 & ~4095
            let succeeded = UnsafeMutablePointer<Bool>.allocate(capacity: 2)  // one flag per thread
            defer { succeeded.deallocate() }
            DispatchQueue.concurrentPerform(iterations: 2) { part in
                succeeded[part] = part == 0 ? readSerially(into: buffer, count: half, at: offset)
                                            : readSerially(into: buffer + half, count: count - half, at: offset + half)
            }
            return succeeded[0] && succeeded[1]
        }

        private func readSerially(into buffer: UnsafeMutableRawPointer, count: Int, at offset: Int) -> Bool {
            var done = 0
            while done < count {
                let n = pread(descriptor, buffer + done, count - done, off_t(offset + done))
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { return false }
                done += n
            }
            return true
        }
    }

    public init(path: String) throws {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            let reason = errno == ENOENT ? "weights file not found" : "weights file could not be read (\(String(cString: strerror(errno))))"
            throw ModelLoadError(path: path, reason: reason)
        }
        var status = stat()
        guard fstat(descriptor, &status) == 0, (status.st_mode & S_IFMT) == S_IFREG else {
            close(descriptor)
            throw ModelLoadError(path: path, reason: "weights file could not be read (not a regular file)")
        }
        let file = OpenFile(descriptor: descriptor, size: Int(status.st_size))
        let headerBytes = min(20, file.size)
        var header = [UInt8](repeating: 0, count: headerBytes)
        guard headerBytes == 0 || header.withUnsafeMutableBytes({ file.read(into: $0.baseAddress!, count: headerBytes, at: 0) }) else {
            throw ModelLoadError(path: path, reason: "weights file could not be read")
        }
        try self.init(source: .file(file), size: file.size, header: header, path: path)
    }

    public init(data: Data, path: String) throws {
        try self.init(source: .data(data), size: data.count, header: [UInt8](data.prefix(20)), path: path)
    }

    /// `header`: the file's first min(20, size) bytes.
    private init(source: Source, size: Int, header: [UInt8], path: String) throws {
        self.path = path
        self.source = source
        func int32(at o: Int) -> Int32 {
            header.withUnsafeBytes { Int32(littleEndian: $0.loadUnaligned(fromByteOffset: o, as: Int32.self)) }
        }
        guard size >= 16 else {
            throw ModelLoadError(path: path, reason: "weights file too short for its header (\(size) bytes)")
        }
        major = int32(at: 0)
        minor = int32(at: 4)
        revision = int32(at: 8)
        // Darknet's rule, in Int so that a garbage header cannot overflow the arithmetic.
        if Int(major) * 10 + Int(minor) >= 2 && major < 1000 && minor < 1000 {
            guard size >= 20 else {
                throw ModelLoadError(path: path, reason: "weights file too short for its header (\(size) bytes)")
            }
            seen = header.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: 12, as: UInt64.self)) }
            headerSize = 20
        } else {
            seen = UInt64(UInt32(bitPattern: int32(at: 12)))
            headerSize = 16
        }
        offset = headerSize
    }

    private var size: Int {
        switch source {
        case .file(let file): return file.size
        case .data(let data): return data.count
        }
    }

    public var fileSize: Int { size }
    public var parameterCount: Int { (size - headerSize) / 4 }

    /// Checks that the file holds exactly `floats` parameters after the header.
    public func expect(floats: Int, for what: String) throws {
        let expected = headerSize + floats * 4
        if expected != size {
            let which = size < expected ? "too short" : "too long"
            throw ModelLoadError(path: path, reason: "weights file \(which) for \(what): expected \(expected) bytes (\(floats) parameters), file has \(size) bytes")
        }
    }

    /// Reads the next `count` float32 values.
    public mutating func read(_ count: Int) throws -> [Float] {
        guard count >= 0 else { throw ModelLoadError(path: path, reason: "negative parameter count \(count)") }
        var out = [Float](repeating: 0, count: count)
        if count > 0 { try out.withUnsafeMutableBufferPointer { try read(count, into: $0.baseAddress!) } }
        return out
    }

    /// Reads the next `count` float32 values into `target` (room for `count`).
    public mutating func read(_ count: Int, into target: UnsafeMutablePointer<Float>) throws {
        guard count >= 0, offset + count * 4 <= size else {
            throw ModelLoadError(path: path, reason: "weights file ended early at byte \(size) (needed \(count) more parameters at byte \(offset))")
        }
        switch source {
        case .data(let data):
            let range = offset..<(offset + count * 4)
            if count > 0 { data.withUnsafeBytes { raw in UnsafeMutableRawPointer(target).copyMemory(from: raw.baseAddress! + range.lowerBound, byteCount: range.count) } }
        case .file(let file):
            guard count == 0 || file.read(into: target, count: count * 4, at: offset) else {
                throw ModelLoadError(path: path, reason: "weights file could not be read at byte \(offset) (changed or truncated while loading?)")
            }
        }
        offset += count * 4  // the project only targets little-endian machines (x86-64, arm64)
    }

    public var remainingBytes: Int { size - offset }
}
