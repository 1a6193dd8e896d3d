/// Writes a PyTorch state-dict file (`torch.save(model.state_dict(), path)` format) that
/// `torch.load(path, weights_only=True)` accepts and gives back as an `OrderedDict` of tensors, in the
/// order given.
///
/// The zip (see `StoredZipWriter`; `<a>` is the archive name, by default the file name without extension,
/// as torch does):
///
///     <a>/data.pkl                pickle protocol 2 (below)
///     <a>/.format_version         "1"
///     <a>/.storage_alignment      "64"
///     <a>/byteorder               "little"
///     <a>/data/0, <a>/data/1, …   one storage per tensor: its raw little-endian bytes
///     <a>/version                 "3\n"
///
/// `data.pkl` is `collections.OrderedDict()` filled by SETITEMS (batches of 1000, as CPython batches) with
/// `name → torch._utils._rebuild_tensor_v2(storage, 0, size, stride, False, collections.OrderedDict())`,
/// each storage a persistent id `('storage', torch.FloatStorage|HalfStorage|…, key, 'cpu', numel)` and
/// strides row-major (torch's contiguous strides, with size-0 dimensions counted as 1). For the same tensors
/// the bytes equal torch's own (torch adds a random `.data/serialization_id`, left out here).
public enum StateDictWriter {
    /// Writes `tensors` to `path` atomically. Throws `WeightsWriteError` for an inconsistent tensor, a duplicate
    /// name, a dtype torch storages cannot hold (U16/U32/U64), or a file-system failure; `path` is then untouched.
    /// `archiveName` (the zip's top folder) defaults to the file name without its extension. `sync: false` skips the
    /// fsync (`AtomicOutputFile.commit`).
    public static func write(_ tensors: [WeightTensor], to path: String, archiveName: String? = nil, sync: Bool = true) throws {
        let pickle = try self.pickle(tensors, path: path)
        let archive = archiveName ?? defaultArchiveName(path)
        guard isSafeArchiveName(archive) else {
            throw WeightsWriteError(path: path, reason: "archive name \(SafetensorsJSON.quote(archive)) must be letters, digits, '_', '-' or '.', and not '.' or '..'")
        }
        let file = try AtomicOutputFile(path: path)
        var zip = StoredZipWriter(file: file)
        try zip.add(archive + "/data.pkl", pickle)
        try zip.add(archive + "/.format_version", Array("1".utf8))
        try zip.add(archive + "/.storage_alignment", Array("\(StoredZipWriter.alignment)".utf8))
        try zip.add(archive + "/byteorder", Array("little".utf8))
        for (i, t) in tensors.enumerated() { try zip.add(archive + "/data/\(i)", t.data) }
        try zip.add(archive + "/version", Array("3\n".utf8))
        try zip.finish()
        try file.commit(sync: sync)
    }

    /// torch names the archive after the file: `best.pt` → `best/…`. Names outside `[A-Za-z0-9_.-]` fall back
    /// to "archive".
    static func defaultArchiveName(_ path: String) -> String {
        let file = path.split(separator: "/").last.map(String.init) ?? ""
        let stem = file.lastIndex(of: ".").map { String(file[..<$0]) } ?? file
        return isSafeArchiveName(stem) ? stem : "archive"
    }

    static func isSafeArchiveName(_ name: String) -> Bool {
        !name.isEmpty && name != "." && name != ".." && name.utf8.count <= 200
            && name.unicodeScalars.allSatisfy { $0.isASCII && (CharacterSetASCII.isAlnum($0) || "_-.".unicodeScalars.contains($0)) }
    }

    private enum CharacterSetASCII {
        static func isAlnum(_ u: Unicode.Scalar) -> Bool {
            ("a"..."z").contains(u) || ("A"..."Z").contains(u) || ("0"..."9").contains(u)
        }
    }

    /// torch's legacy storage class for each dtype it can hold.
    static func storageClass(_ dtype: WeightDType) -> String? {
        switch dtype {
        case .float32: return "FloatStorage"
        case .float16: return "HalfStorage"
        case .bfloat16: return "BFloat16Storage"
        case .float64: return "DoubleStorage"
        case .int64: return "LongStorage"
        case .int32: return "IntStorage"
        case .int16: return "ShortStorage"
        case .int8: return "CharStorage"
        case .uint8: return "ByteStorage"
        case .bool: return "BoolStorage"
        case .uint16, .uint32, .uint64: return nil
        }
    }

    /// Row-major strides as torch computes them for a contiguous tensor (size-0 dimensions count as 1).
    static func contiguousStrides(_ shape: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        var step = 1
        for d in stride(from: shape.count - 1, through: 0, by: -1) {
            strides[d] = step
            step *= max(shape[d], 1)
        }
        return strides
    }

    /// The `data.pkl` bytes for `tensors` (storage keys "0", "1", … in order).
    static func pickle(_ tensors: [WeightTensor], path: String) throws -> [UInt8] {
        var names: Set<String> = []
        for t in tensors {
            if let reason = t.inconsistency() { throw WeightsWriteError(path: path, reason: reason) }
            guard storageClass(t.dtype) != nil else {
                throw WeightsWriteError(path: path, reason: "tensor \(SafetensorsJSON.quote(t.name)) is \(t.dtype.rawValue), which a PyTorch state dict cannot store")
            }
            guard names.insert(t.name).inserted else {
                throw WeightsWriteError(path: path, reason: "two tensors are named \(SafetensorsJSON.quote(t.name))")
            }
        }
        var w = PickleWriter()
        w.global("collections", "OrderedDict")
        w.tuple(0) { _ in }
        w.reduce()
        // CPython's batch_dict: batches of up to 1000 pairs; a batch of one is a plain SETITEM.
        var start = 0
        while start < tensors.count {
            let batch = tensors[start..<min(start + 1000, tensors.count)]
            if batch.count > 1 { w.mark() }
            for (i, t) in zip(batch.indices, batch) { item(&w, t, key: String(i)) }
            if batch.count > 1 { w.setItems() } else { w.setItem() }
            start += batch.count
        }
        w.stop()
        return w.bytes
    }

    private static func item(_ w: inout PickleWriter, _ t: WeightTensor, key: String) {
        w.string(t.name)
        w.global("torch._utils", "_rebuild_tensor_v2")
        w.tuple(6) { w in
            w.tuple(5) { w in
                w.string("storage", memoKey: true)
                w.global("torch", storageClass(t.dtype)!)
                w.string(key)
                w.string("cpu", memoKey: true)
                w.int(t.elementCount!)
            }
            w.persistentID()
            w.int(0)                                  // storage offset
            w.intTuple(t.shape)                       // size
            w.intTuple(contiguousStrides(t.shape))    // stride
            w.bool(false)                             // requires_grad
            w.global("collections", "OrderedDict")    // backward hooks: OrderedDict()
            w.tuple(0) { _ in }
            w.reduce()
        }
        w.reduce()
    }
}
