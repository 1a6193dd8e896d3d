import Foundation
import CImageCodecs

/// A zip archive of stored (uncompressed) entries written straight into an `AtomicOutputFile`, laid out as
/// PyTorch's `PyTorchStreamWriter` does: each entry's data starts at a multiple of `alignment` (64) bytes
/// from the start of the file, so loaders can memory-map storages; the padding is an extra field with id
/// "FB" (0x4246) filled with 'Z' in the local header. Unlike torch (which streams with data descriptors)
/// sizes and CRC-32 go in the local header; both forms are standard zip. No zip64: every entry, and the whole
/// archive, must stay below 4 GiB (a YOLO checkpoint is under 300 MB). Timestamps are fixed (1980-01-01), so
/// the same entries give the same bytes.
struct StoredZipWriter {
    static let alignment = 64

    private let file: AtomicOutputFile
    private var central: [UInt8] = []
    private var count = 0

    init(file: AtomicOutputFile) { self.file = file }

    mutating func add(_ name: String, _ data: [UInt8]) throws {
        let nameBytes = Array(name.utf8)
        let offset = file.offset
        guard data.count < Int(UInt32.max), offset < Int(UInt32.max), nameBytes.count < 0xFFFF, count < 0xFFFF else {
            throw WeightsWriteError(path: file.path, reason: "\(name) does not fit a zip without zip64 (entries and the archive must stay below 4 GiB)")
        }
        // zlib's CRC-32 (`ic_crc32`): ZIPFoundation's byte loop took ~0.1 s per 44 MB checkpoint.
        let crc = data.withUnsafeBufferPointer { ic_crc32(0, $0.baseAddress, $0.count) }
        // Local header (30 bytes) + name + "FB" field (4 + padding) so that the data lands on the alignment.
        let unpadded = offset + 30 + nameBytes.count + 4
        let padding = (StoredZipWriter.alignment - unpadded % StoredZipWriter.alignment) % StoredZipWriter.alignment
        // version needed 2.0, flags: bit 11 (UTF-8 names), method 0 (stored), time 0, date 1980-01-01.
        let common = u16(20) + u16(0x0800) + u16(0) + u16(0) + u16(0x21) + u32(crc) + u32(UInt32(data.count))
            + u32(UInt32(data.count)) + u16(nameBytes.count)
        var local: [UInt8] = [0x50, 0x4B, 0x03, 0x04] + common + u16(4 + padding) + nameBytes
        local += u16(0x4246) + u16(padding) + [UInt8](repeating: UInt8(ascii: "Z"), count: padding)
        try file.write(local)
        try file.write(data)
        // Central directory record: made by 2.0, same fields, no extra, no comment, disk 0, attributes 0.
        central += [0x50, 0x4B, 0x01, 0x02] + u16(20) + common + u16(0) + u16(0) + u16(0) + u16(0) + u32(0)
            + u32(UInt32(offset)) + nameBytes
        count += 1
    }

    /// Writes the central directory and the end record.
    mutating func finish() throws {
        let start = file.offset
        guard start < Int(UInt32.max) - central.count else {
            throw WeightsWriteError(path: file.path, reason: "the archive does not fit a zip without zip64 (4 GiB)")
        }
        try file.write(central)
        try file.write([0x50, 0x4B, 0x05, 0x06] + u16(0) + u16(0) + u16(count) + u16(count) + u32(UInt32(central.count))
                       + u32(UInt32(start)) + u16(0))
    }

    private func u16(_ v: Int) -> [UInt8] { [UInt8(v & 0xFF), UInt8((v >> 8) & 0xFF)] }
    private func u32(_ v: UInt32) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }
}
