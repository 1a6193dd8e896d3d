/// Writes `.safetensors` files byte for byte as the reference implementation (Rust `safetensors`, behind
/// Python's `save_file`) lays them out:
///
///     u64 LE  N                       header length, a multiple of 8
///     N bytes header                  compact JSON, padded with spaces to the multiple of 8
///     data                            the tensors' bytes, contiguous, in header order
///
/// Header: `{"__metadata__":{…},"name":{"dtype":"F32","shape":[…],"data_offsets":[b,e]},…}`. Tensors are
/// ordered by dtype, widest alignment first (the reference's `Dtype` enum order, descending), then by name
/// (byte-wise), and appear in the header in that same order. `__metadata__` comes first and is left out when
/// empty; its keys are sorted (the reference emits a hash map in arbitrary order, so this is the one place our
/// bytes may differ from a Python-written file with several metadata keys, without changing its meaning).
public enum SafetensorsWriter {
    /// The reference's `Dtype` declaration order (increasing alignment), which sorts tensors in a file.
    static let dtypeOrder: [WeightDType] = [.bool, .uint8, .int8, .int16, .uint16, .float16, .bfloat16, .int32, .uint32,
                                            .float32, .float64, .int64, .uint64]

    /// Writes `tensors` and `metadata` to `path` atomically (a temporary file in the same folder, renamed
    /// over `path` when complete). Throws `WeightsWriteError` for an inconsistent tensor (data size ≠ shape ×
    /// dtype, negative dimension), a duplicate name, the reserved name `__metadata__`, or a file-system failure;
    /// `path` is then untouched. `sync: false` skips the fsync (`AtomicOutputFile.commit`).
    public static func write(_ tensors: [WeightTensor], metadata: [String: String] = [:], to path: String, sync: Bool = true) throws {
        let (header, ordered) = try prepare(tensors, metadata: metadata, path: path)
        let file = try AtomicOutputFile(path: path)
        try file.write(header)
        for t in ordered { try file.write(t.data) }
        try file.commit(sync: sync)
    }

    /// The whole file in memory (`path` is only used in errors).
    public static func serialize(_ tensors: [WeightTensor], metadata: [String: String] = [:], path: String = "<memory>") throws -> [UInt8] {
        let (header, ordered) = try prepare(tensors, metadata: metadata, path: path)
        var out = header
        out.reserveCapacity(header.count + ordered.reduce(0) { $0 + $1.data.count })
        for t in ordered { out += t.data }
        return out
    }

    /// The 8 length bytes + padded header, and the tensors in file order.
    static func prepare(_ tensors: [WeightTensor], metadata: [String: String], path: String) throws -> ([UInt8], [WeightTensor]) {
        var names: Set<String> = []
        for t in tensors {
            if let reason = t.inconsistency() { throw WeightsWriteError(path: path, reason: reason) }
            guard t.name != "__metadata__" else {
                throw WeightsWriteError(path: path, reason: "a tensor cannot be named __metadata__ (the header's metadata key)")
            }
            guard names.insert(t.name).inserted else {
                throw WeightsWriteError(path: path, reason: "two tensors are named \(SafetensorsJSON.quote(t.name))")
            }
        }
        let rank = Dictionary(uniqueKeysWithValues: dtypeOrder.enumerated().map { ($1, $0) })
        let ordered = tensors.sorted { a, b in
            let ra = rank[a.dtype]!, rb = rank[b.dtype]!
            if ra != rb { return ra > rb }
            return a.name.utf8.lexicographicallyPrecedes(b.name.utf8)
        }

        var json: [UInt8] = [UInt8(ascii: "{")]
        var first = true
        func separator() {
            if !first { json.append(UInt8(ascii: ",")) }
            first = false
        }
        if !metadata.isEmpty {
            separator()
            json += Array("\"__metadata__\":{".utf8)
            for (i, key) in metadata.keys.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }).enumerated() {
                if i > 0 { json.append(UInt8(ascii: ",")) }
                SafetensorsJSON.appendString(key, to: &json)
                json.append(UInt8(ascii: ":"))
                SafetensorsJSON.appendString(metadata[key]!, to: &json)
            }
            json.append(UInt8(ascii: "}"))
        }
        var offset = 0
        for t in ordered {
            separator()
            SafetensorsJSON.appendString(t.name, to: &json)
            json += Array(":{\"dtype\":\"\(t.dtype.rawValue)\",\"shape\":[".utf8)
            json += Array(t.shape.map(String.init).joined(separator: ",").utf8)
            json += Array("],\"data_offsets\":[\(offset),\(offset + t.data.count)]}".utf8)
            offset += t.data.count
        }
        json.append(UInt8(ascii: "}"))
        // Pad to a multiple of 8 so that the data section starts 8-byte aligned.
        json += [UInt8](repeating: UInt8(ascii: " "), count: (8 - json.count % 8) % 8)
        guard json.count <= SafetensorsFile.maxHeaderBytes else {
            throw WeightsWriteError(path: path, reason: "the header would be \(json.count) bytes, over the \(SafetensorsFile.maxHeaderBytes)-byte limit readers enforce")
        }
        var out = withUnsafeBytes(of: UInt64(json.count).littleEndian) { Array($0) }
        out += json
        return (out, ordered)
    }
}
