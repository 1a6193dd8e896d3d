import CImageCodecs
import CQuantKernels
import Foundation
import ZIPFoundation

/// A PyTorch `torch.save` checkpoint (the zip format of PyTorch ≥ 1.6) read without running any of its code.
///
/// Layout: a zip with one top folder `<prefix>/` (`archive/`, `best/`, …) holding `data.pkl` (the pickled object
/// tree, read by the restricted `Unpickler`), `data/<key>` (one raw little-endian storage per key), `byteorder`,
/// `version`, …. On `init` every entry path is checked (no absolute paths, no `..`), the pickle is read, and every
/// tensor it declares is checked against its storage entry: the entry must exist and hold exactly
/// `numel × dtype size` bytes. Element data is read lazily by `floats(_:)` / `int64s(_:)`.
public final class TorchCheckpoint {
    public let path: String
    /// The unpickled object (for Ultralytics: a dict with "model", "ema", "train_args", …).
    public let root: PickleValue
    /// Every tensor declared by the pickle, in creation order.
    public let tensors: [TorchTensor]
    /// The archive's top folder name (e.g. "best").
    public let archivePrefix: String

    /// Size limit for `data.pkl`.
    public static let maxPickleBytes: UInt64 = 256 << 20
    /// Size limit for one tensor storage (the largest in YOLOv8x is about 10 MB).
    public static let maxStorageBytes: UInt64 = 2 << 30

    private let archive: Archive
    private let entries: [String: Entry]
    private let fileSize: UInt64
    private let lock = NSLock()
    private var cachedKey: String?
    private var cachedBytes: [UInt8] = []

    public init(path: String) throws {
        self.path = path
        let url = URL(fileURLWithPath: path)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw ModelLoadError(path: path, reason: "checkpoint file not found")
        }
        guard !isDirectory.boolValue, let handle = FileHandle(forReadingAtPath: path) else {
            throw ModelLoadError(path: path, reason: "checkpoint could not be read (not a regular file)")
        }
        let head: [UInt8]
        let size: UInt64
        do {
            defer { try? handle.close() }
            head = [UInt8](try handle.read(upToCount: 8) ?? Data())
            size = try handle.seekToEnd()
        } catch {
            throw ModelLoadError(path: path, reason: "checkpoint could not be read: \(error.localizedDescription)")
        }
        fileSize = size

        let notZip = "not a PyTorch checkpoint (not a zip archive)"
        let isZip = head.count >= 4 && head[0] == 0x50 && head[1] == 0x4B && (head[2], head[3]) == (0x03, 0x04)
        guard isZip else {
            if head.isEmpty { throw ModelLoadError(path: path, reason: notZip + ": the file is empty") }
            if head.count >= 2 && head[0] == 0x80 && head[1] <= 5 {
                throw ModelLoadError(path: path, reason: notZip + ": it looks like the legacy (pre-1.6) torch.save format, which is not supported; re-save it with a current PyTorch")
            }
            throw ModelLoadError(path: path, reason: notZip)
        }
        let archive: Archive
        do {
            archive = try Archive(url: url, accessMode: .read)
        } catch {
            throw ModelLoadError(path: path, reason: notZip + ": \(error)")
        }
        self.archive = archive

        // Index the entries, rejecting unsafe paths and duplicates.
        var entries: [String: Entry] = [:]
        var pickleEntries: [(prefix: String, entry: Entry)] = []
        for entry in archive {
            let entryPath = entry.path
            guard TorchCheckpoint.isSafeEntryPath(entryPath) else {
                throw ModelLoadError(path: path, reason: "unsafe path in checkpoint archive: \"\(entryPath)\"")
            }
            guard entries[entryPath] == nil else {
                throw ModelLoadError(path: path, reason: "duplicate entry in checkpoint archive: \"\(entryPath)\"")
            }
            entries[entryPath] = entry
            let parts = entryPath.split(separator: "/", omittingEmptySubsequences: false)
            if parts.count == 2, parts[1] == "data.pkl", !parts[0].isEmpty {
                pickleEntries.append((String(parts[0]), entry))
            }
        }
        self.entries = entries
        guard pickleEntries.count == 1, let (prefix, pickleEntry) = pickleEntries.first else {
            throw ModelLoadError(path: path, reason: pickleEntries.isEmpty
                ? "not a PyTorch checkpoint (no <folder>/data.pkl in the zip archive)"
                : "not a PyTorch checkpoint (\(pickleEntries.count) data.pkl entries: \(pickleEntries.map { $0.prefix + "/data.pkl" }.joined(separator: ", ")))")
        }
        archivePrefix = prefix

