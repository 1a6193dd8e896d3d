import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A `.safetensors` file, memory-mapped and validated as a hostile file before any tensor is handed out.
///
/// Layout: `u64` little-endian header length N, N bytes of UTF-8 JSON
/// `{"__metadata__": {str: str}, name: {"dtype": D, "shape": [d0, …], "data_offsets": [begin, end]}, …}`,
/// then the data section; offsets are relative to its start.
///
/// Checked on `init` (each failure is one `ModelLoadError` naming the file, and the tensor where there is one):
/// the file is at least 8 bytes; N is at most `maxHeaderBytes` (100 MB, the reference implementation's cap)
/// and inside the file; the header is valid UTF-8 and one JSON object with no duplicate keys; every entry has
/// a known dtype, a shape of non-negative integers, and two integer offsets with begin ≤ end inside the data
/// section; product(shape) × dtype size (overflow-checked) equals end − begin; the tensors, in offset order,
/// cover the data section exactly (no overlap, no gap, no trailing bytes), as the format's spec requires;
/// `__metadata__` (optional, may be null) maps strings to strings. Unknown keys inside a tensor entry are
/// ignored, as the reference reader does. Stricter than the reference (safetensors 0.8 keeps the last of two
/// entries with one name): a duplicate key anywhere in the header is an error.
///
/// The mapping is read-only and private; as with any mmap, another process truncating the file while it is
/// mapped would fault the reader (SIGBUS).
public final class SafetensorsFile: @unchecked Sendable {
    /// One tensor's header entry.
    public struct Entry: Equatable, Sendable {
        public let name: String
        public let dtype: WeightDType
        public let shape: [Int]
        /// Byte range inside the data section (`data_offsets`).
        public let dataOffsets: Range<Int>
        /// Product of `shape` (validated not to overflow).
        public var elementCount: Int { shape.reduce(1, *) }
    }

    /// The reference implementation's header size cap.
    public static let maxHeaderBytes = 100_000_000

    public let path: String
    /// `__metadata__` (empty when absent or null).
    public let metadata: [String: String]
    /// Every tensor, in data (offset) order.
    public let entries: [Entry]
    /// Size of the whole file.
    public let fileSize: Int

    private let storage: Storage
    private let dataStart: Int
    private let index: [String: Int]

    /// Maps and validates the file at `path`.
    public convenience init(path: String) throws {
        try self.init(storage: try Storage(mapping: path), path: path)
    }

    /// Validates an in-memory file (`path` is only used in errors).
    public convenience init(bytes: [UInt8], path: String) throws {
        try self.init(storage: Storage(copying: bytes), path: path)
    }

    private init(storage: Storage, path: String) throws {
        self.path = path
        self.storage = storage
        fileSize = storage.count
        let parsed = try SafetensorsFile.validate(storage.bytes, path: path)
        metadata = parsed.metadata
        entries = parsed.entries
        dataStart = parsed.dataStart
        var index: [String: Int] = [:]
        for (i, e) in parsed.entries.enumerated() { index[e.name] = i }
        self.index = index
    }

    /// The entry named `name`, or nil.
    public func entry(named name: String) -> Entry? {
        index[name].map { entries[$0] }
    }

    /// Calls `body` with the raw little-endian bytes of a tensor (valid only during the call).
    public func withBytes<R>(of entry: Entry, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        let raw = UnsafeRawBufferPointer(storage.bytes)
        return try body(UnsafeRawBufferPointer(rebasing: raw[(dataStart + entry.dataOffsets.lowerBound)..<(dataStart + entry.dataOffsets.upperBound)]))
    }

    /// The tensor named `name`, its bytes copied out of the file.
    public func tensor(named name: String) throws -> WeightTensor {
        let e = try requireEntry(name)
        return WeightTensor(name: e.name, dtype: e.dtype, shape: e.shape, data: withBytes(of: e) { Array($0) })
    }

    /// Every tensor, in data order, bytes copied.
    public func tensors() -> [WeightTensor] {
        entries.map { e in WeightTensor(name: e.name, dtype: e.dtype, shape: e.shape, data: withBytes(of: e) { Array($0) }) }
    }

    /// The tensor named `name` converted to Float (F16/BF16 upcast exactly), row-major.
    public func floats(named name: String) throws -> [Float] {
        let e = try requireEntry(name)
        return withBytes(of: e) { WeightTensor.floats(e.dtype, $0) }
    }

