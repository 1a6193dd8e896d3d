// Target `torch`: an Ultralytics `.pt` checkpoint end to end (zip reader, restricted unpickler, tensor/storage
// validation, module tree, network builder, a forward pass when small).
//
// Two input forms, so that mutations reach every layer (a mutated zip almost always fails its CRC-32 check):
// * input starting with "PK\x03\x04": the checkpoint file itself;
// * anything else: a pickle (`data.pkl`). It is unpickled, and the harness writes a checkpoint around it:
//   `archive/data.pkl` = the pickle up to its STOP opcode, and one `archive/data/<key>` per storage the pickle
//   declares, of exactly the declared size. Storage bytes come from the input after STOP (storages in order
//   of first use), then an index pattern (element i = i), so seeds can carry real values (e.g. strides).
// Either way the file goes through `UltralyticsModel(path:)`, the code path of `yolo detect --model x.pt`.
import Foundation

let fuzzCheckpointPath: String = {
    let dir = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
    return (dir as NSString).appendingPathComponent("yolo-fuzz-\(getpid()).pt")
}()

func fuzzTorch(_ bytes: [UInt8]) {
    let path = fuzzCheckpointPath
    var file = bytes
    if !bytes.starts(with: [0x50, 0x4B, 0x03, 0x04]) {
        let result: Unpickler.Result
        do {
            result = try Unpickler.unpickle(bytes, path: path)
        } catch {
            expectClearError(error, path: path)
            return
        }
        guard let zip = fuzzCheckpointZip(pickle: bytes, result: result) else { return }
        file = zip
    }
    guard FileManager.default.createFile(atPath: path, contents: Data(file)) else { fuzzFail("cannot write \(path)") }
    defer { unlink(path) }
    do {
        // What `yolo detect --model x.pt --imgsz 64` loads (with the fuzzer's limits).
        let model = try UltralyticsDetectionModel(path: path, imageSize: 64, options: fuzzExecution)
        fuzzDetect(model, network: model.network(for: TensorShape(channels: 3, height: 64, width: 64)))
    } catch {
        expectClearError(error, path: path)
    }
}

/// The checkpoint zip for a pickle-form input, or nil when its storages would be too large to bother.
func fuzzCheckpointZip(pickle bytes: [UInt8], result: Unpickler.Result) -> [UInt8]? {
    var storages: [(key: String, dtype: TorchDType, count: Int)] = []
    var seen: Set<String> = []
    var total = 0
    for t in result.tensors where !seen.contains(t.storageKey) {
        seen.insert(t.storageKey)
        let (size, overflow) = t.storageCount.multipliedReportingOverflow(by: t.dtype.byteSize)
        guard !overflow, size <= 4 << 20 - total else { return nil }
        total += size
        storages.append((t.storageKey, t.dtype, t.storageCount))
    }
    var payload = bytes[min(result.end, bytes.count)...]
    var zip = FuzzZipWriter()
    zip.add("archive/data.pkl", Array(bytes[..<min(result.end, bytes.count)]))
    zip.add("archive/byteorder", Array("little".utf8))
    for s in storages {
        let size = s.count * s.dtype.byteSize
        var data = Array(payload.prefix(size))
        payload = payload.dropFirst(data.count)
        var i = data.count / s.dtype.byteSize
        while data.count < size {
            data.append(contentsOf: fuzzPatternElement(i, s.dtype))
            i += 1
        }
        zip.add("archive/data/" + s.key, Array(data.prefix(size)))
    }
    return zip.finish()
}

/// Element `i` of the pattern: the value i in the storage's dtype, little-endian.
func fuzzPatternElement(_ i: Int, _ dtype: TorchDType) -> [UInt8] {
    func le<T: FixedWidthInteger>(_ v: T) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }
    switch dtype {
    case .float32: return le(Float(i).bitPattern)
    case .float64: return le(Double(i).bitPattern)
    case .float16: return le(UInt16(truncatingIfNeeded: i == 0 ? 0 : 0x3C00 + min(i, 1000)))  // ~1 + i/1024
    case .bfloat16: return le(UInt16(truncatingIfNeeded: Float(i).bitPattern >> 16))
    case .int64: return le(Int64(i))
    case .int32: return le(Int32(truncatingIfNeeded: i))
    case .int16: return le(Int16(truncatingIfNeeded: i))
    case .int8, .uint8: return [UInt8(truncatingIfNeeded: i)]
    case .bool: return [UInt8(i & 1)]
    }
}

/// A minimal zip writer (stored entries, CRC-32) for the harness; the reader under test is ZIPFoundation.
struct FuzzZipWriter {
    private var out: [UInt8] = []
    private var central: [UInt8] = []
    private var count = 0

    static let crcTable: [UInt32] = (0..<256).map { n -> UInt32 in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes { c = crcTable[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        return c ^ 0xFFFF_FFFF
    }

    private static func u16(_ v: Int) -> [UInt8] { [UInt8(v & 0xFF), UInt8((v >> 8) & 0xFF)] }
    private static func u32(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8((v >> (8 * UInt32($0))) & 0xFF) } }

    mutating func add(_ name: String, _ data: [UInt8]) {
        let nameBytes = Array(name.utf8), crc = FuzzZipWriter.crc32(data), offset = UInt32(out.count)
        let common = FuzzZipWriter.u16(20) + FuzzZipWriter.u16(0) + FuzzZipWriter.u16(0) + FuzzZipWriter.u16(0)
            + FuzzZipWriter.u16(0x21) + FuzzZipWriter.u32(crc) + FuzzZipWriter.u32(UInt32(data.count))
            + FuzzZipWriter.u32(UInt32(data.count)) + FuzzZipWriter.u16(nameBytes.count) + FuzzZipWriter.u16(0)
        out += [0x50, 0x4B, 0x03, 0x04] + common + nameBytes + data
        central += [0x50, 0x4B, 0x01, 0x02] + FuzzZipWriter.u16(20) + common + FuzzZipWriter.u16(0) + FuzzZipWriter.u16(0)
            + FuzzZipWriter.u16(0) + FuzzZipWriter.u32(0) + FuzzZipWriter.u32(offset) + nameBytes
        count += 1
    }

    func finish() -> [UInt8] {
        out + central + [0x50, 0x4B, 0x05, 0x06] + FuzzZipWriter.u16(0) + FuzzZipWriter.u16(0) + FuzzZipWriter.u16(count)
            + FuzzZipWriter.u16(count) + FuzzZipWriter.u32(UInt32(central.count)) + FuzzZipWriter.u32(UInt32(out.count))
            + FuzzZipWriter.u16(0)
    }
}