        if let byteOrderEntry = entries[prefix + "/byteorder"] {
            let raw = try TorchCheckpoint.read(byteOrderEntry, from: archive, expectedSize: nil, limit: 64, fileSize: size, path: path, what: "byteorder")
            let order = String(decoding: raw, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            guard order == "little" else {
                throw ModelLoadError(path: path, reason: "unsupported checkpoint byte order \"\(order.prefix(20))\" (only little-endian)")
            }
        }

        guard pickleEntry.uncompressedSize <= TorchCheckpoint.maxPickleBytes else {
            throw ModelLoadError(path: path, reason: "\(prefix)/data.pkl is \(pickleEntry.uncompressedSize) bytes (limit \(TorchCheckpoint.maxPickleBytes))")
        }
        let pickle = try TorchCheckpoint.read(pickleEntry, from: archive, expectedSize: nil, limit: TorchCheckpoint.maxPickleBytes,
                                              fileSize: size, path: path, what: "\(prefix)/data.pkl")
        let result = try Unpickler.unpickle(pickle, path: path)
        root = result.root
        tensors = result.tensors

        // Every referenced storage must exist and hold exactly numel × dtype size bytes.
        var checked: Set<String> = []
        for tensor in tensors where !checked.contains(tensor.storageKey) {
            checked.insert(tensor.storageKey)
            _ = try storageEntry(for: tensor)
        }
    }

    /// Entry paths must be relative and free of `..` (either separator), NUL and drive letters.
    static func isSafeEntryPath(_ p: String) -> Bool {
        if p.isEmpty || p.hasPrefix("/") || p.hasPrefix("\\") || p.contains("\0") { return false }
        let scalars = Array(p.unicodeScalars.prefix(2))
        if scalars.count == 2 && scalars[1] == ":" { return false }  // C:…
        for component in p.split(whereSeparator: { $0 == "/" || $0 == "\\" }) where component == ".." { return false }
        return true
    }

    /// The zip entry of a tensor's storage, after checking its size against the pickle's declaration.
    private func storageEntry(for tensor: TorchTensor) throws -> (entry: Entry, byteCount: Int) {
        let entryPath = archivePrefix + "/data/" + tensor.storageKey
        guard let entry = entries[entryPath] else {
            throw ModelLoadError(path: path, reason: "storage '\(tensor.storageKey)' referenced by the pickle is missing from the archive (no \(entryPath))")
        }
        let (bytes, overflow) = tensor.storageCount.multipliedReportingOverflow(by: tensor.dtype.byteSize)
        guard !overflow, UInt64(entry.uncompressedSize) == UInt64(bytes) else {
            throw ModelLoadError(path: path, reason: "storage '\(tensor.storageKey)' holds \(entry.uncompressedSize) bytes but the pickle declares \(tensor.storageCount) \(tensor.dtype.rawValue) elements (\(overflow ? "overflow" : String(bytes)) bytes)")
        }
        guard UInt64(bytes) <= TorchCheckpoint.maxStorageBytes else {
            throw ModelLoadError(path: path, reason: "storage '\(tensor.storageKey)' is \(bytes) bytes (limit \(TorchCheckpoint.maxStorageBytes))")
        }
        try TorchCheckpoint.checkPlausible(entry, fileSize: fileSize, path: path, what: entryPath)
        return (entry, bytes)
    }

    /// Rejects entries whose declared sizes cannot be backed by the file (lying headers would otherwise make the
    /// reader loop or allocate without bound).
    private static func checkPlausible(_ entry: Entry, fileSize: UInt64, path: String, what: String) throws {
        guard entry.type == .file else { throw ModelLoadError(path: path, reason: "\(what) is not a regular file entry") }
        let compressed = entry.compressedSize
        let uncompressed = entry.uncompressedSize
        guard compressed <= fileSize else {
            throw ModelLoadError(path: path, reason: "\(what) declares \(compressed) bytes, more than the file's \(fileSize)")
        }
        if entry.isCompressed {
            guard uncompressed <= compressed &* 1100 &+ 1024 else {
                throw ModelLoadError(path: path, reason: "\(what) declares an impossible compression ratio (\(compressed) → \(uncompressed) bytes)")
            }
        } else {
            guard uncompressed == compressed else {
                throw ModelLoadError(path: path, reason: "\(what) declares \(uncompressed) bytes but stores \(compressed)")
            }
        }
    }