    private func requireEntry(_ name: String) throws -> Entry {
        guard let e = entry(named: name) else {
            throw ModelLoadError(path: path, reason: "no tensor named \(SafetensorsJSON.quote(name))")
        }
        return e
    }

    // MARK: - Validation

    private static func validate(_ file: UnsafeBufferPointer<UInt8>, path: String) throws
        -> (metadata: [String: String], entries: [Entry], dataStart: Int) {
        func fail(_ reason: String) -> ModelLoadError { ModelLoadError(path: path, reason: "not a valid safetensors file: " + reason) }

        guard file.count >= 8 else {
            throw fail("the file is \(file.count) bytes, shorter than the 8-byte header length")
        }
        var declared: UInt64 = 0
        for i in 0..<8 { declared |= UInt64(file[i]) << (8 * UInt64(i)) }
        guard declared <= UInt64(maxHeaderBytes) else {
            throw fail("header length \(declared) exceeds the limit of \(maxHeaderBytes) bytes")
        }
        let headerLength = Int(declared)
        guard headerLength <= file.count - 8 else {
            throw fail("header length \(headerLength) runs past the end of the file (\(file.count) bytes)")
        }
        let header = UnsafeBufferPointer(rebasing: file[8..<(8 + headerLength)])
        guard SafetensorsJSON.isValidUTF8(header) else { throw fail("the header is not valid UTF-8") }
        let json: SafetensorsJSON
        do {
            json = try SafetensorsJSON.parse(header)
        } catch let e as SafetensorsJSON.ParseError {
            throw fail("the header is not valid JSON: \(e.reason) at header byte \(e.offset)")
        }
        guard case .object(let members) = json else { throw fail("the header is \(json.kind), not a JSON object") }

        let dataStart = 8 + headerLength
        let dataSize = file.count - dataStart
        var metadata: [String: String] = [:]
        var entries: [Entry] = []
        entries.reserveCapacity(members.count)
        for (name, value) in members {
            if name == "__metadata__" {
                switch value {
                case .null: break
                case .object(let pairs):
                    for (key, v) in pairs {
                        guard case .string(let s) = v else {
                            throw fail("__metadata__ value of \(SafetensorsJSON.quote(key)) is \(v.kind), not a string")
                        }
                        metadata[key] = s
                    }
                default: throw fail("__metadata__ is \(value.kind), not an object of strings")
                }
                continue
            }
            entries.append(try entry(name, value, dataSize: dataSize, fail: { fail("tensor \(SafetensorsJSON.quote(name)): " + $0) }))
        }

        // In offset order the tensors must tile the data section exactly.
        entries.sort { ($0.dataOffsets.lowerBound, $0.dataOffsets.upperBound) < ($1.dataOffsets.lowerBound, $1.dataOffsets.upperBound) }
        var position = 0
        var previous: Entry?
        for e in entries {
            let r = e.dataOffsets
            if r.lowerBound < position, let p = previous {
                throw fail("tensor \(SafetensorsJSON.quote(e.name)) (data_offsets [\(r.lowerBound), \(r.upperBound)]) overlaps tensor \(SafetensorsJSON.quote(p.name)) ([\(p.dataOffsets.lowerBound), \(p.dataOffsets.upperBound)])")
            }
            if r.lowerBound > position {
                throw fail("data bytes \(position)..<\(r.lowerBound) belong to no tensor (a gap before \(SafetensorsJSON.quote(e.name)))")
            }
            position = r.upperBound
            previous = e
        }
        if position < dataSize {
            throw fail("the last \(dataSize - position) bytes of the data section belong to no tensor")
        }
        return (metadata, entries, dataStart)
    }

