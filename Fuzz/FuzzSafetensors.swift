// Target `safetensors`: the safetensors reader (header length, UTF-8, strict JSON, entry and offset
// validation), then, for a file it accepts, every accessor and a write → read round trip.
//
// Two input forms, so that mutations of the JSON reach the validation behind the length check:
// * input starting with "{": the header text up to the first NUL byte, the data section after it; the
//   harness prepends the 8-byte header length;
// * anything else: the file itself.
// Each file is read twice, from memory and memory-mapped from /dev/shm; both must agree.
//
// Properties beyond "a value or a clear error": an accepted file's tensors tile its data section exactly,
// every accessor works, and SafetensorsWriter's serialization of what was read reads back equal.
import Foundation

let fuzzSafetensorsPath: String = {
    let dir = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
    return (dir as NSString).appendingPathComponent("yolo-fuzz-\(getpid()).safetensors")
}()

func fuzzSafetensors(_ bytes: [UInt8]) {
    let path = fuzzSafetensorsPath
    var file = bytes
    if bytes.first == UInt8(ascii: "{") {
        let split = bytes.firstIndex(of: 0) ?? bytes.count
        file = withUnsafeBytes(of: UInt64(split).littleEndian) { Array($0) } + bytes[..<split] + bytes[min(split + 1, bytes.count)...]
    }
    guard FileManager.default.createFile(atPath: path, contents: Data(file)) else { fuzzFail("cannot write \(path)") }
    defer { unlink(path) }

    let inMemory: Result<SafetensorsFile, Error> = Result { try SafetensorsFile(bytes: file, path: path) }
    let mapped: Result<SafetensorsFile, Error> = Result { try SafetensorsFile(path: path) }
    switch (inMemory, mapped) {
    case (.failure(let a), .failure(let b)):
        expectClearError(a, path: path)
        expectClearError(b, path: path)
        guard "\(a)" == "\(b)" else { fuzzFail("memory and mmap readers disagree: \(a) / \(b)") }
    case (.success(let a), .success(let b)):
        guard a.entries == b.entries, a.metadata == b.metadata else { fuzzFail("memory and mmap readers disagree on an accepted file") }
        fuzzCheckAccepted(b, fileBytes: file)
    default:
        fuzzFail("memory and mmap readers disagree: \(inMemory) / \(mapped)")
    }
}

func fuzzCheckAccepted(_ file: SafetensorsFile, fileBytes: [UInt8]) {
    let covered = file.entries.reduce(0) { $0 + $1.dataOffsets.count }
    var headerLength = 0
    for i in 0..<8 { headerLength |= Int(fileBytes[i]) << (8 * i) }
    guard covered == fileBytes.count - 8 - headerLength else {
        fuzzFail("accepted tensors cover \(covered) bytes of a \(fileBytes.count - 8 - headerLength)-byte data section")
    }
    var tensors: [WeightTensor] = []
    for e in file.entries {
        guard e.elementCount * e.dtype.byteSize == e.dataOffsets.count else { fuzzFail("tensor \(e.name): shape × dtype ≠ its bytes") }
        guard let t = try? file.tensor(named: e.name), t.data.count == e.dataOffsets.count else { fuzzFail("tensor(named:) failed for \(e.name)") }
        guard let floats = try? file.floats(named: e.name), floats.count == e.elementCount else { fuzzFail("floats(named:) failed for \(e.name)") }
        tensors.append(t)
    }
    // What was read writes back and reads back equal (the header may grow past the reader's cap only
    // with inputs far above the fuzzer's size limit).
    do {
        let again = try SafetensorsFile(bytes: try SafetensorsWriter.serialize(tensors, metadata: file.metadata), path: "roundtrip")
        guard again.metadata == file.metadata, Set(again.tensors().map { "\($0)" }) == Set(tensors.map { "\($0)" }) else {
            fuzzFail("write → read round trip changed the tensors or the metadata")
        }
    } catch {
        fuzzFail("an accepted file's tensors do not write and read back: \(error)")
    }
    fuzzLog("accepted: \(file.entries.count) tensors, \(file.metadata.count) metadata keys")
}
