import Foundation

/// Reader for a Darknet .weights file: a header (int32 major, minor, revision; then `seen` as int64 when
/// major·10 + minor ≥ 2, else int32), followed by float32 little-endian parameters in layer order.
/// Every read is bounds-checked; the loader checks the file holds exactly what the cfg needs.
public struct DarknetWeights {
    public let path: String
    public let major: Int32
    public let minor: Int32
    public let revision: Int32
    public let seen: UInt64
    public let headerSize: Int
    private let data: Data
    private var offset: Int

    public init(path: String) throws {
        guard FileManager.default.fileExists(atPath: path) else {
            throw ModelLoadError(path: path, reason: "weights file not found")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ModelLoadError(path: path, reason: "weights file could not be read")
        }
        try self.init(data: data, path: path)
    }

    public init(data: Data, path: String) throws {
        self.path = path
        self.data = data
        func int32(at o: Int) -> Int32 {
            data.withUnsafeBytes { Int32(littleEndian: $0.loadUnaligned(fromByteOffset: o, as: Int32.self)) }
        }
        guard data.count >= 16 else {
            throw ModelLoadError(path: path, reason: "weights file too short for its header (\(data.count) bytes)")
        }
        major = int32(at: 0)
        minor = int32(at: 4)
        revision = int32(at: 8)
        // Darknet's rule, in Int so that a garbage header cannot overflow the arithmetic.
        if Int(major) * 10 + Int(minor) >= 2 && major < 1000 && minor < 1000 {
            guard data.count >= 20 else {
                throw ModelLoadError(path: path, reason: "weights file too short for its header (\(data.count) bytes)")
            }
            seen = data.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: 12, as: UInt64.self)) }
            headerSize = 20
        } else {
            seen = UInt64(UInt32(bitPattern: int32(at: 12)))
            headerSize = 16
        }
        offset = headerSize
    }

    public var fileSize: Int { data.count }
    public var parameterCount: Int { (data.count - headerSize) / 4 }

    /// Checks that the file holds exactly `floats` parameters after the header.
    public func expect(floats: Int, for what: String) throws {
        let expected = headerSize + floats * 4
        if expected != data.count {
            let which = data.count < expected ? "too short" : "too long"
            throw ModelLoadError(path: path, reason: "weights file \(which) for \(what): expected \(expected) bytes (\(floats) parameters), file has \(data.count) bytes")
        }
    }

    /// Reads the next `count` float32 values.
    public mutating func read(_ count: Int) throws -> [Float] {
        guard count >= 0, offset + count * 4 <= data.count else {
            throw ModelLoadError(path: path, reason: "weights file ended early at byte \(data.count) (needed \(count) more parameters at byte \(offset))")
        }
        var out = [Float](repeating: 0, count: count)
        data.withUnsafeBytes { raw in
            out.withUnsafeMutableBytes { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[offset..<(offset + count * 4)])) }
        }
        offset += count * 4
        return out  // the project only targets little-endian machines (x86-64, arm64)
    }

    public var remainingBytes: Int { data.count - offset }
}