    private static func entry(_ name: String, _ value: SafetensorsJSON, dataSize: Int, fail: (String) -> ModelLoadError) throws -> Entry {
        guard case .object(let fields) = value else { throw fail("entry is \(value.kind), not an object") }
        func field(_ key: String) throws -> SafetensorsJSON {
            guard let v = fields.first(where: { $0.key == key })?.value else { throw fail("no \"\(key)\"") }
            return v
        }
        func integer(_ v: SafetensorsJSON, _ what: String) throws -> Int {
            guard case .number(let text) = v else { throw fail("\(what) is \(v.kind), not an integer") }
            if text.hasPrefix("-") { throw fail("\(what) \(text.prefix(40)) is negative") }
            guard text.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }) else {
                throw fail("\(what) \(text.prefix(40)) is not an integer")
            }
            guard let n = Int(text) else { throw fail("\(what) \(text.prefix(40)) is too large") }
            return n
        }

        let dtypeValue = try field("dtype")
        guard case .string(let dtypeName) = dtypeValue else { throw fail("dtype is \(dtypeValue.kind), not a string") }
        guard let dtype = WeightDType(rawValue: dtypeName) else {
            throw fail("unknown dtype \(SafetensorsJSON.quote(dtypeName)) (known: \(WeightDType.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        let shapeValue = try field("shape")
        guard case .array(let dims) = shapeValue else { throw fail("shape is \(shapeValue.kind), not an array") }
        var shape: [Int] = []
        shape.reserveCapacity(dims.count)
        for (i, d) in dims.enumerated() { shape.append(try integer(d, "dimension \(i) of the shape")) }
        let offsetsValue = try field("data_offsets")
        guard case .array(let offsets) = offsetsValue, offsets.count == 2 else {
            throw fail("data_offsets is \(offsetsValue.kind)\(offsetsValue.isArray ? " of the wrong length" : ""), not [begin, end]")
        }
        let begin = try integer(offsets[0], "data_offsets begin"), end = try integer(offsets[1], "data_offsets end")
        guard begin <= end else { throw fail("data_offsets [\(begin), \(end)] end before they begin") }
        guard end <= dataSize else {
            throw fail("data_offsets [\(begin), \(end)] lie beyond the end of the data section (\(dataSize) bytes)")
        }
        let shapeText = "[" + shape.map(String.init).joined(separator: ", ") + "]"
        guard let count = WeightTensor.elementCount(shape) else { throw fail("the element count of shape \(shapeText.prefix(200)) overflows") }
        let (bytes, overflow) = count.multipliedReportingOverflow(by: dtype.byteSize)
        guard !overflow else { throw fail("the byte size of shape \(shapeText.prefix(200)) of \(dtype.rawValue) overflows") }
        guard bytes == end - begin else {
            throw fail("shape \(shapeText.prefix(200)) of \(dtype.rawValue) needs \(bytes) bytes but data_offsets [\(begin), \(end)] hold \(end - begin)")
        }
        return Entry(name: name, dtype: dtype, shape: shape, dataOffsets: begin..<end)
    }

    // MARK: - Storage

    /// The file's bytes: a private read-only mapping, or an owned copy.
    private final class Storage {
        let bytes: UnsafeBufferPointer<UInt8>
        private let mapped: Bool

        var count: Int { bytes.count }

        init(mapping path: String) throws {
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else {
                throw ModelLoadError(path: path, reason: errno == ENOENT ? "file not found" : "cannot open: \(String(cString: strerror(errno)))")
            }
            defer { close(fd) }
            var info = stat()
            guard fstat(fd, &info) == 0 else { throw ModelLoadError(path: path, reason: "cannot stat: \(String(cString: strerror(errno)))") }
            guard (info.st_mode & S_IFMT) == S_IFREG else { throw ModelLoadError(path: path, reason: "not a regular file") }
            let size = Int(info.st_size)
            guard size > 0 else {
                // mmap refuses length 0; an empty file fails validation with its own message.
                bytes = UnsafeBufferPointer(start: nil, count: 0)
                mapped = false
                return
            }
            guard let base = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), base != MAP_FAILED else {
                throw ModelLoadError(path: path, reason: "cannot memory-map: \(String(cString: strerror(errno)))")
            }
            bytes = UnsafeBufferPointer(start: base.assumingMemoryBound(to: UInt8.self), count: size)
            mapped = true
        }

        init(copying source: [UInt8]) {
            let buffer = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: max(source.count, 1))
            _ = buffer.initialize(from: source)
            bytes = UnsafeBufferPointer(start: buffer.baseAddress, count: source.count)
            mapped = false
        }

        deinit {
            guard let base = bytes.baseAddress else { return }
            if mapped {
                munmap(UnsafeMutableRawPointer(mutating: base), bytes.count)
            } else {
                base.deallocate()
            }
        }
    }
}

private extension SafetensorsJSON {
    var isArray: Bool { if case .array = self { return true } else { return false } }
}