    private static func read(_ entry: Entry, from archive: Archive, expectedSize: Int?, limit: UInt64, fileSize: UInt64,
                             path: String, what: String) throws -> [UInt8] {
        try checkPlausible(entry, fileSize: fileSize, path: path, what: what)
        let declared = entry.uncompressedSize
        guard declared <= limit else { throw ModelLoadError(path: path, reason: "\(what) is \(declared) bytes (limit \(limit))") }
        var out = [UInt8]()
        out.reserveCapacity(Int(declared))
        do {
            // The CRC by zlib (`ic_crc32`), not ZIPFoundation's much slower loop.
            var crc: UInt32 = 0
            _ = try archive.extract(entry, bufferSize: 1 << 20, skipCRC32: true) { chunk in
                guard !chunk.isEmpty || UInt64(out.count) == declared else {
                    throw ModelLoadError(path: path, reason: "\(what) is truncated (\(out.count) of \(declared) bytes)")
                }
                guard UInt64(out.count + chunk.count) <= declared else {
                    throw ModelLoadError(path: path, reason: "\(what) holds more data than its header declares")
                }
                chunk.withUnsafeBytes { raw in
                    if let base = raw.baseAddress { crc = ic_crc32(crc, base.assumingMemoryBound(to: UInt8.self), raw.count) }
                }
                out.append(contentsOf: chunk)
            }
            guard crc == entry.checksum else {
                throw ModelLoadError(path: path, reason: "\(what) is corrupt (CRC-32 mismatch)")
            }
        } catch let e as ModelLoadError {
            throw e
        } catch {
            throw ModelLoadError(path: path, reason: "\(what) could not be read from the archive: \(error)")
        }
        guard UInt64(out.count) == declared, expectedSize == nil || out.count == expectedSize! else {
            throw ModelLoadError(path: path, reason: "\(what) is truncated (\(out.count) of \(declared) bytes)")
        }
        return out
    }

    /// The raw bytes of a tensor's storage (the last one read is cached).
    private func storageBytes(_ tensor: TorchTensor) throws -> [UInt8] {
        lock.lock()
        defer { lock.unlock() }
        if cachedKey == tensor.storageKey { return cachedBytes }
        let (entry, byteCount) = try storageEntry(for: tensor)
        let bytes = try TorchCheckpoint.read(entry, from: archive, expectedSize: byteCount, limit: UInt64(byteCount), fileSize: fileSize,
                                             path: path, what: archivePrefix + "/data/" + tensor.storageKey)
        cachedKey = tensor.storageKey
        cachedBytes = bytes
        return bytes
    }

    /// Checks a tensor (possibly from elsewhere) against this checkpoint's storage sizes.
    private func validate(_ tensor: TorchTensor) throws {
        let storage = Unpickler.StorageRef(key: tensor.storageKey, dtype: tensor.dtype, className: "", location: tensor.storageLocation,
                                           count: tensor.storageCount)
        _ = try Unpickler.validatedTensor(storage: storage, offset: tensor.storageOffset, shape: tensor.shape, strides: tensor.strides) {
            ModelLoadError(path: self.path, reason: $0)
        }
    }

    /// Storage element indices of the tensor's elements in row-major order.
    private static func forEachIndex(_ tensor: TorchTensor, _ body: (Int, Int) -> Void) {
        let count = tensor.count
        guard count > 0 else { return }
        if tensor.isContiguous {
            for i in 0..<count { body(i, tensor.storageOffset + i) }
            return
        }
        let rank = tensor.shape.count
        var index = [Int](repeating: 0, count: rank)
        var offset = tensor.storageOffset
        for i in 0..<count {
            body(i, offset)
            var d = rank - 1
            while d >= 0 {
                index[d] += 1
                offset += tensor.strides[d]
                if index[d] < tensor.shape[d] { break }
                offset -= tensor.strides[d] * tensor.shape[d]
                index[d] = 0
                d -= 1
            }
        }
    }

    /// The tensor's elements as Float, row-major (honours strides and the storage offset). Integer and bool
    /// tensors are converted too.
    public func floats(_ tensor: TorchTensor) throws -> [Float] {
        guard tensor.count > 0 else { try validate(tensor); return [] }
        return try [Float](unsafeUninitializedCapacity: tensor.count) { out, initialized in
            try floats(tensor, into: out.baseAddress!)
            initialized = tensor.count
        }
    }

    /// `floats(tensor)` written into `target` (tensor.count floats).
    public func floats(_ tensor: TorchTensor, into dst: UnsafeMutablePointer<Float>) throws {
        try validate(tensor)
        let bytes = try storageBytes(tensor)
        bytes.withUnsafeBytes { raw in
            switch tensor.dtype {
            case .float32:
                TorchCheckpoint.forEachIndex(tensor) { i, s in dst[i] = Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: s * 4, as: UInt32.self))) }
            case .float16 where tensor.isContiguous && Int(bitPattern: raw.baseAddress!) % 2 == 0:  // the usual case: 16 at a time
                halfToFloat(raw.baseAddress! + tensor.storageOffset * 2, into: dst, count: tensor.count)
            case .float16:
                TorchCheckpoint.forEachIndex(tensor) { i, s in dst[i] = halfToFloat(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: s * 2, as: UInt16.self))) }
            case .bfloat16:
                TorchCheckpoint.forEachIndex(tensor) { i, s in dst[i] = Float(bitPattern: UInt32(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: s * 2, as: UInt16.self))) << 16) }
            case .float64:
                TorchCheckpoint.forEachIndex(tensor) { i, s in dst[i] = Float(Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: s * 8, as: UInt64.self)))) }
            case .int64:
                TorchCheckpoint.forEachIndex(tensor) { i, s in dst[i] = Float(Int64(littleEndian: raw.loadUnaligned(fromByteOffset: s * 8, as: Int64.self))) }
            case .int32:
                TorchCheckpoint.forEachIndex(tensor) { i, s in dst[i] = Float(Int32(littleEndian: raw.loadUnaligned(fromByteOffset: s * 4, as: Int32.self))) }
            case .int16:
                TorchCheckpoint.forEachIndex(tensor) { i, s in dst[i] = Float(Int16(littleEndian: raw.loadUnaligned(fromByteOffset: s * 2, as: Int16.self))) }
            case .int8:
                TorchCheckpoint.forEachIndex(tensor) { i, s in dst[i] = Float(Int8(bitPattern: raw[s])) }
            case .uint8:
                TorchCheckpoint.forEachIndex(tensor) { i, s in dst[i] = Float(raw[s]) }
            case .bool:
                TorchCheckpoint.forEachIndex(tensor) { i, s in dst[i] = raw[s] != 0 ? 1 : 0 }
            }
        }
    }

    /// The elements of an integer or bool tensor as Int64, row-major. Floating-point tensors are an error.
    public func int64s(_ tensor: TorchTensor) throws -> [Int64] {
        try validate(tensor)
        switch tensor.dtype {
        case .float32, .float16, .bfloat16, .float64:
            throw ModelLoadError(path: path, reason: "tensor on storage '\(tensor.storageKey)' is \(tensor.dtype.rawValue), not an integer tensor")
        default: break
        }
        let bytes = try storageBytes(tensor)
        var out = [Int64](repeating: 0, count: tensor.count)
        bytes.withUnsafeBytes { raw in
            out.withUnsafeMutableBufferPointer { dst in
                switch tensor.dtype {
                case .int64: TorchCheckpoint.forEachIndex(tensor) { i, s in dst[i] = Int64(littleEndian: raw.loadUnaligned(fromByteOffset: s * 8, as: Int64.self)) }
                case .int32: TorchCheckpoint.forEachIndex(tensor) { i, s in dst[i] = Int64(Int32(littleEndian: raw.loadUnaligned(fromByteOffset: s * 4, as: Int32.self))) }
                case .int16: TorchCheckpoint.forEachIndex(tensor) { i, s in dst[i] = Int64(Int16(littleEndian: raw.loadUnaligned(fromByteOffset: s * 2, as: Int16.self))) }
                case .int8: TorchCheckpoint.forEachIndex(tensor) { i, s in dst[i] = Int64(Int8(bitPattern: raw[s])) }
                case .uint8: TorchCheckpoint.forEachIndex(tensor) { i, s in dst[i] = Int64(raw[s]) }
                case .bool: TorchCheckpoint.forEachIndex(tensor) { i, s in dst[i] = raw[s] != 0 ? 1 : 0 }
                default: break
                }
            }
        }
        return out
    }
}

/// IEEE 754 binary16 → binary32 (exact; handles subnormals, infinities and NaN). Portable: no `Float16` needed.
@inline(__always)
func halfToFloat(_ h: UInt16) -> Float {
    let sign = UInt32(h & 0x8000) << 16
    let exponent = UInt32(h >> 10) & 0x1F
    let mantissa = UInt32(h & 0x03FF)
    if exponent == 0x1F {
        return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13))
    }
    if exponent == 0 {
        // Zero or subnormal: mantissa × 2^-24.
        let magnitude = Float(mantissa) * Float(bitPattern: 0x3380_0000)  // 2^-24
        return sign != 0 ? -magnitude : magnitude
    }
    return Float(bitPattern: sign | ((exponent + 112) << 23) | (mantissa << 13))
}

/// `count` little-endian halves at `source` (2-byte aligned) as floats: `cqk_half_to_float`, the same bits as
/// `halfToFloat(_:)` one at a time.
func halfToFloat(_ source: UnsafeRawPointer, into target: UnsafeMutablePointer<Float>, count: Int) {
    #if _endian(little)
    cqk_half_to_float(source.assumingMemoryBound(to: UInt16.self), target, Int64(count))
    #else
    for i in 0..<count { target[i] = halfToFloat(UInt16(littleEndian: source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) }
    #endif
}
